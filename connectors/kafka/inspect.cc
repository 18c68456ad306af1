#include "connectors/kafka/inspect.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"

namespace loyalty {
namespace {

using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;
using Clock = std::chrono::steady_clock;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// A read_committed consumer that never joins its group nor commits.
absl::StatusOr<KafkaHandle> Reader(const KafkaCluster& brokers, const std::string& group_id) {
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk,
                           NewClient(RD_KAFKA_CONSUMER, brokers,
                                     {{"group.id", group_id},
                                      {"enable.auto.commit", "false"},
                                      {"enable.partition.eof", "true"},
                                      {"isolation.level", "read_committed"}}));
  rd_kafka_poll_set_consumer(rk.get());
  return rk;
}

// Which of the partitions read are at their end (their last EOF came after
// their last record).
class AtEnd {
 public:
  explicit AtEnd(int partitions) : at_end_(static_cast<size_t>(partitions), true) {}
  void Read(int32_t p) { Set(p, false); }
  void Eof(int32_t p) { Set(p, true); }
  bool all() const { return open_ == 0; }

 private:
  void Set(int32_t p, bool at_end) {
    if (p < 0 || static_cast<size_t>(p) >= at_end_.size() || at_end_[p] == at_end) return;
    at_end_[p] = at_end;
    open_ += at_end ? -1 : 1;
  }
  std::vector<bool> at_end_;
  int open_ = 0;
};

}  // namespace

absl::StatusOr<int64_t> Tail(const TailOptions& o,
                             const std::function<void(const rd_kafka_message_t&)>& fn) {
  if (o.topic.empty() || o.timeout_ms <= 0 || o.records_max < 0) {
    return absl::InvalidArgumentError("tail: a topic, timeout_ms > 0 and records_max >= 0");
  }
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(o.brokers, o.topic, o.timeout_ms));
  if (o.partition >= partitions) {
    return absl::NotFoundError(absl::StrCat("topic ", o.topic, " has ", partitions,
                                            " partitions: there is no partition ", o.partition));
  }
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, Reader(o.brokers, "loyaltyctl-tail"));
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  AtEnd ends(partitions);
  for (int p = 0; p < partitions; ++p) {
    if (o.partition >= 0 && p != o.partition) continue;
    rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), p)->offset =
        o.from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    ends.Read(p);  // not at its end until its EOF says so
  }
  LOYALTY_RETURN_IF_ERROR(FromKafka(rd_kafka_assign(rk.get(), list.get()), "assign"));
  int64_t records = 0;
  absl::Status status;
  // Without follow: DeadlineExceeded after timeout_ms without progress.
  Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
  while (status.ok()) {
    if (o.stop && o.stop()) break;
    if (o.records_max > 0 && records >= o.records_max) break;
    if (!o.follow && ends.all()) break;
    if (!o.follow && Clock::now() > deadline) {
      status = absl::DeadlineExceededError(absl::StrCat(
          "reading ", o.topic, ": no record and no end of a partition for ", o.timeout_ms, " ms"));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ends.Read(m->partition);
      ++records;
      fn(*m);
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ends.Eof(m->partition);
    } else {
      status = absl::UnavailableError(absl::StrCat("reading ", o.topic, "/", m->partition, ": ",
                                                   rd_kafka_message_errstr(m)));
    }
    rd_kafka_message_destroy(m);
    deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
  }
  rd_kafka_consumer_close(rk.get());
  LOYALTY_RETURN_IF_ERROR(status);
  return records;
}

absl::StatusOr<std::vector<std::optional<LastRecord>>> LastRecords(const KafkaCluster& brokers,
                                                                   const std::string& topic,
                                                                   int timeout_ms,
                                                                   int64_t window) {
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, timeout_ms));
  std::vector<std::optional<LastRecord>> out(static_cast<size_t>(partitions));
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, Reader(brokers, "loyaltyctl-status"));
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  AtEnd ends(partitions);
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    LOYALTY_RETURN_IF_ERROR(FromKafka(
        rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, timeout_ms),
        absl::StrCat("watermarks of ", topic, "/", p)));
    if (high <= low) continue;  // empty: nothing to read
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        std::max(low, high - window);
    ends.Read(p);
  }
  if (list->cnt == 0) return out;
  LOYALTY_RETURN_IF_ERROR(FromKafka(rd_kafka_assign(rk.get(), list.get()), "assign"));
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  absl::Status status;
  while (status.ok() && !ends.all()) {
    if (Clock::now() > deadline) {
      status = absl::DeadlineExceededError(
          absl::StrCat("reading the last records of ", topic, ": not done after ", timeout_ms,
                       " ms"));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ends.Read(m->partition);
      if (m->partition >= 0 && m->partition < partitions) {
        out[m->partition] = LastRecord{m->offset, rd_kafka_message_timestamp(m, nullptr)};
      }
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ends.Eof(m->partition);
    } else {
      status = absl::UnavailableError(absl::StrCat("reading ", topic, "/", m->partition, ": ",
                                                   rd_kafka_message_errstr(m)));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  LOYALTY_RETURN_IF_ERROR(status);
  return out;
}

absl::StatusOr<std::vector<int64_t>> CommittedOffsets(const KafkaCluster& brokers,
                                                      const std::string& group,
                                                      const std::string& topic, int partitions,
                                                      int timeout_ms) {
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_CONSUMER, brokers,
                                                     {{"group.id", group},
                                                      {"enable.auto.commit", "false"}}));
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  }
  LOYALTY_RETURN_IF_ERROR(
      FromKafka(rd_kafka_committed(rk.get(), list.get(), timeout_ms),
                absl::StrCat("the offsets of group ", group, " on ", topic)));
  std::vector<int64_t> out(static_cast<size_t>(partitions), -1);
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return FromKafka(tp.err, absl::StrCat("the offset of group ", group, " on ", topic, "/",
                                            tp.partition));
    }
    if (tp.partition >= 0 && tp.partition < partitions && tp.offset >= 0) {
      out[tp.partition] = tp.offset;
    }
  }
  return out;
}

namespace {

// The owners of `topic`'s partitions in one group's description.
absl::Status ReadGroup(const rd_kafka_ConsumerGroupDescription_t* g, const std::string& topic,
                       GroupDescription* out) {
  if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(g); e != nullptr) {
    return absl::UnavailableError(absl::StrCat("describing group ",
                                               rd_kafka_ConsumerGroupDescription_group_id(g), ": ",
                                               rd_kafka_error_string(e)));
  }
  out->state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(g));
  const size_t members = rd_kafka_ConsumerGroupDescription_member_count(g);
  for (size_t i = 0; i < members; ++i) {
    const rd_kafka_MemberDescription_t* m = rd_kafka_ConsumerGroupDescription_member(g, i);
    GroupMember member;
    auto str = [](const char* s) { return std::string(s != nullptr ? s : ""); };
    member.member_id = str(rd_kafka_MemberDescription_consumer_id(m));
    member.instance_id = str(rd_kafka_MemberDescription_group_instance_id(m));
    member.client_id = str(rd_kafka_MemberDescription_client_id(m));
    member.host = str(rd_kafka_MemberDescription_host(m));
    out->members.push_back(member);
    const rd_kafka_MemberAssignment_t* a = rd_kafka_MemberDescription_assignment(m);
    const rd_kafka_topic_partition_list_t* parts =
        a != nullptr ? rd_kafka_MemberAssignment_partitions(a) : nullptr;
    for (int k = 0; parts != nullptr && k < parts->cnt; ++k) {
      const rd_kafka_topic_partition_t& tp = parts->elems[k];
      if (topic == tp.topic && tp.partition >= 0 &&
          static_cast<size_t>(tp.partition) < out->owners.size()) {
        out->owners[tp.partition] = member;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GroupDescription> DescribeGroup(const KafkaCluster& brokers,
                                               const std::string& group, const std::string& topic,
                                               int partitions, int timeout_ms) {
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_PRODUCER, brokers, {}));
  auto out = DescribeGroup(rk.get(), group, topic, partitions, timeout_ms);
  if (!out.ok()) {
    return absl::Status(out.status().code(), absl::StrCat(out.status().message(), " on ",
                                                          brokers.bootstrap_servers));
  }
  return out;
}

absl::StatusOr<GroupDescription> DescribeGroup(rd_kafka_t* rk, const std::string& group,
                                               const std::string& topic, int partitions,
                                               int timeout_ms) {
  GroupDescription out;
  out.owners.resize(static_cast<size_t>(partitions));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(rk, groups, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 5000);
  absl::Status status;
  if (event == nullptr) {
    status = absl::DeadlineExceededError(absl::StrCat("describing group ", group));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(absl::StrCat("describing group ", group, ": ",
                                                 rd_kafka_event_error_string(event)));
  } else {
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** result =
        rd_kafka_DescribeConsumerGroups_result_groups(
            rd_kafka_event_DescribeConsumerGroups_result(event), &n);
    for (size_t i = 0; i < n && status.ok(); ++i) status = ReadGroup(result[i], topic, &out);
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  LOYALTY_RETURN_IF_ERROR(status);
  return out;
}

}  // namespace loyalty
