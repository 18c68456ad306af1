// File: connectors/kafka/embedded.h
// An in-process Kafka "broker" for demos and quick starts: librdkafka's mock
// cluster (rdkafka_mock.h), listening on 127.0.0.1 on a free port, that any
// librdkafka client of this process (or another one) reaches through
// bootstrap_servers(). `loyaltyd demo` and `loyaltyd run --brokers=embedded`
// use it.
//
//   LOYALTY_ASSIGN_OR_RETURN(auto kafka, EmbeddedKafka::Start());
//   LOYALTY_RETURN_IF_ERROR(kafka->CreateTopics(Topics(), 4));
//   options.brokers = kafka->bootstrap_servers();
//
// WHAT IT IS NOT. It is a mock, not Kafka:
//  - it keeps nothing: the log lives in memory and is gone when the object
//    is destroyed (or the process ends); there is no data directory;
//  - it does NOT filter aborted transactions: a `read_committed` consumer
//    still reads the records of an aborted transaction;
//  - it does NOT fence zombies: after a second producer initializes the same
//    transactional.id, the first one can still commit.
//    So nothing run against it is evidence of exactly-once delivery; the
//    exactly-once tests run against a real broker (deploy/kafka/kafka.sh);
//  - the CreateTopics admin request is not served (EnsureTopics times
//    out): create topics with CreateTopic/CreateTopics here, before any
//    client asks for them, since the mock auto-creates a topic a client's
//    metadata request names, with 4 partitions;
//  - TxnOffsetCommit (rd_kafka_send_offsets_to_transaction) is accepted
//    but the offsets are not stored; plain OffsetCommit is;
//  - consumer groups work (JoinGroup/SyncGroup/Heartbeat; assignors such as
//    cooperative-sticky run in the client), but the first join of a group
//    waits about 3 s, like Kafka's group.initial.rebalance.delay.ms.
// What librdkafka 2.0.2's mock does serve, checked by embedded_test.cc:
// metadata, idempotent and transactional producers (InitProducerId,
// AddPartitionsToTxn, EndTxn: commit and abort), record headers, fetch,
// watermark queries, and a read_committed consumer group with
// cooperative-sticky incremental assignment.
//
// Thread-safety: the cluster runs on its own threads; the methods are
// thread-compatible. REQUIRES: every client using the cluster is destroyed
// before it (they would otherwise only retry connecting, and log it).
#ifndef LOYALTY_CONNECTORS_KAFKA_EMBEDDED_H_
#define LOYALTY_CONNECTORS_KAFKA_EMBEDDED_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connectors/kafka/kafka.h"

// librdkafka's types, so that this header does not pull in rdkafka.h.
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace loyalty {

class EmbeddedKafka {
 public:
  struct Options {
    // Brokers of the mock cluster (ids 1..brokers), each on its own port of
    // 127.0.0.1. Default: 1.
    int brokers = 1;
  };

  // Starts the cluster. Unavailable if librdkafka cannot create it.
  static absl::StatusOr<std::unique_ptr<EmbeddedKafka>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<EmbeddedKafka>> Start() { return Start(Options()); }
  // Stops the cluster; everything it held is gone.
  ~EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;

  // "127.0.0.1:PORT[,...]": the bootstrap.servers of clients.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }

  // Creates `topic` with `partitions` partitions (replication factor 1).
  // Creating an existing topic again is a no-op in the mock (the partition
  // count is not changed). InvalidArgument for partitions < 1.
  absl::Status CreateTopic(const std::string& topic, int partitions);
  // The input topic and the four output topics, all with `partitions`
  // partitions (SPEC §2). The mock ignores cleanup.policy: balances is not
  // compacted.
  absl::Status CreateTopics(const Topics& topics, int partitions);

 private:
  EmbeddedKafka() = default;

  rd_kafka_t* rk_ = nullptr;  // the handle the cluster is attached to
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_servers_;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_EMBEDDED_H_
