// File: connectors/kafka/settings.h
// Internal to connectors/kafka, and to loyalty-bench's null pipeline: the
// engine's Kafka clients as the engine configures them, in one place.
//
//   - the consumer of KafkaEngine (engine.cc): a consumer-group member,
//     cooperative-sticky, read_committed, no auto commit, with the
//     engine's rebalance callback;
//   - the transactional producer of each partition's JournalPublisher
//     (publisher.cc) and its transactional.id.
//
// bench/null_pipeline.cc creates its clients here too: the null pipeline
// is the engine's Kafka cost without the ledger, so it must not drift from
// these settings.
#ifndef LOYALTY_CONNECTORS_KAFKA_SETTINGS_H_
#define LOYALTY_CONNECTORS_KAFKA_SETTINGS_H_

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "connectors/kafka/client.h"

namespace loyalty::kafka_internal {

// The engine's consumer.
struct EngineConsumerConfig {
  KafkaCluster brokers;  // required
  std::string group_id;  // required
  std::string topic;     // required: the input topic, subscribed
  // Default: 45 s (Kafka's default).
  int session_timeout_ms = 45'000;
  // group.instance.id (static membership: a restarted process gets its
  // partitions back at once). Default: empty (none).
  std::string instance_id;
};

// librdkafka's rebalance callback, called inside poll on the polling thread.
using RebalanceCallback = void (*)(rd_kafka_t*, rd_kafka_resp_err_t,
                                   rd_kafka_topic_partition_list_t*, void* opaque);

// The engine's consumer settings (name, value).
Settings EngineConsumerSettings(const EngineConsumerConfig& config);

// A consumer with EngineConsumerSettings and `on_rebalance` (given
// `opaque`), its main queue forwarded to the consumer queue (one poll serves
// both), subscribed to config.topic. InvalidArgument for a bad setting,
// Unavailable if the subscription fails.
absl::StatusOr<KafkaHandle> NewEngineConsumer(const EngineConsumerConfig& config,
                                              RebalanceCallback on_rebalance, void* opaque);

// The transactional.id of partition `partition`'s publisher:
// "<prefix>.<events topic>.<partition>", `prefix` defaulting to the group id
// when empty.
std::string PublisherTransactionalId(absl::string_view prefix, absl::string_view group_id,
                                     absl::string_view events_topic, int32_t partition);

// The settings of a publisher's transactional producer (for NewClient,
// which adds the cluster's bootstrap servers and properties); records and
// transactions time out after `transaction_timeout_ms`.
Settings PublisherProducerSettings(const std::string& transactional_id, int transaction_timeout_ms);

}  // namespace loyalty::kafka_internal

#endif  // LOYALTY_CONNECTORS_KAFKA_SETTINGS_H_
