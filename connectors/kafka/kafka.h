// File: connectors/kafka/kafka.h
// The engine's Kafka topics, their creation, and producing a JSON Lines file
// as input events (librdkafka, real brokers or the embedded mock cluster).
//
//   Topics topics;                                   // SPEC §2 default names
//   LOYALTY_RETURN_IF_ERROR(EnsureTopics("127.0.0.1:19092", topics, 8, 30'000));
//   LOYALTY_ASSIGN_OR_RETURN(ProduceStats s, ProduceFile(options));
//
// Thread-compatible.
#ifndef LOYALTY_CONNECTORS_KAFKA_KAFKA_H_
#define LOYALTY_CONNECTORS_KAFKA_KAFKA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "connectors/kafka/client.h"

namespace loyalty {

// Which output topics the engine publishes (`--outputs`, SPEC §2):
// outcomes, balances and the DLQ by default; the ledger (one record per
// ledger entry, which the outcomes carry anyway) only when asked for.
struct OutputSet {
  bool outcomes = true;
  bool balances = true;
  bool dlq = true;
  bool ledger = false;

  // A comma-separated list of outcomes, balances, ledger, dlq (at least one).
  static absl::StatusOr<OutputSet> Parse(absl::string_view list);
  std::string ToString() const;  // in that order, comma-separated
};

// Topic names (SPEC §2). All have the same partition count; balances is
// compacted (key = program_id/member_id).
struct Topics {
  std::string events = "loyalty.events";
  std::string balances = "loyalty.balances";
  std::string ledger = "loyalty.ledger";
  std::string outcomes = "loyalty.outcomes";
  std::string dlq = "loyalty.dlq";

  // Every output topic (created by create-topics, whatever is published).
  std::vector<std::string> outputs() const { return {balances, ledger, outcomes, dlq}; }
  // The output topics `set` publishes, in the order of outputs().
  std::vector<std::string> published(const OutputSet& set) const;
};

// One topic to create: its name and topic configs (name, value).
struct TopicSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> configs;
};

// How new topics are replicated (`loyaltyctl create-topics`).
struct TopicOptions {
  // Copies of each partition (the broker refuses more than it has
  // brokers). Default: 1.
  int replication_factor = 1;
  // The topic config min.insync.replicas: how many copies a write with
  // acks=all (the engine's transactional producers) waits for. Default: 0,
  // unset (the broker's default, 1 unless configured).
  int min_insync_replicas = 0;

  // InvalidArgument, naming the flag, for a replication factor below 1 or
  // above 32767, or a min.insync.replicas below 0 or above the replication
  // factor.
  absl::Status Check() const;
};

// Creates `topics` with `partitions` partitions each, replicated as
// `options` says. Topics that exist are kept (their replication is not
// changed) if their partition count matches, else FailedPrecondition names
// the topic. The broker's refusal (e.g. a replication factor above its
// broker count) is Unavailable with the broker's message. Returns once the
// broker's metadata lists every topic (a new topic shows there a moment
// after its creation).
absl::Status EnsureTopics(const KafkaCluster& brokers, const std::vector<TopicSpec>& topics,
                          int partitions, int timeout_ms, const TopicOptions& options = {});

// The input and output topics of `topics`, as above (balances with
// cleanup.policy=compact, the DLQ accepting records up to 16 MiB).
absl::Status EnsureTopics(const KafkaCluster& brokers, const Topics& topics, int partitions,
                          int timeout_ms, const TopicOptions& options = {});

// Partitions of `topic` (NotFound if it does not exist, PermissionDenied if
// the principal may not Describe it).
absl::StatusOr<int> PartitionCount(const KafkaCluster& brokers, const std::string& topic,
                                   int timeout_ms);

// The end offset (high watermark) of each partition of `topic`.
absl::StatusOr<std::vector<int64_t>> EndOffsets(const KafkaCluster& brokers,
                                                const std::string& topic, int timeout_ms);

struct ProduceOptions {
  KafkaCluster brokers;  // required
  std::string topic = "loyalty.events";
  std::string path;         // JSON Lines of loyalty.v1.Event
  int timeout_ms = 60'000;  // for the final flush
  bool progress = false;    // a line on stderr twice a second
};

struct ProduceStats {
  int64_t lines = 0;    // non-blank lines read
  int64_t events = 0;   // produced keyed by member_id
  int64_t ticks = 0;    // ticks (each produced to every partition)
  int64_t unkeyed = 0;  // lines that are no Event (produced raw) or lack a member_id
  int64_t records = 0;  // records delivered
};

// Produces each line of `path`: an Event as binary protobuf keyed by its
// member_id (murmur2 partitioner, the same partitions as Java producers
// pick); a Tick to every partition; a line that does not parse as an Event
// unchanged, and an Event without member_id, to partition
// line_number % partitions, so that the engine's DLQ sees them. Idempotent producer; fails if any
// record is not delivered.
absl::StatusOr<ProduceStats> ProduceFile(const ProduceOptions& options);
// The same for lines in memory (options.path unused); line numbers from 1.
absl::StatusOr<ProduceStats> ProduceLines(const ProduceOptions& options,
                                          const std::vector<std::string>& lines);

// An idempotent producer of records to one topic that keeps count of their
// deliveries. A record with a key and no partition goes where Java
// producers would put it (murmur2). Produce waits while the bounded local
// queue is full; Flush waits for every delivery and fails if any record was
// not delivered. `settings` (librdkafka name, value) add to or override the
// defaults (idempotence, murmur2_random partitioner).
class RecordProducer {
 public:
  static constexpr int32_t kByKey = -1;  // RD_KAFKA_PARTITION_UA

  static absl::StatusOr<std::unique_ptr<RecordProducer>> Open(
      const KafkaCluster& brokers, const std::string& topic,
      const std::vector<std::pair<std::string, std::string>>& settings = {});
  ~RecordProducer();

  absl::Status Produce(absl::string_view value, absl::string_view key = {},
                       int32_t partition = kByKey);
  absl::Status Flush(int timeout_ms);

  int64_t produced() const { return produced_; }
  int64_t delivered() const;

 private:
  RecordProducer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t produced_ = 0;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_KAFKA_H_
