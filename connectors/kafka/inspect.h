// File: connectors/kafka/inspect.h
// Reading a cluster for an operator's tools (`loyaltyctl tail`, `status`):
// following a topic's records, the last record of each partition, a
// group's committed offsets and which member owns which partition.
//
//   TailOptions options;
//   options.brokers = cluster;
//   options.topic = "loyalty.outcomes";
//   options.follow = true;
//   options.stop = [] { return stop_requested.load(); };
//   LOYALTY_ASSIGN_OR_RETURN(int64_t n, Tail(options, [&](const rd_kafka_message_t& m) { ... }));
//
// Every client is made by kafka_internal::NewClient on the cluster given, so
// the operator's properties (security) reach it. None joins a group or
// commits an offset. Thread-compatible.
#ifndef LOYALTY_CONNECTORS_KAFKA_INSPECT_H_
#define LOYALTY_CONNECTORS_KAFKA_INSPECT_H_

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connectors/kafka/client.h"

namespace loyalty {

struct TailOptions {
  // The cluster and the topic. Required.
  KafkaCluster brokers;
  std::string topic;
  // One partition, or -1 for all of them. Default: -1.
  int partition = -1;
  // Start at each partition's first offset (true) or at its end (false:
  // only records that come later). Default: true.
  bool from_beginning = true;
  // Keep reading at the end, until `stop` says so. Without it Tail returns
  // once every partition read is at its end (its last stable offset:
  // read_committed). Default: false.
  bool follow = false;
  // Stop after this many records; 0: no limit. Default: 0.
  int64_t records_max = 0;
  // Polled between reads (every 100 ms at most); true ends the read.
  // Default: none.
  std::function<bool()> stop;
  // Without `follow`: DeadlineExceeded if some partition has not reached its
  // end this long after the start; also bounds the metadata lookup.
  // Default: 60 s.
  int timeout_ms = 60'000;
};

// Calls `fn` with each record of options.topic read read_committed (records
// of aborted and open transactions are never seen), in offset order per
// partition; returns how many. NotFound for a missing topic or partition,
// Unavailable for a consume error.
absl::StatusOr<int64_t> Tail(const TailOptions& options,
                             const std::function<void(const rd_kafka_message_t&)>& fn);

// The last committed record of a partition (read_committed).
struct LastRecord {
  int64_t offset = -1;
  int64_t timestamp_ms = -1;  // the record's timestamp (CreateTime unless the topic says otherwise)
};

// For each partition of `topic` (index = partition), its last record read
// read_committed, or nullopt when the partition holds none (empty, or only
// aborted records near its end). Reads at most the last `window` offsets of
// each partition (transaction markers and aborted records take offsets
// too). NotFound for a missing topic.
absl::StatusOr<std::vector<std::optional<LastRecord>>> LastRecords(const KafkaCluster& brokers,
                                                                   const std::string& topic,
                                                                   int timeout_ms,
                                                                   int64_t window = 1000);

// The offsets `group` committed for partitions 0 .. partitions - 1 of
// `topic` (index = partition), -1 where it committed none. Asks the group's
// coordinator without joining the group.
absl::StatusOr<std::vector<int64_t>> CommittedOffsets(const KafkaCluster& brokers,
                                                      const std::string& group,
                                                      const std::string& topic, int partitions,
                                                      int timeout_ms);

// A member of a consumer group, as the coordinator describes it.
struct GroupMember {
  std::string member_id;    // the broker's id for the member
  std::string instance_id;  // group.instance.id (static membership), or empty
  std::string client_id;
  std::string host;  // as the broker saw it: "/10.0.0.7"
};

struct GroupDescription {
  std::string state;  // "Stable", "PreparingRebalance", "Empty", "Dead", ...
  // Partition of the topic asked for -> the member it is assigned to.
  std::vector<std::optional<GroupMember>> owners;
  // Every member, with or without partitions, as the coordinator lists them.
  std::vector<GroupMember> members;
};

// The state of `group` and which member owns each partition 0 ..
// partitions - 1 of `topic` (rd_kafka_DescribeConsumerGroups). A group
// that does not exist is described as "Dead" with no owners.
absl::StatusOr<GroupDescription> DescribeGroup(const KafkaCluster& brokers,
                                               const std::string& group, const std::string& topic,
                                               int partitions, int timeout_ms);
// The same through an existing client `rk` (any type), which admin calls
// share with what it does otherwise.
absl::StatusOr<GroupDescription> DescribeGroup(rd_kafka_t* rk, const std::string& group,
                                               const std::string& topic, int partitions,
                                               int timeout_ms);

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_INSPECT_H_
