#include "connectors/kafka/client.h"

#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"
#include "engine/log/log.h"

namespace loyalty {

absl::StatusOr<ClientProperties> SortClientProperties(const ClientProperties::Pairs& pairs) {
  // Set by the module for exactly-once (or, for bootstrap.servers, by
  // --brokers): an operator's value would silently break a promise.
  static constexpr absl::string_view kEngineOwned[] = {
      "bootstrap.servers",    "metadata.broker.list", "group.id",
      "group.instance.id",    "transactional.id",     "isolation.level",
      "enable.idempotence",   "enable.auto.commit",   "enable.auto.offset.store",
      "enable.partition.eof", "auto.offset.reset",    "partition.assignment.strategy"};
  ClientProperties out;
  for (const auto& [key, value] : pairs) {
    ClientProperties::Pairs* side = &out.all;
    absl::string_view name = key;
    if (absl::ConsumePrefix(&name, "consumer.")) {
      side = &out.consumer;
    } else if (absl::ConsumePrefix(&name, "producer.")) {
      side = &out.producer;
    }
    if (name.empty())
      return absl::InvalidArgumentError(absl::StrCat("kafka property \"", key, "\": no name"));
    for (absl::string_view owned : kEngineOwned) {
      if (name == owned) {
        return absl::InvalidArgumentError(
            absl::StrCat("kafka property ", key, ": set by the engine itself (",
                         name == "bootstrap.servers" || name == "metadata.broker.list"
                             ? "use --brokers"
                             : "exactly-once depends on it",
                         ")"));
      }
    }
    side->emplace_back(std::string(name), value);
  }
  return out;
}

namespace kafka_internal {

namespace {

// librdkafka's log lines (syslog levels 0-7) into the process's log, from
// librdkafka's own threads.
void OnKafkaLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  const log::Level ours = level <= 3   ? log::Level::kError
                          : level == 4 ? log::Level::kWarn
                          : level <= 6 ? log::Level::kInfo
                                       : log::Level::kDebug;
  if (!log::Enabled(ours)) return;
  log::Write(ours, message,
             {{"component", "librdkafka"},
              {"client", rk != nullptr ? rd_kafka_name(rk) : ""},
              {"facility", facility}});
}

absl::Status SetAll(rd_kafka_conf_t* conf, const Settings& settings, absl::string_view origin) {
  char err[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat(origin, "kafka setting ", name, ": ", err));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<rd_kafka_conf_t*> NewConf(rd_kafka_type_t type, const KafkaCluster& cluster,
                                         const Settings& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const ClientProperties& p = cluster.properties;
  absl::Status s = SetAll(conf, {{"bootstrap.servers", cluster.bootstrap_servers}}, "");
  if (s.ok()) s = SetAll(conf, settings, "");
  if (s.ok()) s = SetAll(conf, p.all, "operator's ");
  if (s.ok()) s = SetAll(conf, type == RD_KAFKA_CONSUMER ? p.consumer : p.producer, "operator's ");
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  ConfigureLogging(conf);
  return conf;
}

void ConfigureLogging(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, OnKafkaLog);
  // Lines come from librdkafka's threads through the callback, never
  // queued for a poll the client may not make.
  char err[128];
  rd_kafka_conf_set(conf, "log.queue", "false", err, sizeof(err));
}

absl::StatusOr<KafkaHandle> NewClient(rd_kafka_type_t type, const KafkaCluster& cluster,
                                      const Settings& settings,
                                      void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*,
                                                          void*)) {
  LOYALTY_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, NewConf(type, cluster, settings));
  char err[512];
  if (on_delivery != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka client: ", err));
  }
  return KafkaHandle(rk);
}

absl::Status FromKafka(rd_kafka_resp_err_t err, absl::string_view what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_err2str(err)));
}

absl::Status FromTxnError(rd_kafka_error_t* e, absl::string_view what) {
  const bool fatal = rd_kafka_error_is_fatal(e);
  absl::Status s = fatal
                       ? absl::FailedPreconditionError(
                             absl::StrCat(what, ": fenced or fatal: ", rd_kafka_error_string(e)))
                       : absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_error_string(e)));
  rd_kafka_error_destroy(e);
  return s;
}

}  // namespace kafka_internal

namespace {

using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;
using Clock = std::chrono::steady_clock;

// The partitions a ReadToEnd reads, and which of them are at their end.
// Partition p of topic t is slot first_[t] + p.
class EndSet {
 public:
  void AddTopic(int partitions) {
    first_.push_back(at_end_.size());
    at_end_.resize(at_end_.size() + static_cast<size_t>(partitions), false);
    partitions_.push_back(partitions);
  }
  bool all_at_end() const { return at_end_count_ == at_end_.size(); }

  // A record or an EOF of partition `p` of topic `t` (an index in the
  // options' topics); ignored for a partition that is not read.
  void Record(size_t t, int32_t p) { Set(t, p, false); }
  void Eof(size_t t, int32_t p) { Set(t, p, true); }

  // "N of M partitions not at their end: topic/p, ..." (the first eight).
  std::string DescribeNotAtEnd(const std::vector<std::string>& topics) const {
    constexpr size_t kNamedMax = 8;
    const size_t open = at_end_.size() - at_end_count_;
    std::vector<std::string> named;
    for (size_t t = 0; t < first_.size(); ++t) {
      for (int p = 0; p < partitions_[t] && named.size() < kNamedMax; ++p) {
        if (!at_end_[first_[t] + static_cast<size_t>(p)]) {
          named.push_back(absl::StrCat(topics[t], "/", p));
        }
      }
    }
    return absl::StrCat(open, " of ", at_end_.size(),
                        " partitions not at their end: ", absl::StrJoin(named, ", "),
                        open > named.size() ? ", ..." : "");
  }

 private:
  void Set(size_t t, int32_t p, bool at_end) {
    if (t >= first_.size() || p < 0 || p >= partitions_[t]) return;
    std::vector<bool>::reference slot = at_end_[first_[t] + static_cast<size_t>(p)];
    if (slot == at_end) return;
    slot = at_end;
    if (at_end) {
      ++at_end_count_;
    } else {
      --at_end_count_;
    }
  }

  std::vector<size_t> first_;
  std::vector<int> partitions_;
  std::vector<bool> at_end_;
  size_t at_end_count_ = 0;
};

// The index of `m`'s topic in `topics`; topics.size() if it is none of them.
size_t TopicIndex(const std::vector<std::string>& topics, const rd_kafka_message_t& m) {
  if (topics.size() == 1) return 0;  // the common case: no name to compare
  if (m.rkt == nullptr) return topics.size();
  const char* name = rd_kafka_topic_name(m.rkt);
  for (size_t t = 0; t < topics.size(); ++t) {
    if (std::strcmp(topics[t].c_str(), name) == 0) return t;
  }
  return topics.size();
}

// A consumer of `options` assigned partitions 0 .. partitions[t] - 1 of
// each options.topics[t], from their first offset.
absl::StatusOr<KafkaHandle> AssignedReader(const ReadToEndOptions& options,
                                           const std::vector<int>& partitions) {
  kafka_internal::Settings settings = {
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.partition.eof", "true"},
      {"isolation.level", options.read_committed ? "read_committed" : "read_uncommitted"}};
  settings.insert(settings.end(), options.settings.begin(), options.settings.end());
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_CONSUMER, options.brokers, settings));
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(0);
  for (size_t t = 0; t < options.topics.size(); ++t) {
    for (int p = 0; p < partitions[t]; ++p) {
      rd_kafka_topic_partition_list_add(list, options.topics[t].c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  LOYALTY_RETURN_IF_ERROR(FromKafka(err, "assigning the partitions"));
  return rk;
}

}  // namespace

absl::StatusOr<ReadToEndStats> ReadToEnd(const ReadToEndOptions& options,
                                         const std::function<void(const rd_kafka_message_t&)>& fn) {
  const std::string what = absl::StrCat("reading ", absl::StrJoin(options.topics, ", "), " from ",
                                        options.brokers.bootstrap_servers);
  if (options.brokers.bootstrap_servers.empty() || options.topics.empty() ||
      options.partitions < 0 || options.timeout_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": brokers and topics are required, partitions >= 0 and timeout_ms > 0"));
  }
  std::vector<int> partitions;
  EndSet ends;
  for (const std::string& topic : options.topics) {
    int n = options.partitions;
    if (n == 0) {
      LOYALTY_ASSIGN_OR_RETURN(n, PartitionCount(options.brokers, topic, options.timeout_ms));
    }
    partitions.push_back(n);
    ends.AddTopic(n);
  }
  absl::StatusOr<KafkaHandle> rk = AssignedReader(options, partitions);
  if (!rk.ok()) {
    return absl::Status(rk.status().code(), absl::StrCat(what, ": ", rk.status().message()));
  }

  ReadToEndStats stats;
  Clock::time_point first_record;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  absl::Status status;
  while (!ends.all_at_end()) {
    if (Clock::now() > deadline) {
      status = absl::DeadlineExceededError(absl::StrCat(
          what, ": after ", options.timeout_ms, " ms, ", ends.DescribeNotAtEnd(options.topics)));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk->get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ends.Record(TopicIndex(options.topics, *m), m->partition);
      if (stats.records++ == 0) first_record = Clock::now();
      fn(*m);
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ends.Eof(TopicIndex(options.topics, *m), m->partition);
    } else {
      status = absl::UnavailableError(
          absl::StrCat(what, ": ", m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "",
                       m->rkt != nullptr ? absl::StrCat("/", m->partition, ": ") : "",
                       rd_kafka_message_errstr(m)));
    }
    rd_kafka_message_destroy(m);
    if (!status.ok()) break;
  }
  if (status.ok() && stats.records > 0) {
    stats.seconds = std::chrono::duration<double>(Clock::now() - first_record).count();
  }
  rd_kafka_consumer_close(rk->get());
  LOYALTY_RETURN_IF_ERROR(status);
  return stats;
}

}  // namespace loyalty
