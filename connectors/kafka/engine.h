// File: connectors/kafka/engine.h
// `loyaltyd run`: a consumer group member that applies its assigned input
// partitions to per-partition stores (<data_dir>/p-NNNN), with one worker
// thread owning each partition, and publishes each partition's outputs to
// the same partition of the output topics in Kafka transactions.
//
//   KafkaEngine::Options o;  o.brokers = "127.0.0.1:19092";  o.data_dir = "/var/lib/loyalty";
//   LOYALTY_ASSIGN_OR_RETURN(auto engine, KafkaEngine::Create(&programs, o));
//   std::atomic<bool> stop{false};            // set from a signal handler
//   LOYALTY_RETURN_IF_ERROR(engine->Run(stop));
//
// Exactly-once on the input side (SPEC §3.1): a partition resumes from the
// offset stored in its RocksDB store, passed in the incremental assignment,
// never from Kafka's group offsets. Partition p is applied only by worker
// p % workers, in offset order; on revocation its queued batches are applied
// and published, and its store is closed before the partition is released,
// so that another process can open it (RocksDB's lock file keeps two owners
// out); a lost partition applies and publishes nothing more. A failed batch stops Run with its
// error: the process should exit and be restarted, and resumes from the stored offsets.
//
// Exactly-once on the output side (SPEC §3.3): each batch's output records
// go to the store's journal in the batch's write; once it is written (and,
// with sync_writes, synced), the partition's publishing thread sends them in
// a Kafka transaction (connectors/kafka/publisher.h, transactional.id
// "<prefix>.<events topic>.<partition>") and notes in the store how far
// publishing got, while the worker applies the next batch. Transactions
// start at most every commit_interval_ms per partition; batches applied
// meanwhile go in the next one together. Opening a partition fences its
// previous owner's producer, reads the last committed output sequence from
// the output topics (or the store's, if larger) and republishes what the
// journal holds above it. A fenced producer stops Run with
// FailedPrecondition. docs/kafka.md has the whole contract.
//
// Thread-safety: Run is called once, from one thread.
#ifndef LOYALTY_CONNECTORS_KAFKA_ENGINE_H_
#define LOYALTY_CONNECTORS_KAFKA_ENGINE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connectors/kafka/kafka.h"
#include "engine/metrics/metrics.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "loyalty/v1/ledger.pb.h"
#include "rocksdb/env.h"

namespace loyalty {

class KafkaEngine {
 public:
  // What Options::on_committed reports of a batch. The times are the host's
  // wall clock (ms since the epoch, comparable with Kafka's record
  // timestamps), taken only when on_committed is set; they are measurements
  // and never reach the store or the outputs.
  struct CommittedBatch {
    int32_t partition = 0;
    const std::vector<int64_t>* timestamps_ms = nullptr;  // its records' Kafka timestamps
    int64_t dispatched_ms = 0;  // handed to its worker (full, or waited batch_wait_ms)
    int64_t started_ms = 0;     // its worker began applying it
    int64_t applied_ms = 0;     // its store write done
    int64_t publishing_ms = 0;  // its transaction started (applied_ms with outputs off)
    int64_t committed_ms = 0;   // its transaction committed (applied_ms with outputs off)
  };

  struct Options {
    // The cluster, with the operator's client properties (-X, kafka.*
    // keys) for the consumer, the publishers' producers and admin calls.
    KafkaCluster brokers;  // required
    Topics topics;
    std::string group_id = "loyalty-engine";
    std::string data_dir;  // required; one store per partition
    // Worker threads; partition p belongs to worker p % workers. Default: 2.
    int workers = 2;
    // A batch closes at this many records... Default: 4096.
    int64_t batch_records_max = 4096;
    // ...or when its first record has waited this long. Default: 20 ms.
    int batch_wait_ms = 20;
    // Batches queued per worker before the consumer waits. Default: 8.
    size_t queue_batches_max = 8;
    // fsync the WAL with every batch (--durability=machine). Default: false.
    bool sync_writes = false;
    // How long an assigned partition's store may stay locked by its previous
    // owner before the assignment fails. Default: 60 s.
    int store_lock_wait_ms = 60'000;
    // Static membership (group.instance.id): a restarted process with the
    // same id gets its partitions back at once, without a rebalance.
    // Default: empty (dynamic membership).
    std::string instance_id;
    // How long the group waits for a silent member before moving its
    // partitions. Default: 45 s (Kafka's default).
    int session_timeout_ms = 45'000;
    // Publish the output records transactionally. Off only for
    // measurements. Default: true.
    bool outputs_enabled = true;
    // Which output topics (--outputs). Default: outcomes, balances, dlq.
    OutputSet outputs;
    // A partition starts a transaction at most this often; what its worker
    // applies meanwhile goes into the next one. Fewer transactions cost less
    // CPU (each is milliseconds of it, client and broker); a longer interval
    // adds up to that much latency. Default: 20 ms (docs/PERFORMANCE.md:
    // the latency at a quarter of the catch-up rate).
    int commit_interval_ms = 20;
    // Decoded member records kept in memory per partition: the hot ones
    // (about 1.2-1.5 KiB each); the rest are read from the store when they come
    // back. Default: 25,000 (200,000 for 8 partitions).
    size_t members_cached_max = 25'000;
    // Block cache and memtable budget shared by all partition stores.
    // Default: 128 MiB and 192 MiB (with 25,000 members cached per
    // partition, the 10^7-event benchmark peaks under 1 GiB:
    // docs/PERFORMANCE.md).
    size_t block_cache_bytes = size_t{128} << 20;
    size_t memtable_bytes = size_t{192} << 20;
    // transactional.id = "<prefix>.<events topic>.<partition>"; every engine
    // that may own a partition must use the same prefix, so that a new
    // owner fences the old one. Default: empty (the group id).
    std::string transactional_id_prefix;
    // The broker aborts an output transaction left open this long.
    // Default: 60 s.
    int transaction_timeout_ms = 60'000;
    // Bound of each blocking transaction call before the producer is
    // replaced. Default: 30 s.
    int transaction_call_timeout_ms = 30'000;
    // On a stop, how long a partition whose publishing is failing (a broker
    // down or recovering) keeps retrying to publish what was applied, from
    // its first failure after the stop (each call is cut to what is left of
    // it); then the rest stays in the journal for the next owner.
    // Default: 20 s.
    int stop_publish_timeout_ms = 20'000;
    // Commit each partition's applied offset to the group this often, for
    // lag monitoring only (never read back). 0 disables. Default: 5 s.
    int group_offset_commit_interval_ms = 5'000;
    // Called once a batch is committed (and its outputs published), with
    // its records' Kafka timestamps and when each stage of its path ended;
    // for latency measurements. Must be thread-safe. Default: none.
    std::function<void(const CommittedBatch& batch)> on_committed;
    // RocksDB environment of the stores; tests inject faults through it.
    // Default: nullptr (rocksdb::Env::Default()).
    rocksdb::Env* env = nullptr;
    // Backups (SPEC §10, engine/store/backup.h): each owned partition's
    // store is backed up into <backup_dir>/p-NNNN in the background every
    // backup_interval_ms (if it applied anything since its last backup),
    // and when the partition is revoked; a partition assigned without a
    // store, or with one behind its newest backup, is first restored from
    // that backup and re-applies the input from the backup's offset.
    // Default: empty (no backups, no restores).
    std::string backup_dir;
    // 0: only on revocation. Default: 5 min.
    int64_t backup_interval_ms = 300'000;
    // Backups kept per partition; older ones are pruned. Default: 8.
    int backups_kept = 8;
    // Recorded in each backup's metadata. Default: empty.
    std::string backup_taken_by;
    // Standby replicas (SPEC §10, connectors/kafka/standby.h): keep warm
    // copies of this many other members' partitions, chosen from the
    // group's description, applying their input with outputs off, so that
    // taking one over opens a caught-up store. Default: 0 (none).
    int standby_replicas = 0;
    // How often the group is described to choose them. Default: 2 s.
    int standby_refresh_ms = 2'000;
  };

  static absl::StatusOr<std::unique_ptr<KafkaEngine>> Create(const ProgramSet* programs,
                                                             const Options& options);
  ~KafkaEngine();

  // Consumes and applies until `stop` becomes true or a batch fails; then
  // applies what it holds, closes the consumer (releasing its partitions) and
  // returns.
  absl::Status Run(const std::atomic<bool>& stop);

  // Records that took effect since Create: applied, DUPLICATE or to the DLQ;
  // redelivered records below a stored offset are not counted.
  int64_t records_applied() const;
  // Input partitions this engine owns now.
  int owned_partitions() const;
  // Output transactions committed since Create.
  int64_t output_transactions() const;
  // Journal records applied here and not yet committed to Kafka, nor left
  // for the next owner (a lost partition, a failure): 0 once publishing has
  // caught up with the workers.
  int64_t outputs_unpublished() const;

  // What the engine did since Create, for measurements: input records,
  // output records and the store writes they took.
  struct Stats {
    int64_t records = 0;         // input records that took effect
    int64_t batches = 0;         // store writes of batches
    int64_t output_records = 0;  // journal records (outcomes, balances, DLQ)
    int64_t journal_bytes = 0;   // their journal values
    WriteShape writes;           // the batches' store writes
    int64_t kafka_records = 0;   // produced in committed transactions
    int64_t kafka_bytes = 0;     // their values
    int64_t transactions = 0;
  };
  Stats stats() const;

  // What an operator watches (SPEC §11), for the metrics endpoint. Safe to
  // call from any thread while Run runs.
  struct PartitionMetrics {
    int32_t partition = 0;
    bool owned = false;       // owned now (the rest keep their counters)
    int64_t next_offset = 0;  // the next input offset to apply
    // The consumer's last known high watermark of the input partition (owned
    // partitions); -1 before the first fetch.
    int64_t end_offset = -1;
    // Outcomes by Outcome::Status, and DLQ records by RejectReason, applied
    // by this process.
    std::array<int64_t, loyalty::v1::Outcome::Status_ARRAYSIZE> events_by_status{};
    std::array<int64_t, loyalty::v1::RejectReason_ARRAYSIZE> dlq_by_reason{};
    int64_t output_records = 0;  // committed to the output topics
    int64_t transactions = 0;    // output transactions committed
    // Store write of each batch (apply + write), and each output
    // transaction (begin to commit, retries included).
    metrics::Histogram::Snapshot batch_seconds;
    metrics::Histogram::Snapshot commit_seconds;
    // How long the oldest applied batch has waited to be published; 0 when
    // everything applied is published.
    double unpublished_seconds = 0;
    // Restore (SPEC §10): the partition was restored from a backup, or
    // started without a store, and re-applies the input from
    // restore_from_offset up to restore_target_offset (the input's end when
    // it was assigned); restoring until it gets there.
    bool restoring = false;
    int64_t restore_from_offset = 0;
    int64_t restore_target_offset = 0;
    int64_t restores = 0;  // restores from a backup in this process
    // Stopped: its input no longer holds the offsets its state needs
    // (retention): nothing is applied or published; `stopped_reason` says why.
    bool stopped = false;
    std::string stopped_reason;
    // Backups taken by this process, failed attempts, and the input offset
    // the last one continues from (-1: none).
    int64_t backups = 0;
    int64_t backup_failures = 0;
    int64_t backup_offset = -1;
    metrics::Histogram::Snapshot backup_seconds;
  };
  struct Metrics {
    bool assigned = false;  // the group gave this process its first assignment
    bool failed = false;    // Run is stopping on an error
    int64_t records_applied = 0;
    // RocksDB's memory shared by the partition stores: block cache and
    // memtables in use.
    int64_t block_cache_bytes = 0;
    int64_t memtable_bytes = 0;
    std::vector<PartitionMetrics> partitions;  // every partition ever owned, ascending
    // Standby copies kept now (--standby-replicas), ascending.
    struct Standby {
      int32_t partition = 0;
      int64_t next_offset = 0;
      int64_t end_offset = -1;  // -1: not known yet
    };
    std::vector<Standby> standbys;
  };
  Metrics metrics() const;

  class Impl;

 private:
  explicit KafkaEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_ENGINE_H_
