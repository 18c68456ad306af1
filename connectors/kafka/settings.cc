// File: connectors/kafka/settings.cc
#include "connectors/kafka/settings.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/base/status.h"

namespace loyalty::kafka_internal {

Settings EngineConsumerSettings(const EngineConsumerConfig& config) {
  Settings settings = {
      {"session.timeout.ms", absl::StrCat(config.session_timeout_ms)},
      {"group.id", config.group_id},
      {"partition.assignment.strategy", "cooperative-sticky"},
      // Offsets come from the stores; Kafka's group offsets are never used to
      // resume (and not committed yet).
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // Only reached when the input no longer holds a stored offset
      // (retention): the partition stops with an error naming the gap
      // (SPEC §10), where "earliest" would skip the lost records silently.
      {"auto.offset.reset", "error"},
      // Upstream producers may be transactional: never apply aborted records.
      {"isolation.level", "read_committed"},
      // End-of-partition events end a restore (KafkaEngine).
      {"enable.partition.eof", "true"},
  };
  // Kafka's rule of thumb: heartbeats at most a third of the session apart
  // (librdkafka's default of 3 s would lose a session under 9 s).
  if (config.session_timeout_ms < 9'000) {
    settings.emplace_back("heartbeat.interval.ms",
                          absl::StrCat(std::max(100, config.session_timeout_ms / 3)));
  }
  if (!config.instance_id.empty()) settings.emplace_back("group.instance.id", config.instance_id);
  return settings;
}

absl::StatusOr<KafkaHandle> NewEngineConsumer(const EngineConsumerConfig& config,
                                              RebalanceCallback on_rebalance, void* opaque) {
  // Not NewClient: a rebalance callback must be on the configuration before
  // the client is created.
  LOYALTY_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, NewConf(RD_KAFKA_CONSUMER, config.brokers,
                                                           EngineConsumerSettings(config)));
  char err[512];
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_opaque(conf, opaque);
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", err));
  }
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, config.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t e = rd_kafka_subscribe(rk.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return FromKafka(e, "subscribe");
  return rk;
}

std::string PublisherTransactionalId(absl::string_view prefix, absl::string_view group_id,
                                     absl::string_view events_topic, int32_t partition) {
  return absl::StrCat(prefix.empty() ? group_id : prefix, ".", events_topic, ".", partition);
}

Settings PublisherProducerSettings(const std::string& transactional_id,
                                   int transaction_timeout_ms) {
  const std::string txn_timeout = absl::StrCat(transaction_timeout_ms);
  return {{"transactional.id", transactional_id},
          {"transaction.timeout.ms", txn_timeout},
          {"message.timeout.ms", txn_timeout},
          {"linger.ms", "2"},
          // Back-to-back transactions meet CONCURRENT_TRANSACTIONS while the
          // previous one's markers are written; the default 100 ms backoff
          // would set every transaction's floor (KAFKA-5477).
          {"retry.backoff.ms", "10"},
          {"queue.buffering.max.messages", "1000000"},
          {"queue.buffering.max.kbytes", "1048576"},
          // A DLQ record is a rejected input (up to 1 MiB, or more if the
          // input topic allows) plus headers.
          {"message.max.bytes", "16777216"}};
}

}  // namespace loyalty::kafka_internal
