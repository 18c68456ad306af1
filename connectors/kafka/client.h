// File: connectors/kafka/client.h
// librdkafka helpers of connectors/kafka.
//
// Internal to the module (namespace kafka_internal): owning librdkafka
// handles and error conversion shared by the producer, the engine and the
// publisher.
//
// Public (namespace loyalty): ReadToEnd, the one reader of topics "from
// their start to their end" for the demo, the tests and the benchmark.
//
//   ReadToEndOptions options;
//   options.brokers = "127.0.0.1:19092";
//   options.topics = {"loyalty.outcomes"};
//   LOYALTY_ASSIGN_OR_RETURN(ReadToEndStats stats,
//                            ReadToEnd(options, [&](const rd_kafka_message_t& m) { ... }));
//
// Thread-compatible.
#ifndef LOYALTY_CONNECTORS_KAFKA_CLIENT_H_
#define LOYALTY_CONNECTORS_KAFKA_CLIENT_H_

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loyalty {

// librdkafka properties an operator adds to the clients (-X key=value, the
// config file's kafka.* keys): (name, value) pairs, set after the module's
// own settings of a client, so they may override its tunables (fetch sizes,
// linger.ms, message.max.bytes, timeouts) and add security
// (security.protocol, sasl.*, ssl.*).
struct ClientProperties {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  Pairs all;       // every client: consumers, producers, admin calls
  Pairs consumer;  // consumers only ("consumer." prefix)
  Pairs producer;  // producers and admin calls only ("producer." prefix)

  bool empty() const { return all.empty() && consumer.empty() && producer.empty(); }
};

// Sorts (name, value) pairs into ClientProperties by their "consumer." or
// "producer." prefix. InvalidArgument names a property the engine sets
// itself because exactly-once depends on it (bootstrap.servers, group.id,
// group.instance.id, transactional.id, isolation.level, enable.idempotence,
// enable.auto.commit, enable.auto.offset.store, enable.partition.eof,
// auto.offset.reset, partition.assignment.strategy), or an empty name.
absl::StatusOr<ClientProperties> SortClientProperties(const ClientProperties::Pairs& pairs);

// A Kafka cluster as the clients reach it: its bootstrap servers, plus the
// operator's properties. Implicit from a bootstrap list ("host:port,...")
// with no properties, which is what tests and benchmarks pass.
struct KafkaCluster {
  KafkaCluster() = default;
  KafkaCluster(std::string servers) : bootstrap_servers(std::move(servers)) {}  // NOLINT
  KafkaCluster(const char* servers) : bootstrap_servers(servers) {}             // NOLINT

  std::string bootstrap_servers;
  ClientProperties properties;
};

namespace kafka_internal {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

using Settings = std::vector<std::pair<std::string, std::string>>;

// A librdkafka configuration for a client of `type` on `cluster`:
// bootstrap.servers, then `settings` (name, value), then the cluster's
// properties for every client and for this side (consumer, or producer for
// producers and admin calls). For a caller that sets callbacks before
// creating its client; the caller owns it (rd_kafka_new takes it).
// Clients log through the process's log hook (SetKafkaLogHook).
// InvalidArgument names a refused setting.
absl::StatusOr<rd_kafka_conf_t*> NewConf(rd_kafka_type_t type, const KafkaCluster& cluster,
                                         const Settings& settings);

// Routes the log lines of the client made from `conf` into the process's
// log (engine/log), with component=librdkafka.
void ConfigureLogging(rd_kafka_conf_t* conf);

// A client of `type` on `cluster` with `settings` (NewConf); `on_delivery`
// is the producer's per-message delivery callback, if any.
absl::StatusOr<KafkaHandle> NewClient(rd_kafka_type_t type, const KafkaCluster& cluster,
                                      const Settings& settings,
                                      void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*,
                                                          void*) = nullptr);

// OK for RD_KAFKA_RESP_ERR_NO_ERROR, else Unavailable naming `what`.
absl::Status FromKafka(rd_kafka_resp_err_t err, absl::string_view what);

// A transaction call's error, naming `what`; takes ownership of `e`. Fatal
// errors (fencing among them) are FailedPrecondition, the rest Unavailable.
absl::Status FromTxnError(rd_kafka_error_t* e, absl::string_view what);

}  // namespace kafka_internal

struct ReadToEndOptions {
  // The cluster. Required.
  KafkaCluster brokers;
  // The topics to read, each from its first offset. Required: at least one.
  std::vector<std::string> topics;
  // Partitions 0 .. partitions - 1 of every topic are read. Default: 0, each
  // topic's own count from the broker's metadata (NotFound for a topic that
  // does not exist).
  int partitions = 0;
  // isolation.level: read_committed skips the records of aborted and open
  // transactions, and a partition's end is then its last stable offset.
  // false reads read_uncommitted. Default: true.
  bool read_committed = true;
  // The consumer's group.id, a name only: the reader is assigned its
  // partitions, never joins the group and commits no offset to it.
  // Default: "loyalty-reader".
  std::string group_id = "loyalty-reader";
  // DeadlineExceeded if some partition has not reached its end this long
  // after the partitions were assigned; each metadata lookup (partitions
  // = 0) is bounded by it too. Default: 60 s.
  int timeout_ms = 60'000;
  // More librdkafka consumer settings (name, value), set after the reader's
  // own (bootstrap.servers, group.id, enable.auto.commit=false,
  // enable.partition.eof=true, isolation.level), so they may override them;
  // a measurement passes its fetch settings here. Default: none.
  std::vector<std::pair<std::string, std::string>> settings;
};

struct ReadToEndStats {
  int64_t records = 0;  // records passed to fn
  // From the first record to the moment the last partition reached its end:
  // the read without the consumer's setup and teardown. 0 with no record.
  double seconds = 0;
};

// Calls `fn` for every record of the partitions of options.topics, from
// their first offset to their end, on this thread; then closes the consumer.
// Records of one partition come in offset order; partitions interleave.
//
// The end: a partition is at its end when librdkafka's PARTITION_EOF event
// (enable.partition.eof) was the last thing it reported for it; ReadToEnd
// returns once every partition is at its end at the same moment. EOF
// events are kept in a set of partitions, not counted: librdkafka reports
// EOF again after records that came in later, so a count would let one
// partition stand in for another. A record of a partition after its EOF
// takes it out of the set until its next EOF. Records produced during the
// read are read if they arrive before the end; a topic whose producers
// never pause may end only at timeout_ms.
//
// Errors: InvalidArgument for bad options or settings, NotFound for a
// missing topic (partitions = 0), Unavailable for a consume error (the
// first one ends the read), DeadlineExceeded after timeout_ms, naming the
// partitions not at their end.
absl::StatusOr<ReadToEndStats> ReadToEnd(const ReadToEndOptions& options,
                                         const std::function<void(const rd_kafka_message_t&)>& fn);

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_CLIENT_H_
