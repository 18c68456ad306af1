// File: bench/bench_report.h
// What loyalty-bench measured, and its three renderings: a JSON results file,
// a Markdown summary (with the issue 11 targets met or missed, and by how
// much), and a self-contained HTML page with SVG charts (throughput per
// second over every catch-up run, the null pipeline's too; latency
// percentiles per offered rate), drawn by engine/report/svg_chart.h.
#ifndef LOYALTY_BENCH_BENCH_REPORT_H_
#define LOYALTY_BENCH_BENCH_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loyalty::bench {

struct CatchUpRun {
  double events_per_s = 0;  // records committed after the first batch / time to the last
  double seconds = 0;       // first commit to last commit
  int64_t records = 0;
  double cpu_s_per_m = 0;  // process CPU seconds per 10^6 records (engine phase only)
  int64_t peak_rss_bytes = 0;
  std::vector<double> per_second;  // records committed in each second after the first commit
};

// A catch-up run's trend: its throughput over the first and the last tenth
// of its seconds (per_second; at least one second each). The cost of an
// event must not grow with history (SPEC §9): last ≥ 80% of first.
struct Trend {
  double first_tenth_per_s = 0, last_tenth_per_s = 0;
  double ratio() const { return first_tenth_per_s > 0 ? last_tenth_per_s / first_tenth_per_s : 0; }
};
// Zero when the run has fewer than two whole seconds.
Trend TrendOf(const CatchUpRun& run);

struct LatencyRun {
  std::string who;  // "engine", "engine (machine)", "kafka-streams", "postgres"
  double offered_per_s = 0;
  double achieved_per_s = 0;
  int64_t samples = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  // False if the engine never caught up with the offered rate (the
  // percentiles then cover every record after the warm-up).
  bool steady = true;
  // The engine's runs only: where a record's latency went, by stage of its
  // batch's path (KafkaEngine::CommittedBatch), with each stage's p50 and
  // p99 over the measured records and its mean over those whose whole
  // latency is at or above the p99 (the tail).
  struct Stage {
    std::string name;
    double p50_ms = 0, p99_ms = 0, tail_mean_ms = 0;
  };
  std::vector<Stage> stages;
};

// What the engine did per input record in a catch-up run (from
// KafkaEngine::Stats): the shape that the RocksDB limit and the null
// pipeline reproduce, and the cost figures of the issue (RocksDB writes and
// output records per event).
struct RecordShape {
  int64_t records = 0;  // input records the figures are over
  // Per column family: its name, puts and deletes per input record, and the
  // average key and value size of a put.
  struct Family {
    std::string name;
    double puts_per_record = 0, deletes_per_record = 0, key_bytes = 0, value_bytes = 0;
  };
  std::vector<Family> families;
  double batches_per_record = 0;       // store writes (one per batch)
  double outputs_per_record = 0;       // Kafka records produced
  double output_value_bytes = 0;       // their average value size
  double transactions_per_record = 0;  // output transactions
  double puts_per_record() const;
  double deletes_per_record() const;
  double records_per_batch() const { return batches_per_record > 0 ? 1 / batches_per_record : 0; }
  double records_per_transaction() const {
    return transactions_per_record > 0 ? 1 / transactions_per_record : 0;
  }
};

struct PeerResult {
  std::string name;  // "kafka-streams", "postgres"
  double events_per_s = 0;
  std::optional<LatencyRun> latency;      // the peer at half its catch-up rate
  std::optional<LatencyRun> engine_same;  // the engine at that same offered rate
  std::string error;                      // non-empty: the peer failed; why
};

// One restore of the restore phase (loyalty_bench.cc, RestorePhase): a
// fresh `loyaltyd run` with an empty data directory and the backup
// directory of the engine it replaces. Times are from its start (spawn).
struct RestoreRun {
  double restored_s = 0;          // to the last partition's "partition restored from a backup"
  double restore_max_s = 0;       // the longest partition restore (copy, verify, open), its log
  double restore_sum_s = 0;       // all partitions' restores, added
  double first_output_s = 0;      // to the first output it committed (read_committed probe)
  double caught_up_s = 0;         // to every partition applied through the input's end
  double kill_to_first_output_s = 0;  // the same first output, from the kill -9
  int64_t reapplied_records = 0;  // input records from the backups' offsets to the kill
  int64_t applied_records = 0;    // what it applied ("partition restore done" records)
  double wipe_s = 0;              // deleting the killed engine's data directory
  int restored_partitions = 0;
};

// The restore phase: kill, wipe, restore, catch up (issue 14).
struct RestoreResult {
  int64_t backlog_records = 0;  // applied and backed up by the first engine
  int64_t tail_records = 0;     // produced after the backup, applied, lost with the host
  int64_t probe_records = 0;    // produced after each kill: the new engine's first outputs
  double drain_s = 0;           // the first engine: start to the backlog applied
  // The backups, taken when the first engine was stopped (SIGTERM, every
  // partition revoked): SIGTERM to exit, and each partition's backup.
  double backup_stop_s = 0;
  double backup_max_s = 0, backup_sum_s = 0;
  int backups = 0;
  int64_t backup_dir_bytes = 0;   // every file once (BackupEngine shares table files)
  int64_t backup_files = 0;
  int64_t store_bytes = 0;        // the first engine's data directory when it stopped
  std::vector<int64_t> backup_offsets;  // the newest backup's next offset, by partition
  std::vector<RestoreRun> runs;
  // The last restored engine's stop: its incremental backups (SIGTERM to
  // exit, and the backup directory afterwards).
  double incremental_stop_s = 0;
  double incremental_max_s = 0;
  int64_t backup_dir_bytes_after = 0;
  std::string error;
};

struct Results {
  // Configuration.
  std::string started_utc;
  uint64_t seed = 0;
  int64_t events = 0, members = 0, records = 0;
  double zipf_exponent = 0;
  int partitions = 0, workers = 0;
  int64_t batch_records_max = 0;
  int commit_interval_ms = 0, batch_wait_ms = 0;
  // The engine's memory budgets (--members-cached, --block-cache-mb,
  // --memtable-mb).
  int64_t members_cached = 0, block_cache_mb = 0, memtable_mb = 0;
  int runs = 0;
  bool quick = false;
  std::string machine;  // cores, memory, kernel
  // Producing the backlog.
  double produce_per_s = 0;
  // What the engine's first catch-up run did per input record.
  RecordShape shape;
  // Physical limits.
  std::vector<double> raw_consume_per_s;    // one per run
  std::vector<double> rocksdb_write_per_s;  // one per run: records/s of the engine's write shape
  double rocksdb_ops_per_event = 0;         // writes per record in that shape
  // The null pipeline (bench/null_pipeline.h) in the engine's shape: its
  // catch-up runs, the batch size it was given (the engine's average) and
  // what its first run did per record (to compare with `shape`).
  std::vector<CatchUpRun> null_catch_up;
  int64_t null_batch_records_max = 0;
  RecordShape null_shape;
  // The engine, --durability=process.
  std::vector<CatchUpRun> catch_up;
  std::vector<LatencyRun> latency;
  double bytes_on_disk_per_event = 0;
  std::optional<double> recovery_s;
  std::string recovery_error;
  // --durability=machine.
  std::vector<CatchUpRun> catch_up_machine;
  std::vector<LatencyRun> latency_machine;
  // Peers.
  std::vector<PeerResult> peers;
  // Restore after a lost host (issue 14).
  std::optional<RestoreResult> restore;
};

double Median(std::vector<double> v);
double MedianCatchUp(const std::vector<CatchUpRun>& runs);

std::string RenderJson(const Results& r);
std::string RenderMarkdown(const Results& r);
std::string RenderHtml(const Results& r);

}  // namespace loyalty::bench

#endif  // LOYALTY_BENCH_BENCH_REPORT_H_
