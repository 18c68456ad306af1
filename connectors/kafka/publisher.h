// File: connectors/kafka/publisher.h
// Publishes one input partition's journal records to partition p of the
// output topics in Kafka transactions (SPEC §3.3), and finds where a
// previous owner of the partition stopped.
//
//   PublisherOptions o;  o.brokers = ...;  o.partition = 3;  o.transactional_id = "g.events.3";
//   LOYALTY_ASSIGN_OR_RETURN(auto publisher, JournalPublisher::Create(o, &stop));
//   // publisher->published_seq(): the last output sequence committed to Kafka
//   LOYALTY_RETURN_IF_ERROR(publisher->Publish(outputs.journal.records()));   // seq ascending
//
// Every output record carries the header `loyalty.seq` (its output sequence
// number, decimal). Balance records also carry `loyalty.version` (the
// member's version); DLQ records carry `loyalty.reason`, `loyalty.detail`,
// `loyalty.source.topic`, `loyalty.source.partition`,
// `loyalty.source.offset` and `loyalty.engine.version`. Values are the
// journal's bytes as they are: outcomes a binary loyalty.v1.Outcome (with
// its ledger entries), balances a BalanceUpdate (keys "program_id/member_id"),
// DLQ the rejected record's bytes untouched (no key). With the ledger
// output on, each entry of an outcome is also a record of the ledger topic
// (a LedgerEntry, the outcome's key and seq).
//
// Create initialises the transactional producer, which fences any older
// producer with the same transactional.id (a zombie owner of the partition)
// and aborts its open transaction; then it reads the last committed record of
// each published output partition (read_committed) and takes the largest
// `loyalty.seq`. Publish skips records at or below that sequence: they are
// committed already (after a crash between the Kafka commit and the store's
// note of it, or a store that lost its tail in a power loss and re-derived
// the same outputs, which determinism makes identical). A transaction that
// fails for any reason but fencing is retried with a new producer (the
// KIP-890 workaround: a producer whose EndTxn timed out is never reused),
// re-reading the last committed sequence first, until it commits or
// `cancel` has been set for `cancel_grace_ms`.
//
// Thread-compatible: one thread (the partition's publisher) uses a publisher.
#ifndef LOYALTY_CONNECTORS_KAFKA_PUBLISHER_H_
#define LOYALTY_CONNECTORS_KAFKA_PUBLISHER_H_

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "connectors/kafka/kafka.h"
#include "engine/store/journal.h"

namespace loyalty {

// Header names on output records.
inline constexpr char kHeaderSeq[] = "loyalty.seq";
inline constexpr char kHeaderVersion[] = "loyalty.version";
inline constexpr char kHeaderReason[] = "loyalty.reason";
inline constexpr char kHeaderDetail[] = "loyalty.detail";
inline constexpr char kHeaderSourceTopic[] = "loyalty.source.topic";
inline constexpr char kHeaderSourcePartition[] = "loyalty.source.partition";
inline constexpr char kHeaderSourceOffset[] = "loyalty.source.offset";
inline constexpr char kHeaderEngineVersion[] = "loyalty.engine.version";
// On a DLQ record whose raw bytes were cut to fit the DLQ topic (SPEC §7):
// the original size in bytes and its SHA-256 (lowercase hex).
inline constexpr char kHeaderOriginalSize[] = "loyalty.original.size";
inline constexpr char kHeaderOriginalSha256[] = "loyalty.original.sha256";

struct PublisherOptions {
  KafkaCluster brokers;  // required
  Topics topics;         // events names the DLQ's source topic
  OutputSet outputs;     // the output topics published; the rest are skipped
  int32_t partition = 0;
  std::string transactional_id;  // required; one per input partition
  // The group.id of the consumer that reads the output topics' tails. It
  // only assigns partitions (it never joins the group or commits), but the
  // broker still authorizes the group when the client looks up its
  // coordinator: the engine passes its own group, so that its principal
  // needs no ACL on another one (docs/security.md).
  std::string reader_group_id = "loyalty-outbox-reader";
  // The broker aborts a transaction left open this long. Default: 60 s.
  int transaction_timeout_ms = 60'000;
  // Bound of each blocking librdkafka call (init, commit, reads). A call
  // that times out is retried with a new producer. Default: 30 s.
  int call_timeout_ms = 30'000;
  // Pause between attempts while the broker is unreachable. Default: 500 ms.
  int retry_backoff_ms = 500;
  // Once `cancel` is set, failures are still retried this long (a stopping
  // engine publishes what it applied if the broker comes back in time).
  // Default: 20 s.
  int cancel_grace_ms = 20'000;
  // Print retries to stderr. Default: true.
  bool log_retries = true;
};

class JournalPublisher {
 public:
  // Blocks until the producer is initialised and the last committed sequence
  // is known, retrying while the broker is unreachable. `cancel` (may be
  // null) is looked at only after a failure: set for cancel_grace_ms, it
  // ends the retries.
  // FailedPrecondition if the producer is fenced.
  static absl::StatusOr<std::unique_ptr<JournalPublisher>> Create(const PublisherOptions& options,
                                                                  const std::atomic<bool>* cancel);
  ~JournalPublisher();

  // The largest outbox sequence known to be committed to the output topics.
  // It never decreases: the output topics' tails may be removed by
  // retention, so a store's own record of it (AdvancePublished) counts too.
  int64_t published_seq() const { return published_seq_; }
  void AdvancePublished(int64_t seq) { published_seq_ = std::max(published_seq_, seq); }

  // Publishes the records above published_seq() (seq ascending) whose
  // topics are published in one transaction (none: no transaction). The
  // views' bytes must stay valid until it returns (they are not copied).
  // FailedPrecondition when fenced by a newer owner; Cancelled if it failed
  // and `cancel` was set. After any error the caller must stop publishing
  // this partition (a later batch would leave a gap): a new owner
  // republishes from the journal.
  absl::Status Publish(absl::Span<const JournalRecordView> records);

  // Kafka records produced in committed transactions, and their value bytes.
  int64_t records_published() const { return records_published_; }
  int64_t bytes_published() const { return bytes_published_; }

  class Impl;

 private:
  JournalPublisher(const PublisherOptions& options, const std::atomic<bool>* cancel);
  // (Re)creates the producer, initialises transactions and re-reads the
  // last committed sequence; retries until it works, fenced, or cancel.
  absl::Status Reset();
  absl::Status TryPublish(absl::Span<const JournalRecordView> records);
  // After a failure: true once `cancel` has been set for cancel_grace_ms.
  bool GiveUp();
  // Logs that publishing stops, and what stays in the journal; Cancelled.
  absl::Status Abandon(const absl::Status& cause);
  // call_timeout_ms, or, once stopping, what is left of the grace (at
  // least 1 s).
  int CallTimeoutMs() const;
  // One transaction of `records` (those above published_seq_).
  absl::Status TryPublishOnce(absl::Span<const JournalRecordView> records);
  // The Kafka records of one journal record, by kind; `seq` is its decimal
  // loyalty.seq header.
  absl::Status ProduceOutcome(const JournalRecordView& rec, absl::string_view seq);
  absl::Status ProduceBalance(const JournalRecordView& rec, absl::string_view seq);
  absl::Status ProduceDlq(const JournalRecordView& rec, absl::string_view seq);
  // Commits the open transaction; retries a retriable failure twice.
  absl::Status CommitTransaction();
  // The largest DLQ value that fits both the producer's message.max.bytes
  // and the DLQ topic's max.message.bytes, less `headers_bytes` and a
  // margin for the record's framing.
  int64_t DlqValueMaxBytes(int64_t headers_bytes) const;
  // Produces one record (no copy of key or value); retries a full queue.
  absl::Status Produce(const std::string& topic, int64_t seq, absl::string_view key,
                       absl::string_view value, rd_kafka_headers_t* headers);

  PublisherOptions options_;
  const std::atomic<bool>* cancel_;
  std::optional<std::chrono::steady_clock::time_point> cancel_seen_;  // first GiveUp that saw it
  std::unique_ptr<Impl> impl_;
  int64_t published_seq_ = 0;
  int64_t records_published_ = 0, bytes_published_ = 0;
  int64_t records_in_txn_ = 0, bytes_in_txn_ = 0;
  // A record batch that fits Kafka's default max.message.bytes (1 MiB + 12
  // bytes) fits any DLQ topic left at its default, or made by create-topics.
  static constexpr int64_t kDlqTopicDefaultMaxBytes = 1'000'000;
  // message.max.bytes of the producer (read by Reset), and max.message.bytes
  // of the DLQ topic (-1: not known, e.g. no DescribeConfigs permission),
  // described once, at the first DLQ record larger than the default.
  int64_t producer_max_bytes_ = 0;
  int64_t dlq_topic_max_bytes_ = -1;
  bool dlq_topic_described_ = false;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_PUBLISHER_H_
