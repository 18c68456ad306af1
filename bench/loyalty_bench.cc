// loyalty-bench: how fast the engine is on this machine, next to the
// physical limits and the peers, on the SPEC §9 workload (bench/README.md,
// docs/PERFORMANCE.md). One command; scripts/bench.sh starts the broker and
// PostgreSQL and runs it.
#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_kafka.h"
#include "bench/bench_report.h"
#include "bench/null_pipeline.h"
#include "bench/shaped_writes.h"
#include "bench/workload.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"
#include "cmd/flags.h"
#include "cmd/kafka_flags.h"
#include "engine/store/backup.h"
#include "engine/store/store.h"

namespace loyalty::bench {
namespace {

constexpr char kUsage[] =
    R"(loyalty-bench: the engine's throughput, latency, recovery and cost on this
machine, next to the physical limits and the peers (SPEC §9)

Usage: loyalty-bench --brokers=HOST:PORT [options]
       scripts/bench.sh [options]      # starts the broker and PostgreSQL, then this

  --brokers=LIST        a real Kafka broker (required; deploy/kafka/kafka.sh start)
  --out=DIR             results.json, summary.md and chart.html go here
                        (default bench-results)
  --events=N            workload events (default 10000000)
  --members=N           member ids, Zipf-distributed (default 1000000)
  --zipf-exponent=X     the Zipf exponent s (default 0.99, YCSB's)
  --bad-permille=N      bad records per thousand, for the DLQ (default 10)
  --seed=N              workload seed (default 1)
  --partitions=N        partitions of every topic (default 8)
  --workers=N           engine worker threads (default 2)
  --batch-size=N        records per engine batch at most (default 4096)
  --commit-interval-ms=N  a partition starts an output transaction at most
                        every N ms, in the engine and the null pipeline
                        (0..60000, default: the engine's)
  --batch-wait-ms=N     the engine closes a partition's batch when its first
                        record has waited N ms and its worker has room
                        (0..10000, default: the engine's)
  --members-cached=N, --block-cache-mb=N, --memtable-mb=N  the engine's
                        memory budgets, as loyaltyd's (default: the
                        engine's); the null pipeline gets the same RocksDB
                        budgets
  --runs=N              catch-up runs of the engine; the median is reported (default 3)
  --null-runs=N         catch-up runs of the null pipeline, alternated with
                        the engine's (0: none; default: --runs)
  --rates=LIST          offered rates for the latency runs: fractions of the
                        catch-up median (0.25) or absolute events/s (100000)
                        (default 0.25,0.5,0.75)
  --rate-seconds=N      length of each latency run (default 20)
  --warmup-seconds=N    records produced in the first N s of a latency run
                        are not measured (default 3)
  --machine=on|off      also the --durability=machine figures: one catch-up
                        run and one latency run (default on)
  --recovery=on|off     the kill -9 recovery run (default on)
  --peers=LIST          kafka-streams,postgres, or none (default both)
  --restore=on|off|only the restore after a lost host (issue 14; default on):
                        a loyaltyd run with --backup-dir applies the backlog and
                        is stopped (its backups), restarted, given a tail, killed
                        with -9 and its data directory deleted; a new one
                        restores from the backups and catches up. only: this
                        phase and nothing else (no catch-up runs, limits,
                        latency, recovery, machine or peers)
  --restore-tail=N      records produced after the backups and lost with the
                        host, re-applied by the restore (default: 5% of the
                        backlog's records)
  --restore-runs=N      restores from the same backups, each by a fresh engine
                        after a kill -9 and a wipe (default: --runs)
  --pg=CONNINFO         PostgreSQL of the postgres peer
                        (default "host=127.0.0.1 port=19992 dbname=loyalty user=postgres")
  --loyaltyd=PATH       the engine binary for the recovery and restore runs
                        (default: next to this binary, ../cmd/loyaltyd)
  --pg-peer=PATH        default: ./peers/postgres/pg_peer next to this binary
  --kstreams=PATH       the Kafka Streams peer's run.sh (default: in the source tree)
  --program=PATH        the program of the workload (default programs/cafe.textproto)
  --quick               small sizes for CI: 20000 events, 10000 members, 1 run
                        (engine and null pipeline), 4 s latency runs (the
                        figures mean nothing; the code runs)
  --help                this text

The engine runs in this process for the catch-up and latency runs (so its
commit callback timestamps every record) and as a child `loyaltyd run` for
the recovery and restore runs. The null pipeline (SPEC §9 (a): the same consume, RocksDB
writes and transactional outputs per record as the engine's first catch-up
run measured, no business logic) runs in this process too, after each engine
catch-up run. Peers run as child processes. Progress goes to stderr: a bar on
a terminal, a line every 5 s otherwise. Each run's output topics and stores
are deleted when it ends, and every topic of the invocation at the end.
)";

struct Config {
  std::string brokers, out_dir, pg, loyaltyd, pg_peer, kstreams, program;
  WorkloadOptions workload;  // workload.partitions: partitions of every topic
  int workers = 2, runs = 3, null_runs = 3;
  int64_t batch = 4096;
  int commit_interval_ms = KafkaEngine::Options().commit_interval_ms;
  int batch_wait_ms = KafkaEngine::Options().batch_wait_ms;
  // The engine's memory budgets (--members-cached, --block-cache-mb,
  // --memtable-mb); only those fields are read.
  KafkaEngine::Options budgets;
  // Offered rates of the latency runs: <= 1 a fraction of the catch-up
  // median, else absolute events/s (ResolveRate).
  std::vector<double> rates;
  double rate_seconds = 20, warmup_seconds = 3;
  bool machine = true, recovery = true, kstreams_peer = true, postgres_peer = true, quick = false;
  // The restore phase (--restore): on, and only it (--restore=only).
  bool restore = true, restore_only = false;
  int64_t restore_tail = 0;  // records; 0: 5% of the backlog's
  int restore_runs = 1;
  std::string tag;  // unique per invocation: topic and group names
};

int Fail(const std::string& message) {
  std::cerr << "loyalty-bench: " << message << "\n";
  return 2;
}

// --- progress -------------------------------------------------------------

class Progress {
 public:
  explicit Progress(std::string phase) : phase_(std::move(phase)), tty_(isatty(2) != 0) {
    std::fprintf(stderr, "loyalty-bench: %s\n", phase_.c_str());
  }
  ~Progress() {
    if (tty_ && drawn_) std::fprintf(stderr, "\n");
  }
  void Update(int64_t done, int64_t total, double per_s) {
    const double now = MonoSeconds();
    if (now - last_ < (tty_ ? 0.2 : 5.0)) return;
    last_ = now;
    const double f = total > 0 ? std::min(1.0, static_cast<double>(done) / total) : 0;
    const int filled = static_cast<int>(f * 30);
    if (tty_) {
      std::fprintf(stderr, "\r  [%s%s] %5.1f%% %lld/%lld  %.0f/s   ",
                   std::string(filled, '#').c_str(), std::string(30 - filled, '.').c_str(), 100 * f,
                   static_cast<long long>(done), static_cast<long long>(total), per_s);
      drawn_ = true;
    } else {
      std::fprintf(stderr, "  %s: %lld/%lld (%.1f%%) %.0f/s\n", phase_.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total), 100 * f, per_s);
    }
  }

 private:
  std::string phase_;
  bool tty_;
  bool drawn_ = false;
  double last_ = 0;
};

// --- process accounting ---------------------------------------------------

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Peak RSS (VmHWM) of this process since the last ResetPeakRss, in bytes.
int64_t PeakRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      int64_t kib = 0;
      std::istringstream(line.substr(6)) >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

// Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so that
// the peak covers the engine phase only, not the producing before it. Memory
// that earlier runs freed goes back to the system first (malloc_trim), or it
// would count in every later run's peak.
void ResetPeakRss() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

int64_t DirBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
  }
  return total;
}

std::string MachineLine() {
  utsname u{};
  uname(&u);
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return absl::StrFormat("%d cores, %.0f GiB, %s %s", std::thread::hardware_concurrency(),
                         static_cast<double>(pages) * static_cast<double>(page) / (1 << 30),
                         u.sysname, u.release);
}

// --- child processes ------------------------------------------------------

// Starts `argv` with stderr appended to `log_path`, and stdout too unless
// `stdout_path` names a file of its own (truncated). With `own_group` the
// child leads a new process group, which Stop signals as a whole.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path,
            const std::string& stdout_path = "", bool own_group = true) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!stdout_path.empty()) {
      const int fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        close(fd);
      }
    }
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      if (stdout_path.empty()) dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (own_group) setpgid(0, 0);  // a kill reaches the JVM under run.sh too
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  if (pid > 0 && own_group) setpgid(pid, pid);
  return pid;
}

// Waits up to `timeout_s` for the child, then SIGKILLs it (its group if
// `group`); its exit status. *killed: whether it ran over.
int WaitOrKill(pid_t pid, double timeout_s, bool group, bool* killed = nullptr) {
  const double deadline = MonoSeconds() + timeout_s;
  int status = 0;
  if (killed != nullptr) *killed = false;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (MonoSeconds() > deadline) {
      kill(group ? -pid : pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (killed != nullptr) *killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status;
}

// SIGTERM to the child's group, SIGKILL after `grace_s`; its exit status.
int Stop(pid_t pid, double grace_s) {
  kill(-pid, SIGTERM);
  return WaitOrKill(pid, grace_s, /*group=*/true);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The number after "key": in a one-line JSON object (the peers' results).
std::optional<double> JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.rfind(absl::StrCat("\"", key, "\":"));
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// The workload of a run at `rate` for `seconds`: the configured one, made
// longer if it would run out before the end.
WorkloadOptions WorkloadFor(const Config& c, double rate, double seconds) {
  WorkloadOptions o = c.workload;
  o.events = std::max<int64_t>(o.events, static_cast<int64_t>(rate * seconds * 1.1) + 1);
  return o;
}

// --- catch-up accounting -------------------------------------------------

// Waits until `committed()` reaches `records`. Fails with `stopped()` when
// that is not OK (the pipeline ended), or after `idle_s` without progress.
absl::Status WaitForCommits(const std::function<int64_t()>& committed,
                            const std::function<absl::Status()>& stopped, int64_t records,
                            double idle_s, Progress* progress) {
  int64_t last = -1;
  double last_change = MonoSeconds();
  const double start = MonoSeconds();
  for (int64_t now_committed = committed(); now_committed < records; now_committed = committed()) {
    LOYALTY_RETURN_IF_ERROR(stopped());
    if (now_committed != last) {
      last = now_committed;
      last_change = MonoSeconds();
    } else if (MonoSeconds() - last_change > idle_s) {
      return absl::DeadlineExceededError(
          absl::StrCat("no commit for ", idle_s, " s at ", now_committed, " of ", records));
    }
    if (progress) {
      progress->Update(now_committed, records,
                       static_cast<double>(now_committed) / std::max(1e-3, MonoSeconds() - start));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::OkStatus();
}

// Records committed over time in a catch-up run: the throughput from the
// first commit to the last (the records of the first commit not counted,
// since its start is not seen) and records per second after the first.
// Thread-safe.
class CommitTimeline {
 public:
  void Add(int64_t now_ms, int64_t records) {
    std::lock_guard<std::mutex> lock(mu_);
    committed_ += records;
    if (first_ms_ == 0) {
      first_ms_ = now_ms;
    } else {
      after_first_ += records;
    }
    last_ms_ = now_ms;
    const auto second = static_cast<size_t>((now_ms - first_ms_) / 1000);
    if (per_second_.size() <= second) per_second_.resize(second + 1, 0);
    per_second_[second] += static_cast<double>(records);
  }

  int64_t committed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return committed_;
  }

  // Fills `run`'s seconds, events_per_s and per_second (the last, partial
  // second left out).
  void Fill(CatchUpRun* run) const {
    std::lock_guard<std::mutex> lock(mu_);
    run->seconds = static_cast<double>(last_ms_ - first_ms_) / 1000;
    run->events_per_s = run->seconds > 0 ? static_cast<double>(after_first_) / run->seconds : 0;
    run->per_second = per_second_;
    if (!run->per_second.empty()) run->per_second.pop_back();
  }

 private:
  mutable std::mutex mu_;
  int64_t committed_ = 0, first_ms_ = 0, last_ms_ = 0, after_first_ = 0;
  std::vector<double> per_second_;
};

// The topics of a run named `name` (EngineTopics), and its input topic
// bench.<tag>.<name>.events for the runs that have their own: deleted when
// the run ends, so that a 10^7-event run does not fill the disk with
// outputs. A failure is only reported.
void DeleteRunTopics(const Config& c, const std::string& name, bool own_input) {
  const std::string p = absl::StrCat("bench.", c.tag, ".", name);
  std::vector<std::string> topics = {p + ".balances", p + ".ledger", p + ".outcomes", p + ".dlq"};
  if (own_input) topics.push_back(p + ".events");
  const absl::Status s = DeleteTopics(c.brokers, topics);
  if (!s.ok()) std::cerr << "loyalty-bench: deleting the topics of " << name << ": " << s << "\n";
}

// Creates the topics of a run, and waits until the broker leads every
// partition of its input: KafkaEngine's partition open asks for the input's
// watermarks once and stops the engine on NOT_LEADER_FOR_PARTITION, which a
// topic created a moment before still answers.
absl::Status EnsureRunTopics(const Config& c, const Topics& topics) {
  LOYALTY_RETURN_IF_ERROR(EnsureTopics(c.brokers, topics, c.workload.partitions, 30'000));
  return WaitForLeaders(c.brokers, topics.events, 30'000);
}

// --- the engine, in this process ------------------------------------------

Topics EngineTopics(const Config& c, const std::string& events_topic, const std::string& name) {
  Topics t;
  t.events = events_topic;
  const std::string p = absl::StrCat("bench.", c.tag, ".", name);
  t.balances = p + ".balances";
  t.ledger = p + ".ledger";
  t.outcomes = p + ".outcomes";
  t.dlq = p + ".dlq";
  return t;
}

// Runs KafkaEngine on `topics` until `done()` or no commit for `idle_s`;
// commits are reported to `on_commit(now_ms, timestamps)`.
class EngineUnderTest {
 public:
  EngineUnderTest(const Config& c, const ProgramSet* programs, const Topics& topics,
                  const std::string& name, bool sync_writes)
      : data_dir_(absl::StrCat(c.out_dir, "/work/", name)) {
    std::filesystem::remove_all(data_dir_);
    std::filesystem::create_directories(data_dir_);
    options_.brokers = c.brokers;
    options_.topics = topics;
    options_.group_id = absl::StrCat("bench.", c.tag, ".", name);
    options_.data_dir = data_dir_;
    options_.workers = c.workers;
    options_.batch_records_max = c.batch;
    options_.commit_interval_ms = c.commit_interval_ms;
    options_.batch_wait_ms = c.batch_wait_ms;
    options_.members_cached_max = c.budgets.members_cached_max;
    options_.block_cache_bytes = c.budgets.block_cache_bytes;
    options_.memtable_bytes = c.budgets.memtable_bytes;
    options_.sync_writes = sync_writes;
    programs_ = programs;
    options_.on_committed = [this](const KafkaEngine::CommittedBatch& b) {
      committed_.fetch_add(static_cast<int64_t>(b.timestamps_ms->size()));
      std::lock_guard<std::mutex> lock(mu_);
      if (on_commit_) on_commit_(b);
    };
  }

  void OnCommit(std::function<void(const KafkaEngine::CommittedBatch&)> f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_commit_ = std::move(f);
  }

  absl::Status Start() {
    auto engine = KafkaEngine::Create(programs_, options_);
    if (!engine.ok()) return engine.status();
    engine_ = std::move(*engine);
    runner_ = std::thread([this] {
      result_ = engine_->Run(stop_);
      finished_ = true;
    });
    return absl::OkStatus();
  }

  absl::Status WaitOwned(int partitions, double timeout_s) {
    const double deadline = MonoSeconds() + timeout_s;
    while (engine_->owned_partitions() < partitions) {
      if (MonoSeconds() > deadline)
        return absl::DeadlineExceededError("engine never owned all partitions");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::OkStatus();
  }

  // Waits until `records` are committed; fails after `idle_s` without progress.
  absl::Status WaitCommitted(int64_t records, double idle_s, Progress* progress) {
    return WaitForCommits([this] { return committed_.load(); },
                          [this] {
                            return finished_.load() ? absl::AbortedError(absl::StrCat(
                                                          "engine stopped: ", result_.ToString()))
                                                    : absl::OkStatus();
                          },
                          records, idle_s, progress);
  }

  KafkaEngine::Stats stats() const { return engine_->stats(); }

  absl::Status Finish() {
    stop_ = true;
    if (runner_.joinable()) runner_.join();
    engine_.reset();
    return result_;
  }

  // Stops the engine and deletes its stores (runs of 10^7 events are GBs).
  ~EngineUnderTest() {
    (void)Finish();
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }
  const std::string& data_dir() const { return data_dir_; }

 private:
  KafkaEngine::Options options_;
  const ProgramSet* programs_ = nullptr;
  std::string data_dir_;
  std::unique_ptr<KafkaEngine> engine_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int64_t> committed_{0};
  absl::Status result_;
  std::thread runner_;
  std::mutex mu_;
  std::function<void(const KafkaEngine::CommittedBatch&)> on_commit_;
};

// Compacts every store under `data_dir` (p-NNNN) and returns its bytes.
absl::StatusOr<int64_t> CompactedBytes(const std::string& data_dir) {
  for (const auto& e : std::filesystem::directory_iterator(data_dir)) {
    if (!e.is_directory() || e.path().filename().string().rfind("p-", 0) != 0) continue;
    StoreOptions o;
    o.create_if_missing = false;
    LOYALTY_ASSIGN_OR_RETURN(auto store, PartitionStore::Open(e.path().string(), o));
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
      rocksdb::Status s =
          store->db()->CompactRange(cro, store->cf(static_cast<Cf>(cf)), nullptr, nullptr);
      if (!s.ok())
        return absl::InternalError(
            absl::StrCat("compacting ", e.path().string(), ": ", s.ToString()));
    }
  }
  return DirBytes(data_dir);
}

// What a pipeline did per input record, from its counts since it started
// (KafkaEngine::Stats, NullPipeline::Stats). Key bytes are per write (the
// store counts a delete's key too), value bytes per put.
RecordShape ShapeOf(int64_t records_in, int64_t batches, const WriteShape& writes,
                    int64_t kafka_records, int64_t kafka_bytes, int64_t transactions) {
  RecordShape shape;
  shape.records = records_in;
  const double records = static_cast<double>(std::max<int64_t>(1, records_in));
  for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
    RecordShape::Family f;
    f.name = CfName(static_cast<Cf>(cf));
    const double puts = static_cast<double>(writes.puts[cf]);
    const double deletes = static_cast<double>(writes.deletes[cf]);
    f.puts_per_record = puts / records;
    f.deletes_per_record = deletes / records;
    if (puts + deletes > 0)
      f.key_bytes = static_cast<double>(writes.key_bytes[cf]) / (puts + deletes);
    if (puts > 0) f.value_bytes = static_cast<double>(writes.value_bytes[cf]) / puts;
    shape.families.push_back(f);
  }
  shape.batches_per_record = static_cast<double>(batches) / records;
  shape.outputs_per_record = static_cast<double>(kafka_records) / records;
  if (kafka_records > 0) {
    shape.output_value_bytes =
        static_cast<double>(kafka_bytes) / static_cast<double>(kafka_records);
  }
  shape.transactions_per_record = static_cast<double>(transactions) / records;
  return shape;
}

RecordShape ShapeOf(const KafkaEngine::Stats& st) {
  return ShapeOf(st.records, st.batches, st.writes, st.kafka_records, st.kafka_bytes,
                 st.transactions);
}

RecordShape ShapeOf(const NullPipeline::Stats& st) {
  return ShapeOf(st.records, st.batches, st.writes, st.kafka_records, st.kafka_bytes,
                 st.transactions);
}

absl::StatusOr<CatchUpRun> EngineCatchUp(const Config& c, const ProgramSet* programs,
                                         const std::string& backlog, int64_t records,
                                         const std::string& name, bool sync_writes,
                                         double* disk_bytes_per_event, RecordShape* shape) {
  const Topics topics = EngineTopics(c, backlog, name);
  LOYALTY_RETURN_IF_ERROR(EnsureRunTopics(c, topics));
  CommitTimeline timeline;
  CatchUpRun run;
  {
    EngineUnderTest engine(c, programs, topics, name, sync_writes);
    engine.OnCommit([&](const KafkaEngine::CommittedBatch& b) {
      timeline.Add(b.committed_ms, static_cast<int64_t>(b.timestamps_ms->size()));
    });
    ResetPeakRss();
    const double cpu0 = CpuSeconds();
    LOYALTY_RETURN_IF_ERROR(engine.Start());
    {
      Progress progress(absl::StrCat("engine catch-up (", name, ") of ", records, " records"));
      LOYALTY_RETURN_IF_ERROR(engine.WaitCommitted(records, 120, &progress));
    }
    run.cpu_s_per_m = (CpuSeconds() - cpu0) / static_cast<double>(records) * 1e6;
    run.peak_rss_bytes = PeakRssBytes();
    if (shape != nullptr) *shape = ShapeOf(engine.stats());
    LOYALTY_RETURN_IF_ERROR(engine.Finish());
    if (disk_bytes_per_event != nullptr) {
      std::fprintf(stderr, "loyalty-bench: compacting the stores of %s\n", name.c_str());
      LOYALTY_ASSIGN_OR_RETURN(int64_t bytes, CompactedBytes(engine.data_dir()));
      *disk_bytes_per_event = static_cast<double>(bytes) / static_cast<double>(records);
    }
  }  // the stores are deleted here
  DeleteRunTopics(c, name, /*own_input=*/false);
  run.records = records;
  timeline.Fill(&run);
  std::fprintf(stderr, "  %s: %.0f records/s over %.1f s, %.1f CPU s per 10^6, peak RSS %.0f MiB\n",
               name.c_str(), run.events_per_s, run.seconds, run.cpu_s_per_m,
               static_cast<double>(run.peak_rss_bytes) / (1 << 20));
  return run;
}

// --- the null pipeline, in this process -----------------------------------

// Bytes that the null pipeline's and the RocksDB limit's values are cut
// from: 8 MiB of serialized events of the workload (another seed), protobuf
// bytes nearer the engine's values than random ones when RocksDB
// compresses them (LZ4, ZSTD at the bottom level).
std::shared_ptr<const std::string> ValuePool(const Config& c) {
  WorkloadOptions o = c.workload;
  o.seed += 1'000'003;
  o.events = int64_t{1} << 20;
  o.bad_permille = 0;
  Workload workload(o);
  auto pool = std::make_shared<std::string>();
  pool->reserve(size_t{8} << 20);
  WorkloadRecord r;
  while (pool->size() < (size_t{8} << 20) && workload.Next(&r)) pool->append(r.value);
  return pool;
}

// The null pipeline's batch size: the engine's average batch in `shape`
// (its batches close by size or by deadline), at most --batch-size.
int64_t NullBatchRecords(const Config& c, const RecordShape& shape) {
  const double engine = shape.records_per_batch();
  if (engine <= 0) return c.batch;
  return std::clamp<int64_t>(std::llround(engine), 1, c.batch);
}

// One catch-up of the null pipeline (bench/null_pipeline.h) over `backlog`,
// in the engine's `shape`, measured like EngineCatchUp: first commit to
// last, CPU and peak RSS of this process. *null_shape (if not null): what it
// did per record. Its stores and output topics are deleted afterwards.
//
// Its batches close at the engine's average batch (NullBatchRecords); the
// deadline only closes the backlog's tail (NullPipeline::Options): the
// engine's catch-up batches are cut short by its 20 ms deadline while its
// consumer waits for a worker's queue, and a batch capped at their average
// and cut the same way would come out smaller still.
absl::StatusOr<CatchUpRun> NullCatchUp(const Config& c, const RecordShape& shape,
                                       const std::shared_ptr<const std::string>& pool,
                                       const std::string& backlog, int64_t records,
                                       const std::string& name, RecordShape* null_shape) {
  const Topics topics = EngineTopics(c, backlog, name);
  LOYALTY_RETURN_IF_ERROR(EnsureRunTopics(c, topics));
  const std::string data_dir = absl::StrCat(c.out_dir, "/work/", name);
  std::filesystem::remove_all(data_dir);
  CommitTimeline timeline;
  NullPipeline::Options o;
  o.brokers = c.brokers;
  o.input_topic = backlog;
  o.output_topics = {topics.outcomes, topics.balances};  // as the engine's outputs
  o.group_id = absl::StrCat("bench.", c.tag, ".", name);
  o.data_dir = data_dir;
  o.shape = shape;
  o.workers = c.workers;
  o.batch_records_max = NullBatchRecords(c, shape);
  o.commit_interval_ms = c.commit_interval_ms;
  o.block_cache_bytes = c.budgets.block_cache_bytes;
  o.memtable_bytes = c.budgets.memtable_bytes;
  o.value_pool = pool;
  o.on_committed = [&timeline](int32_t, int64_t n) { timeline.Add(WallMs(), n); };
  CatchUpRun run;
  run.records = records;
  absl::Status waited, result;
  {
    ResetPeakRss();
    const double cpu0 = CpuSeconds();
    LOYALTY_ASSIGN_OR_RETURN(auto pipeline, NullPipeline::Create(o));
    std::atomic<bool> stop{false}, finished{false};
    std::thread runner([&] {
      result = pipeline->Run(stop);
      finished = true;
    });
    {
      Progress progress(absl::StrCat("null pipeline catch-up (", name, ") of ", records,
                                     " records in batches of ", o.batch_records_max));
      waited = WaitForCommits([&] { return timeline.committed(); },
                              [&] {
                                return finished.load()
                                           ? absl::AbortedError(absl::StrCat(
                                                 "null pipeline stopped: ", result.ToString()))
                                           : absl::OkStatus();
                              },
                              records, 120, &progress);
    }
    run.cpu_s_per_m = (CpuSeconds() - cpu0) / static_cast<double>(records) * 1e6;
    run.peak_rss_bytes = PeakRssBytes();
    if (null_shape != nullptr) *null_shape = ShapeOf(pipeline->stats());
    stop = true;
    runner.join();
  }
  std::error_code ec;
  std::filesystem::remove_all(data_dir, ec);
  DeleteRunTopics(c, name, /*own_input=*/false);
  LOYALTY_RETURN_IF_ERROR(waited);
  LOYALTY_RETURN_IF_ERROR(result);
  timeline.Fill(&run);
  std::fprintf(stderr, "  %s: %.0f records/s over %.1f s, %.1f CPU s per 10^6, peak RSS %.0f MiB\n",
               name.c_str(), run.events_per_s, run.seconds, run.cpu_s_per_m,
               static_cast<double>(run.peak_rss_bytes) / (1 << 20));
  return run;
}

// A latency run at `rate` offered: what was produced, and the percentiles of
// `latencies` (reordered).
LatencyRun MakeLatencyRun(const std::string& who, double rate, const ProduceResult& produced,
                          std::vector<int64_t>* latencies) {
  LatencyRun run;
  run.who = who;
  run.offered_per_s = rate;
  run.achieved_per_s = static_cast<double>(produced.records) / produced.seconds;
  run.samples = static_cast<int64_t>(latencies->size());
  run.p50_ms = Percentile(latencies, 0.50);
  run.p99_ms = Percentile(latencies, 0.99);
  run.p999_ms = Percentile(latencies, 0.999);
  return run;
}

// The stages of KafkaEngine::CommittedBatch, in order; their sum is a
// record's latency.
constexpr int kLatencyStages = 5;
constexpr const char* kLatencyStageNames[kLatencyStages] = {
    "produced → dispatched to a worker (broker, consume, batch wait)",
    "dispatched → worker started (the worker's queue)",
    "worker started → applied (apply, store write)",
    "applied → transaction started (commit interval, publishing queue)",
    "transaction started → committed",
};

// The latency of every record an engine run commits, by stage, and when the
// run reached its steady state: after the warm-up, less than a quarter
// second of input behind (joining the group, fencing and opening the stores
// leave a backlog at the start that says nothing about the offered rate).
// Only records produced from then on are measured. Thread-safe.
class LatencySamples {
 public:
  explicit LatencySamples(double rate) : rate_(rate) {}

  // The run's commit callback (EngineUnderTest::OnCommit).
  void Add(const KafkaEngine::CommittedBatch& b) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = b.committed_ms;
    committed_ += static_cast<int64_t>(b.timestamps_ms->size());
    if (measure_from_.load() == INT64_MAX && now >= warm_until_.load() &&
        static_cast<double>(produced_now_.load() - committed_) <= rate_ / 4) {
      measure_from_ = now;
    }
    for (int64_t t : *b.timestamps_ms) {
      samples_.push_back(
          {t,
           {b.dispatched_ms - t, b.started_ms - b.dispatched_ms, b.applied_ms - b.started_ms,
            b.publishing_ms - b.applied_ms, b.committed_ms - b.publishing_ms}});
    }
  }
  // Where ProducePaced counts the records it produced.
  std::atomic<int64_t>* produced_now() { return &produced_now_; }
  void WarmUntil(int64_t wall_ms) { warm_until_ = wall_ms; }
  // Called when producing ends: whether the steady state was reached. If
  // not, everything after the warm-up counts.
  bool EndProducing() {
    const bool steady = measure_from_.load() != INT64_MAX;
    if (!steady) measure_from_ = warm_until_.load();
    return steady;
  }
  // The measured records' percentiles, and where their time went.
  LatencyRun Summarize(const std::string& who, const ProduceResult& produced) const;

 private:
  struct Sample {
    int64_t t;  // the record's Kafka timestamp
    int64_t stage_ms[kLatencyStages];
  };

  const double rate_;
  mutable std::mutex mu_;
  std::vector<Sample> samples_;
  int64_t committed_ = 0;
  std::atomic<int64_t> measure_from_{INT64_MAX};
  std::atomic<int64_t> warm_until_{INT64_MAX};
  std::atomic<int64_t> produced_now_{0};
};

LatencyRun LatencySamples::Summarize(const std::string& who, const ProduceResult& produced) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const Sample*> measured;
  std::vector<int64_t> totals;  // each measured record's latency
  for (const Sample& s : samples_) {
    if (s.t < measure_from_.load()) continue;
    measured.push_back(&s);
    totals.push_back(std::accumulate(std::begin(s.stage_ms), std::end(s.stage_ms), int64_t{0}));
  }
  std::vector<int64_t> latencies = totals;
  LatencyRun run = MakeLatencyRun(who, rate_, produced, &latencies);
  // Where the time went: each stage's percentiles, and its mean over the
  // records whose whole latency is at or above the p99 (the tail).
  for (int i = 0; i < kLatencyStages; ++i) {
    std::vector<int64_t> v;
    v.reserve(measured.size());
    double tail_sum = 0;
    int64_t tail_n = 0;
    for (size_t k = 0; k < measured.size(); ++k) {
      v.push_back(measured[k]->stage_ms[i]);
      if (static_cast<double>(totals[k]) >= run.p99_ms) {
        tail_sum += static_cast<double>(measured[k]->stage_ms[i]);
        ++tail_n;
      }
    }
    LatencyRun::Stage stage;
    stage.name = kLatencyStageNames[i];
    stage.p50_ms = Percentile(&v, 0.50);
    stage.p99_ms = Percentile(&v, 0.99);
    stage.tail_mean_ms = tail_n > 0 ? tail_sum / static_cast<double>(tail_n) : 0;
    run.stages.push_back(stage);
  }
  return run;
}

absl::StatusOr<LatencyRun> MeasureEngineLatency(const Config& c, const ProgramSet* programs,
                                                double rate, const std::string& name,
                                                bool sync_writes, const std::string& who) {
  const std::string input = absl::StrCat("bench.", c.tag, ".", name, ".events");
  const Topics topics = EngineTopics(c, input, name);
  LOYALTY_RETURN_IF_ERROR(EnsureRunTopics(c, topics));
  LatencySamples samples(rate);  // outlives the engine, which reports to it
  EngineUnderTest engine(c, programs, topics, name, sync_writes);
  engine.OnCommit([&samples](const KafkaEngine::CommittedBatch& b) { samples.Add(b); });
  LOYALTY_RETURN_IF_ERROR(engine.Start());
  LOYALTY_RETURN_IF_ERROR(engine.WaitOwned(c.workload.partitions, 120));
  std::fprintf(stderr, "loyalty-bench: %s: %.0f events/s offered for %.0f s\n", who.c_str(), rate,
               c.rate_seconds);
  samples.WarmUntil(WallMs() + static_cast<int64_t>(c.warmup_seconds * 1000));
  Workload workload(WorkloadFor(c, rate, c.rate_seconds));
  std::atomic<bool> stop{false};
  LOYALTY_ASSIGN_OR_RETURN(ProduceResult produced,
                           ProducePaced(c.brokers, input, &workload, rate, c.rate_seconds, stop,
                                        samples.produced_now()));
  const bool steady = samples.EndProducing();
  LOYALTY_RETURN_IF_ERROR(engine.WaitCommitted(produced.records, 60, nullptr));
  LOYALTY_RETURN_IF_ERROR(engine.Finish());
  LatencyRun run = samples.Summarize(who, produced);
  run.steady = steady;
  std::fprintf(stderr, "  p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms (%lld samples)\n", run.p50_ms,
               run.p99_ms, run.p999_ms, static_cast<long long>(run.samples));
  return run;
}

// The engine at `rate` offered on a topic of its own, which is deleted
// afterwards with the run's outputs.
absl::StatusOr<LatencyRun> EngineLatency(const Config& c, const ProgramSet* programs, double rate,
                                         const std::string& name, bool sync_writes,
                                         const std::string& who) {
  auto run = MeasureEngineLatency(c, programs, rate, name, sync_writes, who);
  DeleteRunTopics(c, name, /*own_input=*/true);
  return run;
}

// The RocksDB limit's batch: the engine's average batch in `shape`, cut
// down to whole records (--batch-size if the shape has no batches).
int64_t LimitBatchRecords(const Config& c, const RecordShape& shape) {
  return shape.batches_per_record > 0
             ? std::max<int64_t>(1, static_cast<int64_t>(1 / shape.batches_per_record))
             : c.batch;
}

// "5.012 puts, 0.250 deletes, 160.1 key bytes and 1210.6 value bytes per
// record": what `records` records wrote.
std::string PerRecord(const WriteShape& w, int64_t records) {
  int64_t key_bytes = 0, value_bytes = 0;
  for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
    key_bytes += w.key_bytes[cf];
    value_bytes += w.value_bytes[cf];
  }
  const double n = static_cast<double>(std::max<int64_t>(1, records));
  return absl::StrFormat("%.3f puts, %.3f deletes, %.1f key bytes and %.1f value bytes per record",
                         static_cast<double>(w.total_puts()) / n,
                         static_cast<double>(w.total_deletes()) / n,
                         static_cast<double>(key_bytes) / n, static_cast<double>(value_bytes) / n);
}

// Writer `w` of the RocksDB limit: `records` records in `plan`'s shape,
// `batch_records` per write, into a store of its own (deleted afterwards).
// Adds the records of each write to *done and what it wrote to *wrote.
absl::Status WriteLimitStore(const Config& c, const std::shared_ptr<const WritePlan>& plan,
                             const std::shared_ptr<StoreResources>& resources, int w,
                             int64_t records, int64_t batch_records, bool sync,
                             std::atomic<int64_t>* done, WriteShape* wrote) {
  const std::string dir = absl::StrCat(c.out_dir, "/work/rocksdb-limit-", w);
  std::filesystem::remove_all(dir);
  StoreOptions o;
  o.sync_writes = sync;
  o.resources = resources;
  LOYALTY_ASSIGN_OR_RETURN(auto store, PartitionStore::Open(dir, o));
  // No records to take keys from: each record's keys hang under 8 random
  // bytes, its member's place in the keyspace. Writes stay in the order they
  // were made (unsorted), as this limit always wrote them.
  testing::Rng rng(c.workload.seed + static_cast<uint64_t>(w));
  ShapedBatchBuilder batch(plan, static_cast<size_t>(w) * 7919, /*sort=*/false);
  char member[8];
  for (int64_t n = 0; n < records;) {
    const int64_t first = n;
    for (int64_t k = 0; k < batch_records && n < records; ++k, ++n) {
      const uint64_t r = rng.Next();
      std::memcpy(member, &r, sizeof(member));
      batch.AddRecord(absl::string_view(member, sizeof(member)), n);
    }
    LOYALTY_RETURN_IF_ERROR(batch.Write(store.get(), first, n, sync, wrote));
    *done += n - first;
  }
  store.reset();
  std::filesystem::remove_all(dir);
  return absl::OkStatus();
}

// The physical limit of the store: the engine's write shape (`shape`: puts
// and deletes per record and column family, their key and value sizes, one
// write per batch of the engine's batch size, LimitBatchRecords) built by
// bench/shaped_writes.h as the null pipeline's are, through the engine's own
// PartitionStore (same options, WAL on), with no apply, one store per worker
// thread as the engine has. Keys are random within their family
// (member-prefixed keys land all over the keyspace, as the engine's do); the
// journal's keys ascend. Values are cut from `pool` (ValuePool).
absl::StatusOr<double> RocksDbLimit(const Config& c, const RecordShape& shape,
                                    const std::shared_ptr<const std::string>& pool, int64_t events,
                                    bool sync) {
  WritePlan::Options plan_options;
  plan_options.shape = shape;
  plan_options.batch_records_max = LimitBatchRecords(c, shape);
  plan_options.value_pool = pool;
  // The key sizes this limit has always written (cut down, at least 16
  // bytes), not the null pipeline's (nearest): its figures stay comparable.
  plan_options.key_bytes_round_down = true;
  plan_options.key_bytes_min = 16;
  LOYALTY_ASSIGN_OR_RETURN(const auto plan, WritePlan::Create(plan_options));
  const auto resources = StoreResources::Default();
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::vector<absl::Status> status(static_cast<size_t>(c.workers));
  std::vector<WriteShape> wrote(static_cast<size_t>(c.workers));
  const double start = MonoSeconds();
  {
    Progress progress(absl::StrCat(
        "RocksDB writes of the engine's shape (", absl::StrFormat("%.2f", shape.puts_per_record()),
        " puts per record), ", events, " records, ", c.workers, " stores"));
    std::vector<std::thread> threads;
    for (int w = 0; w < c.workers; ++w) {
      const int64_t mine = events / c.workers + (w < events % c.workers ? 1 : 0);
      threads.emplace_back([&, w, mine] {
        const auto i = static_cast<size_t>(w);
        status[i] = WriteLimitStore(c, plan, resources, w, mine, plan_options.batch_records_max,
                                    sync, &done, &wrote[i]);
        if (!status[i].ok()) failed = true;
      });
    }
    while (done.load() < events && !failed.load()) {
      progress.Update(done.load(), events,
                      static_cast<double>(done.load()) / std::max(1e-3, MonoSeconds() - start));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& t : threads) t.join();
  }
  const double seconds = MonoSeconds() - start;
  for (const auto& st : status) LOYALTY_RETURN_IF_ERROR(st);
  WriteShape total;
  for (const WriteShape& w : wrote) total.Add(w);
  std::fprintf(stderr, "  wrote %s\n", PerRecord(total, events).c_str());
  return static_cast<double>(events) / seconds;
}

// --- recovery: kill -9 of a loyaltyd process under load -------------------

// The command line of the recovery and restore runs' loyaltyd: this
// invocation's engine settings, on `topics`, with its stores in `data_dir`,
// in group bench.<tag>.<name> with a static instance id of its own.
std::vector<std::string> LoyaltydArgv(const Config& c, const Topics& topics,
                                      const std::string& data_dir, const std::string& name) {
  return {c.loyaltyd,
          "run",
          "--quiet",
          absl::StrCat("--brokers=", c.brokers),
          absl::StrCat("--program=", c.program),
          absl::StrCat("--data-dir=", data_dir),
          absl::StrCat("--events-topic=", topics.events),
          absl::StrCat("--balances-topic=", topics.balances),
          absl::StrCat("--ledger-topic=", topics.ledger),
          absl::StrCat("--outcomes-topic=", topics.outcomes),
          absl::StrCat("--dlq-topic=", topics.dlq),
          absl::StrCat("--group=bench.", c.tag, ".", name),
          absl::StrCat("--instance-id=bench-", c.tag, "-", name),
          absl::StrCat("--workers=", c.workers),
          absl::StrCat("--batch-size=", c.batch),
          absl::StrCat("--commit-interval-ms=", c.commit_interval_ms),
          absl::StrCat("--batch-wait-ms=", c.batch_wait_ms),
          absl::StrCat("--members-cached=", c.budgets.members_cached_max),
          absl::StrCat("--block-cache-mb=", c.budgets.block_cache_bytes >> 20),
          absl::StrCat("--memtable-mb=", c.budgets.memtable_bytes >> 20)};
}

// Once `probe` has seen loyaltyd *pid publish, lets it run `before_s` more,
// kills it with -9 and starts it again (`argv`, into *pid): the seconds from
// the kill to the first output committed after it.
absl::StatusOr<double> KillAndRestart(OutputProbe* probe, pid_t* pid,
                                      const std::vector<std::string>& argv, const std::string& log,
                                      double before_s) {
  const double deadline = MonoSeconds() + 180;
  while (probe->received() == 0 && MonoSeconds() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (probe->received() == 0) {
    return absl::DeadlineExceededError(absl::StrCat("no output from loyaltyd in 180 s; see ", log));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(before_s * 1000)));
  const int64_t kill_ms = WallMs();
  probe->WatchAfter(kill_ms);
  kill(-*pid, SIGKILL);
  waitpid(*pid, nullptr, 0);
  *pid = Spawn(argv, log);
  const double restart_deadline = MonoSeconds() + 120;
  while (probe->WatchHit() == 0 && MonoSeconds() < restart_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t hit = probe->WatchHit();
  if (hit == 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("no output 120 s after the restart; see ", log));
  }
  const double seconds = static_cast<double>(hit - kill_ms) / 1000;
  std::fprintf(stderr, "  first committed output %.2f s after kill -9\n", seconds);
  return seconds;
}

absl::StatusOr<double> MeasureRecovery(const Config& c, double rate) {
  const std::string input = absl::StrCat("bench.", c.tag, ".recovery.events");
  const Topics topics = EngineTopics(c, input, "recovery");
  LOYALTY_RETURN_IF_ERROR(EnsureRunTopics(c, topics));
  const std::string data_dir = absl::StrCat(c.out_dir, "/work/recovery");
  std::filesystem::remove_all(data_dir);
  std::filesystem::create_directories(data_dir);
  const std::string log = absl::StrCat(c.out_dir, "/work/recovery-loyaltyd.log");
  const std::vector<std::string> argv = LoyaltydArgv(c, topics, data_dir, "recovery");
  LOYALTY_ASSIGN_OR_RETURN(auto probe, OutputProbe::Start(c.brokers, topics.balances));
  pid_t pid = Spawn(argv, log);
  if (pid < 0) return absl::InternalError("fork failed");
  const double before_s = c.quick ? 4 : 10;
  std::atomic<bool> stop{false};
  // Load all along: enough events for the run before the kill and the
  // longest wait after it.
  Workload workload(WorkloadFor(c, rate, before_s + 400));
  absl::Status produce_status;
  std::thread producer([&] {
    auto r = ProducePaced(c.brokers, input, &workload, rate, 3600, stop);
    produce_status = r.status();
  });
  std::fprintf(
      stderr,
      "loyalty-bench: recovery: loyaltyd under %.0f events/s, kill -9 after %.0f s of output\n",
      rate, before_s);
  absl::StatusOr<double> result = KillAndRestart(probe.get(), &pid, argv, log, before_s);
  stop = true;
  producer.join();
  Stop(pid, 30);
  if (!produce_status.ok()) return produce_status;
  return result;
}

// Recovery after kill -9 (seconds); its topics are deleted afterwards.
absl::StatusOr<double> Recovery(const Config& c, double rate) {
  auto seconds = MeasureRecovery(c, rate);
  DeleteRunTopics(c, "recovery", /*own_input=*/true);
  std::error_code ec;
  std::filesystem::remove_all(absl::StrCat(c.out_dir, "/work/recovery"), ec);
  return seconds;
}

// --- restore after a lost host (issue 14) ----------------------------------

// A string field of a one-line JSON object, unescaped quotes not expected
// (loyaltyd's JSON log lines: ts, msg).
std::string JsonStringField(const std::string& json, const std::string& key) {
  const std::string k = absl::StrCat("\"", key, "\":\"");
  const size_t at = json.find(k);
  if (at == std::string::npos) return "";
  const size_t from = at + k.size();
  const size_t to = json.find('"', from);
  return to == std::string::npos ? "" : json.substr(from, to - from);
}

// A line of a `loyaltyd run --log-format=json` child: when (wall ms) and
// what, and the whole line for its fields (JsonNumber).
struct LogLine {
  int64_t ms = 0;
  std::string msg, text;
};

std::vector<LogLine> LogLines(const std::string& path, const std::string& msg) {
  std::vector<LogLine> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    LogLine l;
    l.msg = JsonStringField(line, "msg");
    if (!msg.empty() && l.msg != msg) continue;
    absl::Time t;
    std::string err;
    if (absl::ParseTime(absl::RFC3339_full, JsonStringField(line, "ts"), &t, &err)) {
      l.ms = absl::ToUnixMillis(t);
    }
    l.text = std::move(line);
    out.push_back(std::move(l));
  }
  return out;
}

// A loyaltyd child of the restore phase: its process (group leader), its
// log and its metrics port. Killed with -9 if still running when destroyed
// (a phase that failed half-way).
struct Loyaltyd {
  pid_t pid = -1;
  std::string log;
  int port = 0;
  int64_t started_ms = 0;  // wall ms, just before the fork

  Loyaltyd() = default;
  Loyaltyd(const Loyaltyd&) = delete;
  Loyaltyd& operator=(const Loyaltyd&) = delete;
  ~Loyaltyd() { Kill9(); }

  void Kill9() {
    if (pid <= 0) return;
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  // SIGTERM, SIGKILL after `grace_s`: whether it exited 0.
  bool Terminate(double grace_s) {
    const int status = Stop(pid, grace_s);
    pid = -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  bool Exited() {
    if (pid <= 0) return true;
    if (waitpid(pid, nullptr, WNOHANG) != pid) return false;
    pid = -1;
    return true;
  }
};

absl::Status StartLoyaltyd(const std::vector<std::string>& argv, const std::string& log,
                           Loyaltyd* d) {
  std::ofstream(log, std::ios::trunc).close();
  d->log = log;
  d->port = 0;
  d->started_ms = WallMs();
  d->pid = Spawn(argv, log);
  if (d->pid < 0) return absl::InternalError("fork failed");
  // Its metrics port (--http=127.0.0.1:0), from its "http endpoint" line.
  const double deadline = MonoSeconds() + 60;
  while (MonoSeconds() < deadline) {
    for (const LogLine& l : LogLines(log, "http endpoint")) {
      d->port = static_cast<int>(JsonNumber(l.text, "port").value_or(0));
    }
    if (d->port > 0) return absl::OkStatus();
    if (d->Exited()) return absl::AbortedError(absl::StrCat("loyaltyd exited; see ", log));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("loyaltyd never served metrics; see ", log));
}

// Per-partition samples of a loyaltyd's /metrics: name → partition → value.
using PartitionSamples = std::map<std::string, std::map<int, double>>;

absl::StatusOr<PartitionSamples> ScrapeMetrics(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(10);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) {
    return absl::UnavailableError(absl::StrCat("no /metrics on port ", port));
  }
  PartitionSamples out;
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t brace = line.find('{');
    const size_t close = line.find('}');
    const size_t label = line.find("partition=\"");
    if (brace == absl::string_view::npos || close == absl::string_view::npos ||
        label == absl::string_view::npos || label > close) {
      continue;
    }
    const size_t from = label + 11;
    const size_t to = line.find('"', from);
    int partition = 0;
    double value = 0;
    if (!absl::SimpleAtoi(line.substr(from, to - from), &partition) ||
        !absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(close + 1)), &value)) {
      continue;
    }
    out[std::string(line.substr(0, brace))][partition] = value;
  }
  return out;
}

// Waits until loyaltyd `d` has applied every partition up to `ends` (the
// input's end offsets), and with `published` also published everything it
// applied; the wall ms when it got there. Fails if it exits, or after
// `idle_s` without progress.
absl::StatusOr<int64_t> WaitApplied(Loyaltyd* d, const std::vector<int64_t>& ends, bool published,
                                    double idle_s, Progress* progress) {
  int64_t total = 0, last = -1;
  for (int64_t e : ends) total += e;
  double last_change = MonoSeconds();
  const double start = MonoSeconds();
  for (;;) {
    if (d->Exited()) return absl::AbortedError(absl::StrCat("loyaltyd exited; see ", d->log));
    auto m = ScrapeMetrics(d->port);
    if (m.ok()) {
      const auto& applied = (*m)["loyalty_applied_offset"];
      const auto& unpublished = (*m)["loyalty_unpublished_seconds"];
      int64_t done = 0;
      bool all = true;
      for (int p = 0; p < static_cast<int>(ends.size()); ++p) {
        const int64_t end = ends[static_cast<size_t>(p)];
        auto a = applied.find(p);
        const int64_t next = a == applied.end() ? 0 : static_cast<int64_t>(a->second) + 1;
        done += std::min(next, end);
        if (end == 0) continue;
        auto u = unpublished.find(p);
        all = all && next >= end && (!published || (u != unpublished.end() && u->second == 0));
      }
      if (all) return WallMs();
      if (done != last) {
        last = done;
        last_change = MonoSeconds();
      }
      if (progress != nullptr) {
        progress->Update(done, total,
                         static_cast<double>(done) / std::max(1e-3, MonoSeconds() - start));
      }
    }
    if (MonoSeconds() - last_change > idle_s) {
      return absl::DeadlineExceededError(absl::StrCat("loyaltyd applied nothing for ", idle_s,
                                                      " s at ", last, " of ", total,
                                                      " records; see ", d->log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Bytes and files under `dir`, each file once (hard links, as checkpoints
// make, counted once): what the directory holds on disk, as du counts it
// (apparent sizes).
std::pair<int64_t, int64_t> UniqueFileBytes(const std::string& dir) {
  std::set<std::pair<dev_t, ino_t>> seen;
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st {};
    if (lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (seen.insert({st.st_dev, st.st_ino}).second) bytes += st.st_size;
  }
  return {bytes, static_cast<int64_t>(seen.size())};
}

// The "partition backed up" lines of a log: how many, the longest and the
// sum of their seconds.
void BackupLines(const std::string& log, int* backups, double* max_s, double* sum_s) {
  *backups = 0;
  *max_s = *sum_s = 0;
  for (const LogLine& l : LogLines(log, "partition backed up")) {
    const double s = JsonNumber(l.text, "seconds").value_or(0);
    ++*backups;
    *max_s = std::max(*max_s, s);
    *sum_s += s;
  }
}

// The restore phase's settings of a loyaltyd: backups into `backup_dir`
// only when a partition is revoked (--backup-interval=0), so that the
// backups cover exactly the backlog and the tail is what a restore
// re-applies; metrics on a port of its own; JSON log lines, which the
// phase reads.
std::vector<std::string> RestoreArgv(const Config& c, const Topics& topics,
                                     const std::string& data_dir, const std::string& backup_dir) {
  std::vector<std::string> argv = LoyaltydArgv(c, topics, data_dir, "restore");
  argv.insert(argv.end(), {absl::StrCat("--backup-dir=", backup_dir), "--backup-interval=0",
                           "--http=127.0.0.1:0", "--log-format=json"});
  return argv;
}

// Records produced after each kill: the new engine's first outputs of its
// own (the outputs it re-derives were all published before the kill, and
// are skipped).
int64_t ProbeRecords(const Config& c) {
  return std::clamp<int64_t>(c.workload.events / 100, 100, 1000);
}

// One restore: kills `*engine` (-9), deletes its data directory, produces
// the probe records, starts a new engine into *engine and measures it until
// it has caught up and published.
absl::StatusOr<RestoreRun> RestoreOnce(const Config& c, const std::vector<std::string>& argv,
                                       const std::string& input, const std::string& data_dir,
                                       const std::string& log, const RestoreResult& r,
                                       Workload* workload, OutputProbe* probe, Loyaltyd* engine) {
  RestoreRun run;
  const int64_t kill_ms = WallMs();
  probe->WatchAfter(kill_ms);
  engine->Kill9();
  const double wipe = MonoSeconds();
  std::filesystem::remove_all(data_dir);
  std::filesystem::create_directories(data_dir);
  run.wipe_s = MonoSeconds() - wipe;
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int64_t> lost, EndOffsets(c.brokers, input));
  for (size_t p = 0; p < lost.size() && p < r.backup_offsets.size(); ++p) {
    run.reapplied_records += lost[p] - r.backup_offsets[p];
  }
  LOYALTY_RETURN_IF_ERROR(
      ProduceSome(c.brokers, input, workload, r.probe_records, nullptr).status());
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int64_t> ends, EndOffsets(c.brokers, input));
  std::fprintf(stderr,
               "loyalty-bench: restore: kill -9, data directory deleted (%.2f s), a new loyaltyd "
               "restores and re-applies %lld records\n",
               run.wipe_s, static_cast<long long>(run.reapplied_records));
  LOYALTY_RETURN_IF_ERROR(StartLoyaltyd(argv, log, engine));
  int64_t caught_ms = 0;
  {
    Progress progress("restore: the new engine catching up");
    LOYALTY_ASSIGN_OR_RETURN(caught_ms, WaitApplied(engine, ends, false, 300, &progress));
  }
  const double deadline = MonoSeconds() + 120;
  while (probe->WatchHit() == 0 && MonoSeconds() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t hit = probe->WatchHit();
  if (hit == 0) {
    return absl::DeadlineExceededError(absl::StrCat("no output 120 s after the restore; see ", log));
  }
  const double started = static_cast<double>(engine->started_ms);
  run.caught_up_s = (static_cast<double>(caught_ms) - started) / 1000;
  run.first_output_s = (static_cast<double>(hit) - started) / 1000;
  run.kill_to_first_output_s = static_cast<double>(hit - kill_ms) / 1000;
  int64_t last_restored_ms = 0;
  for (const LogLine& l : LogLines(log, "partition restored from a backup")) {
    const double s = JsonNumber(l.text, "seconds").value_or(0);
    ++run.restored_partitions;
    run.restore_max_s = std::max(run.restore_max_s, s);
    run.restore_sum_s += s;
    last_restored_ms = std::max(last_restored_ms, l.ms);
  }
  if (run.restored_partitions != static_cast<int>(ends.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat(run.restored_partitions, " of ", ends.size(),
                     " partitions restored from a backup; see ", log));
  }
  run.restored_s = (static_cast<double>(last_restored_ms) - started) / 1000;
  // Each partition logs "partition restore done" at its next housekeeping
  // after it got there: a moment after the metrics say so.
  std::vector<LogLine> done = LogLines(log, "partition restore done");
  for (const double until = MonoSeconds() + 30;
       done.size() < ends.size() && MonoSeconds() < until;
       done = LogLines(log, "partition restore done")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const LogLine& l : done) {
    run.applied_records += static_cast<int64_t>(JsonNumber(l.text, "records").value_or(0));
  }
  std::fprintf(stderr,
               "  stores restored %.2f s (longest partition %.2f s), first output %.2f s, "
               "caught up %.2f s after the start\n",
               run.restored_s, run.restore_max_s, run.first_output_s, run.caught_up_s);
  // Everything published before the next kill, as before the first.
  LOYALTY_RETURN_IF_ERROR(WaitApplied(engine, ends, true, 120, nullptr).status());
  return run;
}

// The phase (bench/README.md): a first engine applies the backlog and is
// stopped (SIGTERM: every partition revoked, so backed up); restarted, it
// applies a tail and is killed with -9, its data directory deleted; then
// --restore-runs restores, each by a new engine with an empty data
// directory, the same backup directory and the same instance id (a
// StatefulSet's pod rescheduled on another node without its volume).
absl::Status MeasureRestore(const Config& c, RestoreResult* r) {
  const std::string name = "restore";
  const std::string input = absl::StrCat("bench.", c.tag, ".", name, ".events");
  const Topics topics = EngineTopics(c, input, name);
  LOYALTY_RETURN_IF_ERROR(EnsureRunTopics(c, topics));
  const std::string work = c.out_dir + "/work";
  const std::string data_dir = work + "/restore", backup_dir = work + "/restore-backups";
  std::filesystem::remove_all(data_dir);
  std::filesystem::remove_all(backup_dir);
  std::filesystem::create_directories(data_dir);
  const std::vector<std::string> argv = RestoreArgv(c, topics, data_dir, backup_dir);

  // One workload: the backlog (the catch-up runs' records), the tail, then
  // the probe records of every restore.
  r->backlog_records = Workload(c.workload).total_records();
  r->tail_records = c.restore_tail > 0 ? c.restore_tail : std::max<int64_t>(1, r->backlog_records / 20);
  r->probe_records = ProbeRecords(c);
  WorkloadOptions o = c.workload;
  o.events += r->tail_records + r->probe_records * c.restore_runs;
  Workload workload(o);
  {
    Progress progress(absl::StrCat("restore: producing the backlog: ", r->backlog_records,
                                   " records to ", input));
    const double start = MonoSeconds();
    LOYALTY_RETURN_IF_ERROR(ProduceSome(c.brokers, input, &workload, r->backlog_records,
                                        [&](int64_t n) {
                                          progress.Update(n, r->backlog_records,
                                                          static_cast<double>(n) /
                                                              std::max(1e-3, MonoSeconds() - start));
                                        })
                                .status());
  }
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int64_t> ends, EndOffsets(c.brokers, input));
  // From the start, so that it has read the backlog's outputs when it counts.
  LOYALTY_ASSIGN_OR_RETURN(auto probe, OutputProbe::Start(c.brokers, topics.balances));

  // 1. The backlog, then SIGTERM: each partition's backup.
  Loyaltyd engine;
  LOYALTY_RETURN_IF_ERROR(StartLoyaltyd(argv, work + "/restore-1-backlog.log", &engine));
  {
    Progress progress("restore: loyaltyd --backup-dir applies the backlog");
    LOYALTY_ASSIGN_OR_RETURN(const int64_t done_ms, WaitApplied(&engine, ends, true, 120, &progress));
    r->drain_s = static_cast<double>(done_ms - engine.started_ms) / 1000;
  }
  std::fprintf(stderr, "loyalty-bench: restore: backlog applied in %.2f s; SIGTERM (backups)\n",
               r->drain_s);
  const double stop = MonoSeconds();
  if (!engine.Terminate(1800)) {
    return absl::AbortedError(absl::StrCat("loyaltyd did not exit 0 on SIGTERM; see ", engine.log));
  }
  r->backup_stop_s = MonoSeconds() - stop;
  BackupLines(engine.log, &r->backups, &r->backup_max_s, &r->backup_sum_s);
  std::tie(r->backup_dir_bytes, r->backup_files) = UniqueFileBytes(backup_dir);
  r->store_bytes = UniqueFileBytes(data_dir).first;
  for (int p = 0; p < c.workload.partitions; ++p) {
    LOYALTY_ASSIGN_OR_RETURN(std::optional<BackupInfo> b, NewestBackup(backup_dir, p));
    if (!b.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("partition ", p, " has no backup in ", backup_dir, "; see ", engine.log));
    }
    r->backup_offsets.push_back(b->meta.next_offset());
  }
  std::fprintf(stderr,
               "  %d backups in %.2f s (longest %.2f s): %.1f MiB in %lld files (store %.1f MiB)\n",
               r->backups, r->backup_stop_s, r->backup_max_s,
               static_cast<double>(r->backup_dir_bytes) / (1 << 20),
               static_cast<long long>(r->backup_files),
               static_cast<double>(r->store_bytes) / (1 << 20));

  // 2. Restarted on its store (the backups' offsets: nothing to restore), a
  // tail that no backup holds, applied and published.
  LOYALTY_RETURN_IF_ERROR(StartLoyaltyd(argv, work + "/restore-2-tail.log", &engine));
  LOYALTY_RETURN_IF_ERROR(
      ProduceSome(c.brokers, input, &workload, r->tail_records, nullptr).status());
  LOYALTY_ASSIGN_OR_RETURN(ends, EndOffsets(c.brokers, input));
  {
    Progress progress(absl::StrCat("restore: the same engine applies a tail of ",
                                   r->tail_records, " records"));
    LOYALTY_RETURN_IF_ERROR(WaitApplied(&engine, ends, true, 120, &progress).status());
  }

  // 3. The host is lost: kill -9, wipe, restore (each run from the same
  // backups; the engine killed is the previous run's).
  for (int i = 0; i < c.restore_runs; ++i) {
    LOYALTY_ASSIGN_OR_RETURN(
        RestoreRun run,
        RestoreOnce(c, argv, input, data_dir, absl::StrCat(work, "/restore-", i + 3, "-restore.log"),
                    *r, &workload, probe.get(), &engine));
    r->runs.push_back(run);
  }

  // The last one stops cleanly: its backups are incremental.
  const double stop2 = MonoSeconds();
  if (engine.Terminate(1800)) {
    r->incremental_stop_s = MonoSeconds() - stop2;
    int backups = 0;
    double sum = 0;
    BackupLines(engine.log, &backups, &r->incremental_max_s, &sum);
    r->backup_dir_bytes_after = UniqueFileBytes(backup_dir).first;
  }
  return absl::OkStatus();
}

// The restore phase; its topics, stores and backups are deleted afterwards.
RestoreResult Restore(const Config& c) {
  RestoreResult r;
  const absl::Status s = MeasureRestore(c, &r);
  if (!s.ok()) r.error = s.ToString();
  DeleteRunTopics(c, "restore", /*own_input=*/true);
  std::error_code ec;
  std::filesystem::remove_all(absl::StrCat(c.out_dir, "/work/restore"), ec);
  std::filesystem::remove_all(absl::StrCat(c.out_dir, "/work/restore-backups"), ec);
  return r;
}

// --- peers ----------------------------------------------------------------

// Starts the Kafka Streams peer (bench/peers/kstreams/run.sh) from `input`
// to `out`, with its own application id and state directory `name`.
pid_t SpawnKStreams(const Config& c, const std::string& input, const std::string& out,
                    const std::string& name, const std::string& log) {
  return Spawn(
      {c.kstreams, "run", absl::StrCat("--brokers=", c.brokers), absl::StrCat("--input=", input),
       absl::StrCat("--output=", out), absl::StrCat("--app-id=bench.", c.tag, ".", name),
       absl::StrCat("--state-dir=", c.out_dir, "/work/", name, "-state"),
       absl::StrCat("--program=", c.program)},
      log);
}

// The Kafka Streams peer's catch-up rate on `input`, from its output topic
// (one output record per input record, input timestamps propagated).
absl::StatusOr<double> KStreamsCatchUp(const Config& c, const std::string& input, int64_t records) {
  const std::string out = absl::StrCat("bench.", c.tag, ".ks.out");
  LOYALTY_RETURN_IF_ERROR(CreateTopic(c.brokers, out, c.workload.partitions));
  LOYALTY_ASSIGN_OR_RETURN(auto probe, OutputProbe::Start(c.brokers, out));
  const std::string log = absl::StrCat(c.out_dir, "/work/kstreams-catchup.log");
  const pid_t pid = SpawnKStreams(c, input, out, "ks", log);
  Progress progress(absl::StrCat("kafka-streams catch-up of ", records, " records"));
  int64_t last = -1;
  double last_change = MonoSeconds() + 120;  // JVM start, group join
  absl::Status status;
  while (probe->received() < records) {
    const int64_t n = probe->received();
    if (n != last) {
      last = n;
      last_change = std::max(last_change, MonoSeconds());
    }
    if (MonoSeconds() - last_change > 120) {
      status = absl::DeadlineExceededError(absl::StrCat("kafka-streams: no output for 120 s at ", n,
                                                        " of ", records, "; see ", log));
      break;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      return absl::AbortedError(absl::StrCat("kafka-streams exited; see ", log));
    }
    const double span = static_cast<double>(probe->last_ms() - probe->first_ms()) / 1000;
    progress.Update(n, records, span > 0 ? static_cast<double>(n) / span : 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop(pid, 30);
  LOYALTY_RETURN_IF_ERROR(status);
  const double seconds = static_cast<double>(probe->last_ms() - probe->first_ms()) / 1000;
  return seconds > 0 ? static_cast<double>(records - 1) / seconds : 0;
}

absl::StatusOr<LatencyRun> KStreamsLatency(const Config& c, double rate) {
  const std::string input = absl::StrCat("bench.", c.tag, ".kslat.events");
  const std::string out = absl::StrCat("bench.", c.tag, ".kslat.out");
  LOYALTY_RETURN_IF_ERROR(CreateTopic(c.brokers, input, c.workload.partitions));
  LOYALTY_RETURN_IF_ERROR(CreateTopic(c.brokers, out, c.workload.partitions));
  LOYALTY_ASSIGN_OR_RETURN(auto probe, OutputProbe::Start(c.brokers, out));
  const std::string log = absl::StrCat(c.out_dir, "/work/kstreams-latency.log");
  const pid_t pid = SpawnKStreams(c, input, out, "kslat", log);
  // Ready when it says RUNNING (its README's contract).
  const double deadline = MonoSeconds() + 180;
  while (ReadFile(log).find("RUNNING") == std::string::npos) {
    if (MonoSeconds() > deadline || waitpid(pid, nullptr, WNOHANG) == pid) {
      Stop(pid, 10);
      return absl::DeadlineExceededError(absl::StrCat("kafka-streams never RUNNING; see ", log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "loyalty-bench: kafka-streams: %.0f events/s offered for %.0f s\n", rate,
               c.rate_seconds);
  const int64_t measure_from = WallMs() + static_cast<int64_t>(c.warmup_seconds * 1000);
  Workload workload(WorkloadFor(c, rate, c.rate_seconds));
  std::atomic<bool> stop{false};
  auto produced = ProducePaced(c.brokers, input, &workload, rate, c.rate_seconds, stop);
  const double wait_deadline = MonoSeconds() + 60;
  while (produced.ok() && probe->received() < produced->records && MonoSeconds() < wait_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop(pid, 30);
  if (!produced.ok()) return produced.status();
  std::vector<int64_t> latencies = probe->LatenciesSince(measure_from);
  LatencyRun run = MakeLatencyRun("kafka-streams", rate, *produced, &latencies);
  if (probe->received() < produced->records) {
    return absl::DeadlineExceededError(absl::StrCat("kafka-streams output ", probe->received(),
                                                    " of ", produced->records, " records"));
  }
  return run;
}

absl::StatusOr<std::string> RunPgPeer(const Config& c, const std::vector<std::string>& extra,
                                      const std::string& name, double timeout_s) {
  const std::string log = absl::StrCat(c.out_dir, "/work/", name, ".log");
  const std::string out = absl::StrCat(c.out_dir, "/work/", name, ".json");
  std::filesystem::remove(out);
  std::vector<std::string> argv = {c.pg_peer, absl::StrCat("--brokers=", c.brokers),
                                   absl::StrCat("--pg=", c.pg),
                                   absl::StrCat("--program=", c.program)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  // stdout (the JSON line) to its own file through a shell-free redirect;
  // in this process's group, killed alone.
  const pid_t pid = Spawn(argv, log, out, /*own_group=*/false);
  bool ran_over = false;
  const int status = WaitOrKill(pid, timeout_s, /*group=*/false, &ran_over);
  if (ran_over) {
    return absl::DeadlineExceededError(
        absl::StrCat("pg_peer ran over ", timeout_s, " s; see ", log));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::AbortedError(absl::StrCat("pg_peer failed; see ", log));
  }
  return ReadFile(out);
}

PeerResult PostgresPeer(const Config& c, const std::string& backlog, int64_t records) {
  PeerResult p;
  p.name = "postgres";
  std::fprintf(stderr, "loyalty-bench: postgres peer catch-up of %lld records\n",
               static_cast<long long>(records));
  auto caught =
      RunPgPeer(c, {absl::StrCat("--topic=", backlog), "--until-end"}, "pg-catchup", 7200);
  if (!caught.ok()) {
    p.error = caught.status().ToString();
    return p;
  }
  p.events_per_s = JsonNumber(*caught, "events_per_s").value_or(0);
  std::fprintf(stderr, "  postgres: %.0f events/s\n", p.events_per_s);
  return p;
}

absl::StatusOr<LatencyRun> PostgresLatency(const Config& c, double rate) {
  const std::string input = absl::StrCat("bench.", c.tag, ".pglat.events");
  LOYALTY_RETURN_IF_ERROR(CreateTopic(c.brokers, input, c.workload.partitions));
  std::fprintf(stderr, "loyalty-bench: postgres: %.0f events/s offered for %.0f s\n", rate,
               c.rate_seconds);
  absl::StatusOr<std::string> json = absl::UnknownError("not run");
  std::thread peer([&] {
    json = RunPgPeer(c,
                     {absl::StrCat("--topic=", input),
                      absl::StrCat("--duration-s=", static_cast<int64_t>(c.rate_seconds + 15)),
                      absl::StrCat("--warmup-s=", static_cast<int64_t>(c.warmup_seconds))},
                     "pg-latency", c.rate_seconds + 120);
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // assigned and polling
  Workload workload(WorkloadFor(c, rate, c.rate_seconds));
  std::atomic<bool> stop{false};
  auto produced = ProducePaced(c.brokers, input, &workload, rate, c.rate_seconds, stop);
  peer.join();
  if (!produced.ok()) return produced.status();
  if (!json.ok()) return json.status();
  LatencyRun run;
  run.who = "postgres";
  run.offered_per_s = rate;
  run.achieved_per_s = static_cast<double>(produced->records) / produced->seconds;
  run.p50_ms = JsonNumber(*json, "p50").value_or(0);
  run.p99_ms = JsonNumber(*json, "p99").value_or(0);
  run.p999_ms = JsonNumber(*json, "p999").value_or(0);
  run.samples = static_cast<int64_t>(JsonNumber(*json, "events").value_or(0));
  return run;
}

// --- main -----------------------------------------------------------------

// The sizes and counts: the workload, the engine's settings, the runs.
absl::Status ParseCounts(const Flags& f, Config* c) {
  // Every count has a range, so that a negative or absurd value is refused
  // with the flag's name rather than run.
  auto integer = [&](const char* name, int64_t fallback, int64_t min, int64_t max) {
    return f.GetIntIn(name, fallback, min, max);
  };
  const bool quick = c->quick;
  LOYALTY_ASSIGN_OR_RETURN(int64_t events,
                           integer("events", quick ? 20'000 : 10'000'000, 1, 10'000'000'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t members,
                           integer("members", quick ? 10'000 : 1'000'000, 1, 1'000'000'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t bad, integer("bad-permille", 10, 0, 1000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t seed, integer("seed", 1, 0, INT64_MAX));
  LOYALTY_ASSIGN_OR_RETURN(int64_t partitions, integer("partitions", 8, 1, 10'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t workers, integer("workers", 2, 1, 256));
  LOYALTY_ASSIGN_OR_RETURN(c->batch, integer("batch-size", 4096, 1, 1'000'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t runs, integer("runs", quick ? 1 : 3, 1, 100));
  LOYALTY_ASSIGN_OR_RETURN(int64_t null_runs, integer("null-runs", runs, 0, 100));
  LOYALTY_ASSIGN_OR_RETURN(int64_t restore_runs, integer("restore-runs", runs, 1, 100));
  LOYALTY_ASSIGN_OR_RETURN(c->restore_tail, integer("restore-tail", 0, 0, 10'000'000'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t interval,
                           integer("commit-interval-ms", c->commit_interval_ms, 0, 60'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t batch_wait, integer("batch-wait-ms", c->batch_wait_ms, 0, 10'000));
  LOYALTY_RETURN_IF_ERROR(MemoryBudgetsFromFlags(f, &c->budgets));
  LOYALTY_ASSIGN_OR_RETURN(int64_t rate_s, integer("rate-seconds", quick ? 4 : 20, 1, 86'400));
  LOYALTY_ASSIGN_OR_RETURN(int64_t warm_s, integer("warmup-seconds", quick ? 1 : 3, 0, 3'600));
  if (warm_s >= rate_s) {
    return absl::InvalidArgumentError("--warmup-seconds must be below --rate-seconds");
  }
  const std::string zipf = f.Get("zipf-exponent", "0.99");
  if (!absl::SimpleAtod(zipf, &c->workload.zipf_exponent) || c->workload.zipf_exponent < 0 ||
      c->workload.zipf_exponent > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("--zipf-exponent: '", zipf, "' is not a number in 0..5"));
  }
  c->workload.events = events;
  c->workload.members = members;
  c->workload.bad_permille = static_cast<int>(bad);
  c->workload.seed = static_cast<uint64_t>(seed);
  c->workload.partitions = static_cast<int>(partitions);
  c->workers = static_cast<int>(workers);
  c->runs = static_cast<int>(runs);
  c->null_runs = static_cast<int>(null_runs);
  c->restore_runs = static_cast<int>(restore_runs);
  c->commit_interval_ms = static_cast<int>(interval);
  c->batch_wait_ms = static_cast<int>(batch_wait);
  c->rate_seconds = static_cast<double>(rate_s);
  c->warmup_seconds = static_cast<double>(warm_s);
  return absl::OkStatus();
}

// Which phases run: the offered rates, --machine, --recovery, --peers.
absl::Status ParsePhases(const Flags& f, Config* c) {
  for (absl::string_view r :
       absl::StrSplit(f.Get("rates", "0.25,0.5,0.75"), ',', absl::SkipEmpty())) {
    double x;
    if (!absl::SimpleAtod(r, &x) || x <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rates: '", r, "' is not a positive number"));
    }
    c->rates.push_back(x);
  }
  for (const auto& [flag, on] : {std::pair<const char*, bool*>{"machine", &c->machine},
                                 std::pair<const char*, bool*>{"recovery", &c->recovery}}) {
    const std::string v = f.Get(flag, "on");
    if (v != "on" && v != "off")
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": use on or off"));
    *on = v == "on";
  }
  const std::string restore = f.Get("restore", "on");
  if (restore != "on" && restore != "off" && restore != "only") {
    return absl::InvalidArgumentError("--restore: use on, off or only");
  }
  c->restore = restore != "off";
  c->restore_only = restore == "only";
  const std::string peers = f.Get("peers", "kafka-streams,postgres");
  c->kstreams_peer = c->postgres_peer = false;
  for (absl::string_view p : absl::StrSplit(peers, ',', absl::SkipEmpty())) {
    if (p == "kafka-streams") {
      c->kstreams_peer = true;
    } else if (p == "postgres") {
      c->postgres_peer = true;
    } else if (p != "none") {
      return absl::InvalidArgumentError(
          absl::StrCat("--peers: unknown peer '", p, "' (kafka-streams, postgres, none)"));
    }
  }
  return absl::OkStatus();
}

// The program, the binaries and scripts of the phases that run (`self`:
// this binary, whose directory the defaults are next to) and PostgreSQL.
absl::Status ParsePaths(const Flags& f, const std::string& self, Config* c) {
  const std::string bin = std::filesystem::path(self).parent_path().string();
  c->loyaltyd = f.Get("loyaltyd", bin + "/../cmd/loyaltyd");
  c->pg_peer = f.Get("pg-peer", bin + "/peers/postgres/pg_peer");
  c->kstreams = f.Get("kstreams", LOYALTY_SOURCE_DIR "/bench/peers/kstreams/run.sh");
  c->program = f.Get("program", LOYALTY_SOURCE_DIR "/programs/cafe.textproto");
  c->pg = f.Get("pg", "host=127.0.0.1 port=19992 dbname=loyalty user=postgres");
  for (const auto& [path, what] : std::vector<std::pair<std::string, std::string>>{
           {c->program, "--program"},
           {c->loyaltyd, c->recovery || c->restore ? "--loyaltyd" : ""},
           {c->pg_peer, c->postgres_peer ? "--pg-peer" : ""},
           {c->kstreams, c->kstreams_peer ? "--kstreams" : ""}}) {
    if (!what.empty() && !std::filesystem::exists(path)) {
      return absl::NotFoundError(absl::StrCat(what, ": ", path, " does not exist"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ParseConfig(const Flags& f, const std::string& self) {
  Config c;
  LOYALTY_ASSIGN_OR_RETURN(c.brokers, f.Require("brokers"));
  c.quick = f.Has("quick");
  c.out_dir = f.Get("out", "bench-results");
  LOYALTY_RETURN_IF_ERROR(ParseCounts(f, &c));
  LOYALTY_RETURN_IF_ERROR(ParsePhases(f, &c));
  if (c.restore_only) {  // nothing else runs, nor needs its binaries
    c.recovery = c.machine = c.kstreams_peer = c.postgres_peer = false;
  }
  LOYALTY_RETURN_IF_ERROR(ParsePaths(f, self, &c));
  c.tag = absl::StrCat(getpid(), "-", WallMs());
  return c;
}

// Deletes every topic of this invocation when it goes out of scope, however
// the run ended: the backlog, what a failed run left, the peers' (and Kafka
// Streams' internal topics, named after its application id).
class TopicsOfRun {
 public:
  explicit TopicsOfRun(const Config& c) : c_(c) {}
  ~TopicsOfRun() {
    auto topics = TopicsWithPrefix(c_.brokers, absl::StrCat("bench.", c_.tag, "."));
    const absl::Status s = topics.ok() ? DeleteTopics(c_.brokers, *topics) : topics.status();
    if (!s.ok()) std::cerr << "loyalty-bench: deleting the run's topics: " << s << "\n";
  }

 private:
  const Config& c_;
};

// A --rates value as events/s: <= 1 is a fraction of `catch_up`.
double ResolveRate(double x, double catch_up) { return x <= 1.0 ? x * catch_up : x; }

// The configuration part of the results.
Results ResultsOf(const Config& c) {
  Results r;
  r.started_utc = absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::UTCTimeZone());
  r.seed = c.workload.seed;
  r.events = c.workload.events;
  r.members = c.workload.members;
  r.zipf_exponent = c.workload.zipf_exponent;
  r.partitions = c.workload.partitions;
  r.workers = c.workers;
  r.batch_records_max = c.batch;
  r.commit_interval_ms = c.commit_interval_ms;
  r.batch_wait_ms = c.batch_wait_ms;
  r.members_cached = static_cast<int64_t>(c.budgets.members_cached_max);
  r.block_cache_mb = static_cast<int64_t>(c.budgets.block_cache_bytes >> 20);
  r.memtable_mb = static_cast<int64_t>(c.budgets.memtable_bytes >> 20);
  r.runs = c.runs;
  r.quick = c.quick;
  r.machine = MachineLine();
  return r;
}

// One invocation's phases, in the order of bench/README.md, and the results
// they fill in. The results are written after each phase; a phase that
// returns false failed, and the run ends there (exit 1).
class BenchRun {
 public:
  BenchRun(const Config& c, const ProgramSet* programs)
      : c_(c),
        programs_(programs),
        r_(ResultsOf(c)),
        backlog_(absl::StrCat("bench.", c.tag, ".backlog")) {}

  bool Backlog();
  bool CatchUpRuns();
  bool Limits();
  bool LatencyRuns();
  void RecoveryRun();
  void RestoreRun();
  bool MachineRuns();
  void Peers();
  // The summary on stdout; the exit code (1 if a peer, the recovery run or
  // the restore phase failed).
  int Finish();

 private:
  // results.json, summary.md and chart.html, with what is measured so far.
  void WriteResults() const {
    std::ofstream(c_.out_dir + "/results.json") << RenderJson(r_);
    std::ofstream(c_.out_dir + "/summary.md") << RenderMarkdown(r_);
    std::ofstream(c_.out_dir + "/chart.html") << RenderHtml(r_);
  }
  // Whether `s` is OK; if not, writes the results and says what failed.
  bool Step(const absl::Status& s, const char* what) const {
    if (!s.ok()) {
      WriteResults();
      std::cerr << "loyalty-bench: " << what << ": " << s << "\n";
    }
    return s.ok();
  }
  // A peer whose catch-up ran (`p`): at half its catch-up rate (`latency`),
  // then the engine at that same rate.
  void FinishPeer(PeerResult p, const std::function<absl::StatusOr<LatencyRun>(double)>& latency);

  const Config& c_;
  const ProgramSet* programs_;
  Results r_;
  const std::string backlog_;
  std::shared_ptr<const std::string> pool_;  // ValuePool
  double engine_rate_ = 0;                   // the engine's median catch-up
};

// 1. The backlog.
bool BenchRun::Backlog() {
  if (!Step(CreateTopic(c_.brokers, backlog_, c_.workload.partitions), "backlog topic")) {
    return false;
  }
  Workload workload(c_.workload);
  r_.records = workload.total_records();
  Progress progress(absl::StrCat("producing the backlog: ", r_.records, " records to ", backlog_));
  const double start = MonoSeconds();
  auto produced = ProduceAll(c_.brokers, backlog_, &workload, [&](int64_t n) {
    progress.Update(n, r_.records, static_cast<double>(n) / std::max(1e-3, MonoSeconds() - start));
  });
  if (!Step(produced.status(), "producing")) return false;
  r_.produce_per_s = static_cast<double>(produced->records) / produced->seconds;
  return true;
}

// 2. The engine's catch-up runs, each followed by a run of the null
// pipeline (alternated, so that the machine's drift touches both alike).
// The engine's first run tells the shape that the null pipeline and the
// RocksDB limit reproduce.
bool BenchRun::CatchUpRuns() {
  pool_ = ValuePool(c_);
  for (int i = 0; i < std::max(c_.runs, c_.null_runs); ++i) {
    if (i < c_.runs) {
      auto run = EngineCatchUp(c_, programs_, backlog_, r_.records, absl::StrCat("catchup", i + 1),
                               false, i + 1 == c_.runs ? &r_.bytes_on_disk_per_event : nullptr,
                               i == 0 ? &r_.shape : nullptr);
      if (!Step(run.status(), "engine catch-up")) return false;
      r_.catch_up.push_back(*run);
    }
    if (i < c_.null_runs) {
      r_.null_batch_records_max = NullBatchRecords(c_, r_.shape);
      auto run = NullCatchUp(c_, r_.shape, pool_, backlog_, r_.records, absl::StrCat("null", i + 1),
                             i == 0 ? &r_.null_shape : nullptr);
      if (!Step(run.status(), "null pipeline catch-up")) return false;
      r_.null_catch_up.push_back(*run);
    }
    WriteResults();
  }
  engine_rate_ = MedianCatchUp(r_.catch_up);
  return true;
}

// 3. The physical limits, in the engine's shape.
bool BenchRun::Limits() {
  const int limit_runs = std::min(c_.runs, 3);
  r_.rocksdb_ops_per_event = r_.shape.puts_per_record();
  for (int i = 0; i < limit_runs; ++i) {
    std::fprintf(stderr, "loyalty-bench: raw librdkafka consume of the backlog (run %d)\n", i + 1);
    auto raw = RawConsume(c_.brokers, backlog_);
    if (!Step(raw.status(), "raw consume")) return false;
    r_.raw_consume_per_s.push_back(static_cast<double>(raw->records) / raw->seconds);
    std::fprintf(stderr, "  %.0f records/s\n", r_.raw_consume_per_s.back());
    auto rocks = RocksDbLimit(c_, r_.shape, pool_, std::min<int64_t>(r_.records, 2'000'000), false);
    if (!Step(rocks.status(), "RocksDB limit")) return false;
    r_.rocksdb_write_per_s.push_back(*rocks);
    std::fprintf(stderr, "  %.0f records/s in the engine's write shape\n", *rocks);
    WriteResults();
  }
  return true;
}

// 4. Latency at offered rates.
bool BenchRun::LatencyRuns() {
  for (size_t i = 0; i < c_.rates.size(); ++i) {
    const double rate = ResolveRate(c_.rates[i], engine_rate_);
    auto run = EngineLatency(c_, programs_, rate, absl::StrCat("latency", i + 1), false, "engine");
    if (!Step(run.status(), "engine latency")) return false;
    r_.latency.push_back(*run);
    WriteResults();
  }
  return true;
}

// 5. Recovery after kill -9 (a failure is reported, and the run goes on).
void BenchRun::RecoveryRun() {
  if (!c_.recovery) return;
  auto rec = Recovery(c_, engine_rate_ / 2);
  if (rec.ok()) {
    r_.recovery_s = *rec;
  } else {
    r_.recovery_error = rec.status().ToString();
    std::cerr << "loyalty-bench: recovery: " << rec.status() << "\n";
  }
  WriteResults();
}

// 6. Restore after a lost host (a failure is reported, and the run goes on).
void BenchRun::RestoreRun() {
  if (!c_.restore) return;
  if (r_.records == 0) r_.records = Workload(c_.workload).total_records();
  r_.restore = Restore(c_);
  if (!r_.restore->error.empty()) std::cerr << "loyalty-bench: restore: " << r_.restore->error << "\n";
  WriteResults();
}

// 7. --durability=machine.
bool BenchRun::MachineRuns() {
  if (!c_.machine) return true;
  {
    auto run = EngineCatchUp(c_, programs_, backlog_, r_.records, "machine-catchup", true, nullptr,
                             nullptr);
    if (!Step(run.status(), "engine catch-up, machine")) return false;
    r_.catch_up_machine.push_back(*run);
  }
  const double machine_rate = MedianCatchUp(r_.catch_up_machine);
  auto run =
      EngineLatency(c_, programs_, machine_rate / 2, "machine-latency", true, "engine (machine)");
  if (!Step(run.status(), "engine latency, machine")) return false;
  r_.latency_machine.push_back(*run);
  WriteResults();
  return true;
}

void BenchRun::FinishPeer(PeerResult p,
                          const std::function<absl::StatusOr<LatencyRun>(double)>& latency) {
  if (p.error.empty() && p.events_per_s > 0) {
    const double rate = p.events_per_s / 2;
    auto l = latency(rate);
    if (l.ok()) {
      p.latency = *l;
      auto e = EngineLatency(c_, programs_, rate, absl::StrCat("at-", p.name), false,
                             absl::StrCat("engine (at ", p.name, " rate)"));
      if (e.ok()) {
        p.engine_same = *e;
      } else {
        p.error = absl::StrCat("engine at the same rate: ", e.status().ToString());
      }
    } else {
      p.error = absl::StrCat("latency run: ", l.status().ToString());
    }
  }
  if (!p.error.empty()) std::cerr << "loyalty-bench: " << p.name << ": " << p.error << "\n";
  r_.peers.push_back(std::move(p));
  WriteResults();
}

// 8. Peers, on the same backlog, then at half their own catch-up rate
// (the engine too, at that same rate). A failure is reported in the peer's
// result, and the run goes on.
void BenchRun::Peers() {
  if (c_.kstreams_peer) {
    PeerResult p;
    p.name = "kafka-streams";
    auto rate = KStreamsCatchUp(c_, backlog_, r_.records);
    if (rate.ok()) {
      p.events_per_s = *rate;
      std::fprintf(stderr, "  kafka-streams: %.0f events/s\n", *rate);
    } else {
      p.error = rate.status().ToString();
    }
    FinishPeer(std::move(p), [&](double rate) { return KStreamsLatency(c_, rate); });
  }
  if (c_.postgres_peer) {
    FinishPeer(PostgresPeer(c_, backlog_, r_.records),
               [&](double rate) { return PostgresLatency(c_, rate); });
  }
}

int BenchRun::Finish() {
  WriteResults();
  std::cout << RenderMarkdown(r_);
  std::fprintf(stderr, "loyalty-bench: results in %s/{results.json,summary.md,chart.html}\n",
               c_.out_dir.c_str());
  bool peers_ok = true;
  for (const auto& p : r_.peers) peers_ok = peers_ok && p.error.empty();
  const bool restore_ok = !r_.restore || r_.restore->error.empty();
  return peers_ok && restore_ok && r_.recovery_error.empty() ? 0 : 1;
}

int Main(int argc, char** argv) {
  const std::set<std::string> known = {
      "brokers", "out",        "events",  "members",      "bad-permille",
      "seed",    "partitions", "workers", "batch-size",   "commit-interval-ms", "batch-wait-ms",
      "members-cached", "block-cache-mb", "memtable-mb",
      "runs",    "null-runs",  "rates",   "rate-seconds", "warmup-seconds",
      "machine", "recovery",   "peers",   "pg",           "loyaltyd",
      "pg-peer", "kstreams",   "program", "quick",        "zipf-exponent",
      "restore", "restore-tail", "restore-runs", "help"};
  auto flags = Flags::Parse(argc, argv, 1, known, {"quick", "help"});
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  auto config = ParseConfig(*flags, argv[0]);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  const Config& c = *config;
  const TopicsOfRun topics_of_run(c);
  std::filesystem::create_directories(c.out_dir + "/work");
  auto programs = LoadPrograms(c.program);
  if (!programs.ok()) return Fail(programs.status().ToString());
  BenchRun run(c, &*programs);
  if (c.restore_only) {
    run.RestoreRun();
    return run.Finish();
  }
  if (!run.Backlog() || !run.CatchUpRuns() || !run.Limits() || !run.LatencyRuns()) return 1;
  run.RecoveryRun();
  run.RestoreRun();
  if (!run.MachineRuns()) return 1;
  run.Peers();
  return run.Finish();
}

}  // namespace
}  // namespace loyalty::bench

int main(int argc, char** argv) { return loyalty::bench::Main(argc, argv); }
