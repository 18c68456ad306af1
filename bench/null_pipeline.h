// File: bench/null_pipeline.h
// The null pipeline of SPEC §9 (a): the ceiling for any exactly-once engine
// on this machine. It consumes the input like the engine (a consumer group,
// cooperative-sticky, read_committed, batches per partition closed by size
// or deadline, of the engine's average size), writes per input record the
// same number and sizes of RocksDB puts and deletes as the engine did (its
// measured RecordShape: per column family, through a PartitionStore opened
// with the engine's options, one WriteBatch and one journal value per
// batch), and produces the same number and sizes of output records in Kafka
// transactions (one transactional producer per partition, at most one
// transaction every commit_interval_ms), with no business logic: no decode,
// no apply.
//
//   NullPipeline::Options o;
//   o.brokers = "127.0.0.1:19092";  o.input_topic = "events";  o.output_topics = {"a", "b"};
//   o.group_id = "null-1";  o.data_dir = "/tmp/null-1";  o.shape = engine_shape;
//   LOYALTY_ASSIGN_OR_RETURN(auto pipeline, NullPipeline::Create(o));
//   std::atomic<bool> stop{false};
//   LOYALTY_RETURN_IF_ERROR(pipeline->Run(stop));   // until stop
//
// Threads, as in connectors/kafka/engine.cc: the Run thread consumes and
// batches; `workers` threads each write the batches of partitions
// p % workers == w (one rocksdb::WriteBatch per batch, sorted by column
// family and key like the engine's StoreBatch); each partition's publishing
// thread takes the batches written since its last transaction and produces
// their outputs in one transaction, so a worker never waits for a commit
// (only for room, unpublished_batches_max). After a transaction the
// partition notes it in the store (PartitionStore::SetPublishedThrough, as
// the engine does) and reports each batch it covered to on_committed.
//
// What it writes per input record: the shape's puts and deletes, built by
// bench/shaped_writes.h (as the RocksDB limit's are) with the record's
// Kafka key as the member its keys hang under and its offset making new
// keys unique; per batch, the partition's next input offset (the store is
// the offset of record, read back at assignment) and one journal value.
// Values are cut from `value_pool` (by default random bytes; loyalty-bench
// passes serialized events: protobuf bytes, nearer the engine's values than
// random ones when RocksDB compresses them).
// Output records: outputs_per_record per record, round robin over
// output_topics, keyed by a record's key ("-" for a record without one:
// compacted topics refuse records without a key), values of
// output_value_bytes cut from the pool (not copied), one `loyalty.seq`
// header each like the engine's.
//
// Its Kafka clients are the engine's (connectors/kafka/settings.h): the
// engine's consumer settings and the publisher's transactional producer
// settings, so that it pays the engine's Kafka cost without the ledger.
//
// Failures end Run with the first error (a bench needs no retries): a failed
// transaction, a write or a broker error. A lost partition publishes nothing
// more.
//
// Thread-safety: Run is called once, from one thread; stats() and
// owned_partitions() from any thread.
#ifndef LOYALTY_BENCH_NULL_PIPELINE_H_
#define LOYALTY_BENCH_NULL_PIPELINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/bench_report.h"
#include "engine/store/store.h"

namespace loyalty::bench {

class NullPipeline {
 public:
  struct Options {
    std::string brokers;      // required
    std::string input_topic;  // required: the backlog
    // Required: where outputs go, round robin. Each must have the input's
    // partition count (output partition p <- input partition p).
    std::vector<std::string> output_topics;
    std::string group_id;  // required; a fresh one starts at the beginning
    // transactional.id = "<prefix>.<input_topic>.<partition>". Default: empty
    // (the group id).
    std::string transactional_id_prefix;
    std::string data_dir;  // required; one store per partition, <data_dir>/p-NNNN
    // Required: what to write and produce per input record (the engine's
    // measured shape). Families with no puts and no deletes are skipped.
    RecordShape shape;
    // Worker threads; partition p belongs to worker p % workers. Default: 2.
    int workers = 2;
    // A batch closes at this many records (loyalty-bench passes the
    // engine's average batch)... Default: 4096.
    int64_t batch_records_max = 4096;
    // ...or when its first record has waited this long and a poll finds
    // nothing more to read (the input is caught up)... Default: 20 ms (the
    // engine's deadline). Unlike the engine's, a batch of a backlog is not
    // cut short while the consumer waits for a worker's queue: it has the
    // size asked for.
    int batch_wait_ms = 20;
    // ...or when its first record has waited this long in any case.
    // Default: 1000 ms.
    int batch_wait_max_ms = 1000;
    // Batches queued per worker before the consumer waits. Default: 8.
    size_t queue_batches_max = 8;
    // Batches written and not yet in a transaction, per partition, before
    // its worker waits. Default: 16.
    size_t unpublished_batches_max = 16;
    // A partition starts a transaction at most this often. Default: 50 ms
    // (the engine's).
    int commit_interval_ms = 50;
    // fsync the WAL with every batch (--durability=machine). Default: false.
    bool sync_writes = false;
    // Sort each batch's writes by (column family, key), as the engine's
    // StoreBatch does. Default: true.
    bool sort_writes = true;
    // Block cache and memtable budget shared by the partition stores.
    // Default: 128 MiB and 192 MiB (the engine's).
    size_t block_cache_bytes = size_t{128} << 20;
    size_t memtable_bytes = size_t{192} << 20;
    // Default: 45 s (Kafka's default, and the engine's).
    int session_timeout_ms = 45'000;
    // The broker aborts a transaction left open this long. Default: 60 s.
    int transaction_timeout_ms = 60'000;
    // Bound of each blocking transaction call; past it Run fails.
    // Default: 30 s.
    int transaction_call_timeout_ms = 30'000;
    // Bytes that values (store and Kafka) are cut from; grown if smaller
    // than the largest value. Default: nullptr (4 MiB of random bytes).
    std::shared_ptr<const std::string> value_pool;
    // Called by a partition's publishing thread after each transaction
    // commits, once per batch it covered, with the batch's input records
    // (as the engine's on_committed). Must be thread-safe. Default: none.
    std::function<void(int32_t partition, int64_t records)> on_committed;
  };

  // What it did since Create, in the terms of KafkaEngine::Stats.
  struct Stats {
    int64_t records = 0;        // input records written to the stores
    int64_t batches = 0;        // store writes of batches
    WriteShape writes;          // the batches' store writes
    int64_t kafka_records = 0;  // produced in committed transactions
    int64_t kafka_bytes = 0;    // their values
    int64_t transactions = 0;
  };

  // InvalidArgument for a bad option; Unavailable if the broker cannot tell
  // the topics' partitions.
  static absl::StatusOr<std::unique_ptr<NullPipeline>> Create(const Options& options);
  ~NullPipeline();

  // Consumes, writes and publishes until `stop` becomes true or something
  // fails; then writes and publishes what it read, leaves the group, closes
  // the stores and returns the first error, if any.
  absl::Status Run(const std::atomic<bool>& stop);

  // Input partitions owned now.
  int owned_partitions() const;
  Stats stats() const;

  class Impl;

 private:
  explicit NullPipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::bench

#endif  // LOYALTY_BENCH_NULL_PIPELINE_H_
