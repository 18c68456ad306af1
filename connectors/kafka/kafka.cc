#include "connectors/kafka/kafka.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "connectors/file/jsonl.h"
#include "connectors/kafka/client.h"
#include "engine/apply/validate.h"
#include "engine/base/status.h"
#include "loyalty/v1/events.pb.h"

namespace loyalty {

absl::StatusOr<OutputSet> OutputSet::Parse(absl::string_view list) {
  OutputSet set;
  set.outcomes = set.balances = set.dlq = set.ledger = false;
  for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    bool* flag = name == "outcomes"   ? &set.outcomes
                 : name == "balances" ? &set.balances
                 : name == "dlq"      ? &set.dlq
                 : name == "ledger"   ? &set.ledger
                                      : nullptr;
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--outputs: unknown output \"", name,
                                                     "\" (outcomes, balances, ledger, dlq)"));
    }
    *flag = true;
  }
  if (!set.outcomes && !set.balances && !set.dlq && !set.ledger) {
    return absl::InvalidArgumentError(
        "--outputs: name at least one of outcomes, balances, ledger, dlq");
  }
  return set;
}

std::string OutputSet::ToString() const {
  std::vector<absl::string_view> names;
  if (outcomes) names.push_back("outcomes");
  if (balances) names.push_back("balances");
  if (ledger) names.push_back("ledger");
  if (dlq) names.push_back("dlq");
  return absl::StrJoin(names, ",");
}

std::vector<std::string> Topics::published(const OutputSet& set) const {
  std::vector<std::string> out;
  if (set.balances) out.push_back(balances);
  if (set.ledger) out.push_back(ledger);
  if (set.outcomes) out.push_back(outcomes);
  if (set.dlq) out.push_back(dlq);
  return out;
}

using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;

absl::StatusOr<int> PartitionCount(const KafkaCluster& brokers, const std::string& topic,
                                   int timeout_ms) {
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_PRODUCER, brokers, {}));
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, t, &md, timeout_ms);
  rd_kafka_topic_destroy(t);
  LOYALTY_RETURN_IF_ERROR(
      FromKafka(err, absl::StrCat("metadata of ", topic, " from ", brokers.bootstrap_servers)));
  int count = -1;
  rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (md->topic_cnt == 1) {
    count = md->topics[0].partition_cnt;
    topic_err = md->topics[0].err;
  }
  rd_kafka_metadata_destroy(md);
  // The broker answers a topic the principal may not Describe with no
  // partitions: that is no proof it does not exist.
  if (topic_err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
    return absl::PermissionDeniedError(absl::StrCat(
        "topic ", topic, " on ", brokers.bootstrap_servers, ": ", rd_kafka_err2str(topic_err),
        " (the principal needs Describe on it, which Read and Write imply; docs/security.md)"));
  }
  if (topic_err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || count <= 0) {
    return absl::NotFoundError(
        absl::StrCat("topic ", topic, " does not exist on ", brokers.bootstrap_servers));
  }
  LOYALTY_RETURN_IF_ERROR(FromKafka(topic_err, absl::StrCat("topic ", topic)));
  return count;
}

absl::StatusOr<std::vector<int64_t>> EndOffsets(const KafkaCluster& brokers,
                                                const std::string& topic, int timeout_ms) {
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, timeout_ms));
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_CONSUMER, brokers, {}));
  std::vector<int64_t> out;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    LOYALTY_RETURN_IF_ERROR(FromKafka(
        rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, timeout_ms),
        absl::StrCat("watermarks of ", topic, "/", p)));
    out.push_back(high);
  }
  return out;
}

absl::Status TopicOptions::Check() const {
  if (replication_factor < 1 || replication_factor > 32767) {
    return absl::InvalidArgumentError(absl::StrCat("--replication-factor must be in [1, 32767], not ",
                                                   replication_factor));
  }
  if (min_insync_replicas < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min-insync-replicas must be at least 1, not ", min_insync_replicas));
  }
  if (min_insync_replicas > replication_factor) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--min-insync-replicas=", min_insync_replicas, " is more than the ", replication_factor,
        " replica", replication_factor == 1 ? "" : "s",
        " of --replication-factor: no write with acks=all could ever succeed"));
  }
  return absl::OkStatus();
}

absl::Status EnsureTopics(const KafkaCluster& brokers, const std::vector<TopicSpec>& topics,
                          int partitions, int timeout_ms, const TopicOptions& topic_options) {
  LOYALTY_RETURN_IF_ERROR(topic_options.Check());
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_PRODUCER, brokers, {}));
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  char err[512];
  const std::string min_isr = absl::StrCat(topic_options.min_insync_replicas);
  for (const TopicSpec& topic : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(
        topic.name.c_str(), partitions, topic_options.replication_factor, err, sizeof(err));
    if (nt == nullptr) {
      rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
      return absl::InvalidArgumentError(absl::StrCat("topic ", topic.name, ": ", err));
    }
    if (topic_options.min_insync_replicas > 0) {
      LOYALTY_CHECK(rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", min_isr.c_str()) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    for (const auto& [name, value] : topic.configs) {
      LOYALTY_CHECK(rd_kafka_NewTopic_set_config(nt, name.c_str(), value.c_str()) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR)
          << topic.name << ": " << name << "=" << value;
    }
    new_topics.push_back(nt);
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_CreateTopics(rk.get(), new_topics.data(), new_topics.size(), options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 5000);
  absl::Status status;
  if (event == nullptr) {
    status =
        absl::DeadlineExceededError(absl::StrCat("creating topics on ", brokers.bootstrap_servers));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(absl::StrCat("creating topics on ", brokers.bootstrap_servers,
                                                 ": ", rd_kafka_event_error_string(event)));
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &n);
    for (size_t i = 0; i < n && status.ok(); ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS || e == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      status = absl::UnavailableError(absl::StrCat("creating topic ",
                                                   rd_kafka_topic_result_name(results[i]), ": ",
                                                   rd_kafka_topic_result_error_string(results[i])));
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  LOYALTY_RETURN_IF_ERROR(status);
  // Existing topics must have the same partition count (output p <- input
  // p). A topic just created reaches the broker's metadata a moment later:
  // NotFound is waited out until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (const TopicSpec& topic : topics) {
    absl::StatusOr<int> count = PartitionCount(brokers, topic.name, timeout_ms);
    while (!count.ok() && absl::IsNotFound(count.status()) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      count = PartitionCount(brokers, topic.name, timeout_ms);
    }
    LOYALTY_RETURN_IF_ERROR(count.status());
    if (*count != partitions) {
      return absl::FailedPreconditionError(absl::StrCat("topic ", topic.name, " has ", *count,
                                                        " partitions, expected ", partitions));
    }
  }
  return absl::OkStatus();
}

absl::Status EnsureTopics(const KafkaCluster& brokers, const Topics& topics, int partitions,
                          int timeout_ms, const TopicOptions& options) {
  std::vector<TopicSpec> specs = {{topics.events, {}}};
  for (const std::string& name : topics.outputs()) {
    TopicSpec& spec = specs.emplace_back(TopicSpec{name, {}});
    if (name == topics.balances) spec.configs.emplace_back("cleanup.policy", "compact");
    // A DLQ record is a rejected input record, whatever its size, plus
    // headers (docs/kafka.md).
    if (name == topics.dlq) spec.configs.emplace_back("max.message.bytes", "16777216");
  }
  return EnsureTopics(brokers, specs, partitions, timeout_ms, options);
}

namespace {

struct Delivery {
  int64_t delivered = 0;
  int64_t failed = 0;
  std::string first_error;
};

// Each record carries its Delivery as the per-message opaque. Called from
// rd_kafka_poll/flush on the producing thread.
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    d->delivered++;
  } else if (d->failed++ == 0) {
    d->first_error = rd_kafka_err2str(m->err);
  }
}

}  // namespace

struct RecordProducer::Impl {
  std::string topic;
  KafkaHandle rk;
  Delivery delivery;
};

RecordProducer::RecordProducer() : impl_(std::make_unique<Impl>()) {}
RecordProducer::~RecordProducer() = default;

absl::StatusOr<std::unique_ptr<RecordProducer>> RecordProducer::Open(
    const KafkaCluster& brokers, const std::string& topic,
    const std::vector<std::pair<std::string, std::string>>& settings) {
  std::unique_ptr<RecordProducer> p(new RecordProducer());
  p->impl_->topic = topic;
  kafka_internal::Settings all = {{"enable.idempotence", "true"},
                                  {"partitioner", "murmur2_random"}};
  all.insert(all.end(), settings.begin(), settings.end());  // later settings win
  LOYALTY_ASSIGN_OR_RETURN(p->impl_->rk, NewClient(RD_KAFKA_PRODUCER, brokers, all, OnDelivery));
  return p;
}

absl::Status RecordProducer::Produce(absl::string_view value, absl::string_view key,
                                     int32_t partition) {
  rd_kafka_t* rk = impl_->rk.get();
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(impl_->topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&impl_->delivery),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return FromKafka(err, absl::StrCat("produce to ", impl_->topic));
    }
    rd_kafka_poll(rk, 10);  // the queue is bounded: wait for deliveries
  }
  ++produced_;
  if ((produced_ & 1023) == 0) rd_kafka_poll(rk, 0);  // serve delivery reports
  return absl::OkStatus();
}

absl::Status RecordProducer::Flush(int timeout_ms) {
  LOYALTY_RETURN_IF_ERROR(FromKafka(rd_kafka_flush(impl_->rk.get(), timeout_ms), "flush"));
  const Delivery& d = impl_->delivery;
  if (d.failed > 0 || d.delivered != produced_) {
    return absl::UnavailableError(absl::StrCat(produced_ - d.delivered, " of ", produced_,
                                               " records not delivered to ", impl_->topic, ": ",
                                               d.failed > 0 ? d.first_error : "flush ended"));
  }
  return absl::OkStatus();
}

int64_t RecordProducer::delivered() const { return impl_->delivery.delivered; }

namespace {

// Produces input lines as ProduceFile describes.
class LineProducer {
 public:
  static absl::StatusOr<std::unique_ptr<LineProducer>> Open(const ProduceOptions& o) {
    auto p = std::unique_ptr<LineProducer>(new LineProducer(o));
    LOYALTY_ASSIGN_OR_RETURN(p->partitions_, PartitionCount(o.brokers, o.topic, o.timeout_ms));
    LOYALTY_ASSIGN_OR_RETURN(
        p->producer_, RecordProducer::Open(o.brokers, o.topic,
                                           {{"linger.ms", "20"}, {"compression.type", "lz4"}}));
    return p;
  }

  absl::Status Add(absl::string_view text, int64_t line_number) {
    stats_.lines++;
    Rejection r = DecodeEvent(text, InputFormat::kJson, &event_);
    // An Event with too many line items parsed: it goes binary like any
    // other, so that the engine names the same reason as a file replay.
    const bool parsed =
        r.ok() || (r.reason == loyalty::v1::OVERSIZED && text.size() <= kRecordBytesMax);
    const auto by_line = static_cast<int32_t>(line_number % partitions_);
    if (!parsed) {
      stats_.unkeyed++;
      return producer_->Produce(text, {}, by_line);
    }
    event_.SerializeToString(&value_);
    if (!event_.has_tick() && event_.member_id().empty()) {
      // No key to place it by (the engine will reject it): spread by line.
      stats_.unkeyed++;
      return producer_->Produce(value_, {}, by_line);
    }
    if (event_.has_tick()) {
      stats_.ticks++;
      for (int32_t p = 0; p < partitions_; ++p) {
        LOYALTY_RETURN_IF_ERROR(producer_->Produce(value_, {}, p));
      }
      return absl::OkStatus();
    }
    stats_.events++;
    return producer_->Produce(value_, event_.member_id());
  }

  // Waits for every delivery.
  absl::StatusOr<ProduceStats> Finish() {
    const absl::Status s = producer_->Flush(o_.timeout_ms);
    stats_.records = producer_->delivered();
    LOYALTY_RETURN_IF_ERROR(s);
    return stats_;
  }

  const ProduceStats& stats() const { return stats_; }
  int64_t delivered() const { return producer_->delivered(); }

 private:
  explicit LineProducer(const ProduceOptions& o) : o_(o) {}

  ProduceOptions o_;
  int partitions_ = 0;
  std::unique_ptr<RecordProducer> producer_;
  ProduceStats stats_;
  loyalty::v1::Event event_;
  std::string value_;
};

}  // namespace

absl::StatusOr<ProduceStats> ProduceFile(const ProduceOptions& o) {
  LOYALTY_ASSIGN_OR_RETURN(auto reader, JsonlReader::Open(o.path));
  LOYALTY_ASSIGN_OR_RETURN(auto producer, LineProducer::Open(o));
  auto last_progress = std::chrono::steady_clock::now();
  JsonlReader::Line line;
  while (reader->Next(&line)) {
    LOYALTY_RETURN_IF_ERROR(producer->Add(line.text, line.number));
    if (o.progress &&
        std::chrono::steady_clock::now() - last_progress > std::chrono::milliseconds(500)) {
      last_progress = std::chrono::steady_clock::now();
      std::fprintf(stderr, "\rproduce: %lld lines, %lld delivered   ",
                   static_cast<long long>(producer->stats().lines),
                   static_cast<long long>(producer->delivered()));
    }
  }
  LOYALTY_RETURN_IF_ERROR(reader->status());
  if (o.progress) std::fprintf(stderr, "\n");
  return producer->Finish();
}

absl::StatusOr<ProduceStats> ProduceLines(const ProduceOptions& o,
                                          const std::vector<std::string>& lines) {
  LOYALTY_ASSIGN_OR_RETURN(auto producer, LineProducer::Open(o));
  for (size_t i = 0; i < lines.size(); ++i) {
    LOYALTY_RETURN_IF_ERROR(producer->Add(lines[i], static_cast<int64_t>(i) + 1));
  }
  return producer->Finish();
}

}  // namespace loyalty
