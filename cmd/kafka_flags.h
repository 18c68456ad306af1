// File: cmd/kafka_flags.h
// The Kafka flags the binaries share: the cluster with the operator's
// client properties, --events-topic and the output topic flags over the
// SPEC §2 defaults (loyaltyd, loyaltyctl), and the engine's memory budgets
// (loyaltyd run, loyalty-bench).
#ifndef LOYALTY_CMD_KAFKA_FLAGS_H_
#define LOYALTY_CMD_KAFKA_FLAGS_H_

#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cmd/flags.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/kafka.h"

namespace loyalty {

// The flags of `loyaltyd run`; loyaltyctl skips them in a shared --config
// file.
inline const std::set<std::string>& EngineRunFlags() {
  static const std::set<std::string> kFlags = {"brokers",
                                               "program",
                                               "data-dir",
                                               "group",
                                               "events-topic",
                                               "balances-topic",
                                               "ledger-topic",
                                               "outcomes-topic",
                                               "dlq-topic",
                                               "outputs",
                                               "commit-interval-ms",
                                               "batch-wait-ms",
                                               "transactional-id-prefix",
                                               "workers",
                                               "batch-size",
                                               "durability",
                                               "instance-id",
                                               "session-timeout-ms",
                                               "members-cached",
                                               "block-cache-mb",
                                               "memtable-mb",
                                               "backup-dir",
                                               "backup-interval",
                                               "backups-kept",
                                               "standby-replicas",
                                               "http",
                                               "ready-lag-max",
                                               "log-format",
                                               "log-level",
                                               "quiet",
                                               "help"};
  return kFlags;
}

// The cluster of --brokers (or `brokers`, when given) with the operator's
// librdkafka properties (-X, LOYALTY_KAFKA_*, kafka.* keys of --config).
// InvalidArgument names a property the engine owns.
inline absl::StatusOr<KafkaCluster> ClusterFromFlags(const Flags& flags,
                                                     const std::string& brokers) {
  KafkaCluster cluster(brokers);
  auto properties = SortClientProperties(flags.kafka_properties());
  if (!properties.ok()) return properties.status();
  cluster.properties = std::move(*properties);
  return cluster;
}

inline Topics TopicsFromFlags(const Flags& flags) {
  Topics t;
  t.events = flags.Get("events-topic", t.events);
  t.balances = flags.Get("balances-topic", t.balances);
  t.ledger = flags.Get("ledger-topic", t.ledger);
  t.outcomes = flags.Get("outcomes-topic", t.outcomes);
  t.dlq = flags.Get("dlq-topic", t.dlq);
  return t;
}

// --members-cached, --block-cache-mb and --memtable-mb into `options`,
// whose values are the defaults. InvalidArgument names a flag out of range.
inline absl::Status MemoryBudgetsFromFlags(const Flags& flags, KafkaEngine::Options* options) {
  auto cached = flags.GetIntIn("members-cached", static_cast<int64_t>(options->members_cached_max),
                               1, 100'000'000);
  auto cache_mb = flags.GetIntIn(
      "block-cache-mb", static_cast<int64_t>(options->block_cache_bytes >> 20), 1, 1 << 20);
  auto memtable_mb = flags.GetIntIn(
      "memtable-mb", static_cast<int64_t>(options->memtable_bytes >> 20), 8, 1 << 20);
  for (const absl::Status& s : {cached.status(), cache_mb.status(), memtable_mb.status()}) {
    if (!s.ok()) return s;
  }
  options->members_cached_max = static_cast<size_t>(*cached);
  options->block_cache_bytes = static_cast<size_t>(*cache_mb) << 20;
  options->memtable_bytes = static_cast<size_t>(*memtable_mb) << 20;
  return absl::OkStatus();
}

}  // namespace loyalty

#endif  // LOYALTY_CMD_KAFKA_FLAGS_H_
