// loyaltyd: the Loyalty Ledger engine: `run` (consume Kafka), `replay`
// (the same apply path fed from a JSON Lines file) and `demo` (a tour on the
// embedded broker).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cmd/demo.h"
#include "cmd/flags.h"
#include "cmd/kafka_flags.h"
#include "cmd/log_flags.h"
#include "cmd/version.h"
#include "connectors/file/replay.h"
#include "connectors/http/ops_server.h"
#include "connectors/kafka/embedded.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/engine_metrics.h"
#include "engine/base/status.h"
#include "engine/program/program.h"
#include "engine/store/store.h"

namespace {

constexpr char kUsage[] = R"(loyaltyd: the Loyalty Ledger engine

Usage:
  loyaltyd run --brokers=HOST:PORT --program=PATH --data-dir=DIR [options]
  loyaltyd replay --program=PATH --data-dir=DIR --events=FILE.jsonl [options]
  loyaltyd demo [options]

Commands:
  run       Join the consumer group and apply the input topic's partitions
            assigned to this process, each to its store <data-dir>/p-NNNN,
            resuming from the offsets stored there (exactly-once on the input
            side). Each batch's output records (outcomes with their ledger
            entries, balance updates, DLQ records) are written to the
            store's journal with the batch, then published to the same
            partition of the output topics in Kafka transactions
            (exactly-once for read_committed consumers, across kill -9).
            Stops cleanly on SIGTERM or SIGINT.
  replay    Apply the events of a JSON Lines file (one loyalty.v1.Event per
            line, proto3 JSON) through the same apply path as the Kafka
            engine. The offset of a line is its line number, so running the
            same file again applies nothing new; the same file grown longer
            continues where the last run stopped. The store records its
            source (the length and SHA-256 of the file's applied prefix):
            another file, or a store written by run, is refused, unless
            --continue-with-new-file says how the new file continues.
  demo      A self-contained tour: starts the embedded broker, generates
            six weeks of a café (programs/cafe.textproto, built in), runs
            the engine on it in this process and prints what happened:
            outcomes, rejections, members, points, top members, a history.

Options of run:
  --brokers=LIST       Kafka bootstrap servers (required), or "embedded":
                       librdkafka's mock cluster in this process, with the
                       topics created (4 partitions); it prints its address
                       for producers. A mock for quick starts: it keeps
                       nothing and does not filter aborted transactions
  --group=ID           consumer group (default loyalty-engine)
  --events-topic=T     input topic (default loyalty.events)
  --balances-topic=T, --ledger-topic=T, --outcomes-topic=T, --dlq-topic=T
                       output topics (default loyalty.balances, loyalty.ledger,
                       loyalty.outcomes, loyalty.dlq); partition p of each
                       gets the outputs of input partition p
  --outputs=LIST       the output topics published, of outcomes, balances,
                       ledger, dlq (default outcomes,balances,dlq; the ledger
                       topic repeats the outcomes' entries one by one); none
                       publishes nothing (only to measure the engine without
                       Kafka outputs; the journal is written either way)
  --commit-interval-ms=N  a partition starts an output transaction at most
                       this often; batches applied meanwhile go together
                       (default 20)
  --batch-wait-ms=N    a partition's batch closes when its first record has
                       waited N ms and its worker has room, or when it is
                       full (default 20)
  --transactional-id-prefix=P  output producers are P.<events topic>.<p>
                       (default: the group); every engine that may own a
                       partition must use the same P, so that a new owner
                       fences the old one
  --workers=N          worker threads; partition p goes to worker p % N (default 2)
  --batch-size=N       records per batch at most (default 4096)
  --durability=MODE    process (default): survives kill -9 of the engine;
                       machine: the WAL is fsynced before a batch's outputs
                       are committed to Kafka; survives power loss
  --instance-id=ID     static group membership (group.instance.id): a
                       restarted process with the same id gets its partitions
                       back at once, without waiting out the session timeout.
                       Default: the host name (a StatefulSet pod's name);
                       every process of a group needs its own id, so two
                       engines on one host need one each. "none": dynamic
                       membership (docs/kafka.md: the trade-off)
  --session-timeout-ms=N  how long the group waits for a silent member
                       (default 45000)
  --members-cached=N   decoded member records kept in memory per partition
                       (about 1.2-1.5 KiB each; default 25000)
  --block-cache-mb=N   RocksDB block cache shared by the partition stores
                       (default 128)
  --memtable-mb=N      RocksDB memtables of all partition stores together
                       (default 192). Peak memory is about these two, plus
                       the member caches, plus 200-300 MiB of Kafka clients
                       and batches in flight (docs/PERFORMANCE.md)
  -X KEY=VALUE         a librdkafka property for every Kafka client (the
                       consumer, the output producers, admin calls); a KEY
                       starting consumer. or producer. reaches one side only.
                       Repeatable. For security: -X security.protocol=SASL_SSL
                       -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=U
                       -X sasl.password=P -X ssl.ca.location=CA.pem
                       (docs/security.md)
  --backup-dir=DIR     back up each owned partition's store here (RocksDB
                       BackupEngine, incremental: <DIR>/p-NNNN), and restore
                       from here a partition assigned without a store, or with
                       one behind its newest backup, then re-apply the input
                       from the backup's offset (SPEC §10). Shared by every
                       engine of the group: a mount of shared or object
                       storage (it must support flock). Default: none
  --backup-interval=D  back up each owned partition this often if it applied
                       anything (90s, 5m, 1h; default 5m), and always when it
                       is revoked; 0: only when revoked
  --backups-kept=N     backups kept per partition; older ones are pruned
                       (default 8)
  --standby-replicas=N keep warm copies of N other members' partitions: apply
                       their input here with outputs off (in --data-dir), so
                       that taking one over opens a caught-up store instead
                       of restoring a backup and re-applying (default 0).
                       Chosen from the group's members: docs/kafka.md
  --http=ADDR:PORT     serve /metrics (Prometheus), /healthz and /readyz there,
                       e.g. 127.0.0.1:9464 (off by default; port 0 picks one,
                       logged). docs/operations.md lists the metrics
  --ready-lag-max=N    /readyz: an owned partition more than N records behind
                       is catching up, not ready (default 10000)
  --log-format=F       logfmt (default) or json: one line per event on stderr
  --log-level=L        debug, info (default), warn or error

Options of replay:
  --program=PATH       program file or directory of *.textproto (required)
  --data-dir=DIR       the ledger's data directory (required)
  --events=FILE        JSON Lines input (required)
  --dlq=FILE           append rejected lines here, one JSON object (UTF-8) each:
                       {"line","reason","detail","raw"}; "raw_base64" instead
                       of "raw" for a line that is not UTF-8; a line over
                       1 MiB adds "raw_truncated":true, "raw_bytes" and
                       "raw_sha256" (its first 1 MiB in "raw")
  --outcomes=FILE      append one outcome per applied line (proto3 JSON)
                       (both files get each line exactly once, across crashes:
                       their size commits with the ledger, and a restart cuts
                       off lines of a batch that never committed)
  --partition=N        the partition store to write (default 0)
  --batch-size=N       lines per atomic write (default 4096)
  --durability=MODE    process (default): survives kill -9;
                       machine: fsync the WAL with every batch
  --continue-with-new-file  apply FILE after the lines of another file
                       already applied to this store: its line n becomes
                       offset (last offset applied) + n, so offsets stay
                       unique and ascending. A re-run with the same FILE
                       continues it (the flag then changes nothing). Without
                       the flag, a FILE that does not start with the bytes
                       already applied is refused
  --lines-max=N        stop after N lines (testing restarts)
  --quiet              no progress output
  --help               this text

Options of demo:
  --program=PATH       another program file or directory (default: the café)
  --data-dir=DIR       keep the ledger in DIR, a new directory (default: a
                       temporary directory, removed at the end)
  --seed=N             seed of the generated stream (default 1)
  --members=N          members of the café (default 300)
  --days=N             days of trading (default 42)
  --partitions=N       partitions of every topic (default 4)
  --workers=N          engine worker threads (default 2)

Configuration (every command): a flag's value comes from the command line,
else the environment (LOYALTY_<FLAG>, upper-cased, '-' as '_':
LOYALTY_DATA_DIR), else --config=FILE (or LOYALTY_CONFIG): "name = value"
lines, '#' comments; "kafka.<property> = value" lines and LOYALTY_KAFKA_<KEY>
variables ('.' as '_': LOYALTY_KAFKA_SASL_PASSWORD) add librdkafka
properties, under -X. Secrets are never printed (docs/operations.md).

  --version            the version, commit, build type and library versions

Exit status: 0 on success, 1 on a bad program or I/O error, 2 on bad usage.
)";

int Fail(int code, const std::string& message) {
  std::cerr << "loyaltyd: " << message << "\n";
  return code;
}

// What run and replay share: no stray arguments, a sane --batch-size,
// --durability (process, the default: WAL without fsync, survives kill -9;
// machine: fsync the WAL with every batch, survives power loss) and the
// programs. Returns 0, or the exit code after printing the error.
struct Common {
  loyalty::ProgramSet programs;
  bool sync_writes = false;
};

int ParseCommon(const loyalty::Flags& flags, const std::string& program_path, int64_t batch_size,
                Common* out) {
  if (!flags.positional().empty()) {
    return Fail(2, absl::StrCat("unexpected argument \"", flags.positional()[0], "\""));
  }
  if (batch_size < 1 || batch_size > 1'000'000) {
    return Fail(2, "--batch-size must be in [1, 1000000]");
  }
  const std::string durability = flags.Get("durability", "process");
  if (durability != "process" && durability != "machine") {
    return Fail(2, absl::StrCat("--durability=", durability, ": use process or machine"));
  }
  out->sync_writes = durability == "machine";
  auto programs = loyalty::LoadPrograms(program_path);
  if (!programs.ok()) return Fail(1, std::string(programs.status().message()));
  out->programs = std::move(*programs);
  return 0;
}

// --brokers=embedded: librdkafka's mock cluster in this process, with the
// input and output topics created. Returns it, or prints the error.
std::unique_ptr<loyalty::EmbeddedKafka> StartEmbedded(const loyalty::Flags& flags) {
  constexpr int kPartitions = 4;
  const loyalty::Topics topics = loyalty::TopicsFromFlags(flags);
  auto kafka = loyalty::EmbeddedKafka::Start();
  absl::Status s = kafka.ok() ? (*kafka)->CreateTopics(topics, kPartitions) : kafka.status();
  if (!s.ok()) {
    Fail(1, std::string(s.message()));
    return nullptr;
  }
  std::fprintf(stderr,
               "run: WARNING: --brokers=embedded is librdkafka's mock cluster at %s, inside this\n"
               "run: process: it keeps nothing (everything is gone when run stops) and does not\n"
               "run: filter aborted transactions. For demos and quick starts only; use a new\n"
               "run: --data-dir each time (offsets stored by an earlier run would skip records).\n"
               "run: Topics: %s and the outputs, %d partitions each; produce with\n"
               "run:   loyaltyctl --brokers=%s produce FILE.jsonl\n",
               (*kafka)->bootstrap_servers().c_str(), topics.events.c_str(), kPartitions,
               (*kafka)->bootstrap_servers().c_str());
  return std::move(*kafka);
}

// The flags of each command; a shared --config file may hold any of them.
const std::set<std::string> kReplayFlags = {
    "program",   "data-dir",   "events",     "dlq",       "outcomes",
    "partition", "batch-size", "durability", "lines-max", "continue-with-new-file",
    "quiet",     "help"};
const std::set<std::string> kDemoFlags = {"program", "data-dir",   "seed",    "members",
                                          "days",    "partitions", "workers", "help"};

std::set<std::string> AllFlags() {
  std::set<std::string> all = loyalty::EngineRunFlags();
  all.insert(kReplayFlags.begin(), kReplayFlags.end());
  all.insert(kDemoFlags.begin(), kDemoFlags.end());
  return all;
}

// --instance-id: given, "none" for dynamic membership, or the host name.
std::string InstanceId(const loyalty::Flags& flags) {
  if (flags.Has("instance-id")) {
    const std::string id = flags.Get("instance-id");
    return id == "none" ? "" : id;
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "";
  return host;
}

// --http=ADDR:PORT: /metrics, /healthz and /readyz of `engine`.
absl::StatusOr<std::unique_ptr<loyalty::OpsServer>> StartOpsServer(const loyalty::Flags& flags,
                                                                   loyalty::KafkaEngine* engine) {
  loyalty::ReadinessOptions readiness;
  LOYALTY_ASSIGN_OR_RETURN(readiness.lag_max,
                           flags.GetIntIn("ready-lag-max", readiness.lag_max, 0, INT64_MAX / 2));
  loyalty::OpsHandlers handlers;
  handlers.metrics = [engine, readiness] {
    const loyalty::KafkaEngine::Metrics m = engine->metrics();
    return loyalty::EngineMetricsText(m, loyalty::EngineReadiness(m, readiness).ready,
                                      loyalty::EngineVersion(), loyalty::GitCommit());
  };
  handlers.ready = [engine, readiness](std::string* detail) {
    loyalty::Readiness r = loyalty::EngineReadiness(engine->metrics(), readiness);
    *detail = std::move(r.detail);
    return r.ready;
  };
  const std::string address = flags.Get("http");
  LOYALTY_ASSIGN_OR_RETURN(auto server, loyalty::OpsServer::Start(address, std::move(handlers)));
  loyalty::log::Info("http endpoint", {{"address", address}, {"port", server->port()}});
  return server;
}

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// The engine's options from the flags of `loyaltyd run`; InvalidArgument
// names the flag.
absl::StatusOr<loyalty::KafkaEngine::Options> EngineOptions(const loyalty::Flags& flags,
                                                            const std::string& brokers,
                                                            const std::string& data_dir,
                                                            int64_t workers, int64_t batch,
                                                            const Common& common) {
  loyalty::KafkaEngine::Options options;
  LOYALTY_ASSIGN_OR_RETURN(options.brokers, loyalty::ClusterFromFlags(flags, brokers));
  options.data_dir = data_dir;
  options.group_id = flags.Get("group", options.group_id);
  options.topics = loyalty::TopicsFromFlags(flags);
  const std::string outputs = flags.Get("outputs", "outcomes,balances,dlq");
  options.outputs_enabled = outputs != "none" && outputs != "off";
  if (options.outputs_enabled && outputs != "on") {
    LOYALTY_ASSIGN_OR_RETURN(options.outputs, loyalty::OutputSet::Parse(outputs));
  }
  LOYALTY_ASSIGN_OR_RETURN(int64_t interval, flags.GetIntIn("commit-interval-ms",
                                                            options.commit_interval_ms, 0, 60'000));
  options.commit_interval_ms = static_cast<int>(interval);
  LOYALTY_ASSIGN_OR_RETURN(int64_t batch_wait,
                           flags.GetIntIn("batch-wait-ms", options.batch_wait_ms, 0, 10'000));
  options.batch_wait_ms = static_cast<int>(batch_wait);
  options.transactional_id_prefix = flags.Get("transactional-id-prefix");
  options.workers = static_cast<int>(workers);
  options.batch_records_max = batch;
  options.sync_writes = common.sync_writes;
  options.instance_id = InstanceId(flags);
  LOYALTY_ASSIGN_OR_RETURN(
      int64_t session,
      flags.GetIntIn("session-timeout-ms", options.session_timeout_ms, 1'000, 3'600'000));
  options.session_timeout_ms = static_cast<int>(session);
  LOYALTY_RETURN_IF_ERROR(loyalty::MemoryBudgetsFromFlags(flags, &options));
  options.backup_dir = flags.Get("backup-dir");
  LOYALTY_ASSIGN_OR_RETURN(options.backup_interval_ms,
                           flags.GetDurationMs("backup-interval", options.backup_interval_ms,
                                               int64_t{7} * 24 * 3'600'000));
  LOYALTY_ASSIGN_OR_RETURN(int64_t kept,
                           flags.GetIntIn("backups-kept", options.backups_kept, 1, 10'000));
  options.backups_kept = static_cast<int>(kept);
  options.backup_taken_by = options.instance_id;
  LOYALTY_ASSIGN_OR_RETURN(int64_t standbys, flags.GetIntIn("standby-replicas", 0, 0, 100));
  options.standby_replicas = static_cast<int>(standbys);
  return options;
}

// Runs the engine until SIGTERM or SIGINT, with a progress line on stderr if
// `show_progress`.
absl::Status RunUntilSignal(loyalty::KafkaEngine* engine, bool show_progress) {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread progress([&] {
    if (!show_progress) return;
    while (!done.load()) {
      std::fprintf(stderr, "\rrun: %lld records applied, %d partitions owned   ",
                   static_cast<long long>(engine->records_applied()), engine->owned_partitions());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::fprintf(stderr, "\n");
  });
  absl::Status s = engine->Run(g_stop);
  done.store(true);
  progress.join();
  loyalty::log::Info("stop", {{"records_applied", engine->records_applied()}, {"clean", s.ok()}});
  return s;
}

int Run(int argc, char** argv) {
  auto flags = loyalty::Flags::Parse(argc, argv, 2, loyalty::EngineRunFlags(), {"quiet", "help"},
                                     AllFlags());
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (absl::Status s = loyalty::ConfigureLogFromFlags(*flags); !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  auto brokers = flags->Require("brokers");
  auto program = flags->Require("program");
  auto data_dir = flags->Require("data-dir");
  auto workers = flags->GetIntIn("workers", 2, 1, 256);
  auto batch = flags->GetIntIn("batch-size", 4096, 1, 1'000'000);
  for (const absl::Status& s :
       {brokers.status(), program.status(), data_dir.status(), workers.status(), batch.status()}) {
    if (!s.ok()) return Fail(2, std::string(s.message()));
  }
  std::unique_ptr<loyalty::EmbeddedKafka> embedded;  // declared before the engine: outlives it
  if (*brokers == "embedded") {
    if (embedded = StartEmbedded(*flags); embedded == nullptr) return 1;
    *brokers = embedded->bootstrap_servers();
  }
  Common common;
  if (int code = ParseCommon(*flags, *program, *batch, &common); code != 0) return code;
  // A data dir that cannot hold stores (a regular file, a read-only file
  // system) is said now, not when the first partition is assigned.
  if (absl::Status dir = loyalty::MakeDirectory(*data_dir); !dir.ok()) {
    return Fail(1, std::string(dir.message()));
  }
  auto options = EngineOptions(*flags, *brokers, *data_dir, *workers, *batch, common);
  if (!options.ok()) return Fail(2, std::string(options.status().message()));
  loyalty::LogStart("loyaltyd", "run", *flags);
  auto engine = loyalty::KafkaEngine::Create(&common.programs, *options);
  if (!engine.ok()) return Fail(1, std::string(engine.status().message()));
  std::unique_ptr<loyalty::OpsServer> ops;  // declared after the engine: stops first
  if (flags->Has("http")) {
    auto started = StartOpsServer(*flags, engine->get());
    if (!started.ok())
      return Fail(absl::IsInvalidArgument(started.status()) ? 2 : 1,
                  std::string(started.status().message()));
    ops = std::move(*started);
  }
  absl::Status s = RunUntilSignal(engine->get(), !flags->Has("quiet") && isatty(STDERR_FILENO));
  if (!s.ok()) return Fail(1, std::string(s.message()));
  return 0;
}

int Replay(int argc, char** argv) {
  auto flags = loyalty::Flags::Parse(argc, argv, 2, kReplayFlags,
                                     {"continue-with-new-file", "quiet", "help"}, AllFlags());
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  loyalty::ReplayOptions options;
  auto program = flags->Require("program");
  auto data_dir = flags->Require("data-dir");
  auto events = flags->Require("events");
  // Partition ids as Kafka numbers them (loyaltyctl create-topics makes at
  // most 10000): a store <data-dir>/p-NNNN that run and the tools find.
  auto partition = flags->GetIntIn("partition", 0, 0, 9'999);
  auto batch = flags->GetIntIn("batch-size", 4096, 1, 1'000'000);
  auto lines_max = flags->GetIntIn("lines-max", INT64_MAX, 1, INT64_MAX);
  for (const absl::Status& s : {program.status(), data_dir.status(), events.status(),
                                partition.status(), batch.status(), lines_max.status()}) {
    if (!s.ok()) return Fail(2, std::string(s.message()));
  }
  Common common;
  if (int code = ParseCommon(*flags, *program, *batch, &common); code != 0) return code;
  options.data_dir = *data_dir;
  options.events_path = *events;
  options.dlq_path = flags->Get("dlq");
  options.outcomes_path = flags->Get("outcomes");
  options.partition = static_cast<int32_t>(*partition);
  options.batch_size = *batch;
  options.sync_writes = common.sync_writes;
  options.lines_max = *lines_max;
  options.continue_with_new_file = flags->Has("continue-with-new-file");
  options.progress = !flags->Has("quiet") && isatty(STDERR_FILENO);
  auto stats = loyalty::RunReplay(common.programs, options);
  if (!stats.ok()) return Fail(1, std::string(stats.status().message()));
  if (!stats->source_note.empty()) std::fprintf(stderr, "replay: %s\n", stats->source_note.c_str());
  // Outcomes, as the engine's outputs count them (loyalty-gen counts the
  // lines it wrote by what they were meant to be; docs/semantics.md).
  std::string reasons;
  for (const auto& [reason, n] : stats->rejected_by_reason) {
    absl::StrAppend(&reasons, reasons.empty() ? " (" : ", ", reason, " ", n);
  }
  if (!reasons.empty()) reasons += ")";
  std::fprintf(stderr,
               "replay: %lld lines in %.2f s (%.0f lines/s): %lld applied (an outcome each: "
               "APPLIED, REJECTED or IGNORED), %lld duplicates, %lld rejected to the DLQ%s, "
               "%lld already applied before\n",
               static_cast<long long>(stats->lines), stats->seconds,
               stats->seconds > 0 ? static_cast<double>(stats->lines) / stats->seconds : 0.0,
               static_cast<long long>(stats->applied), static_cast<long long>(stats->duplicates),
               static_cast<long long>(stats->rejected), reasons.c_str(),
               static_cast<long long>(stats->skipped));
  return 0;
}

int Demo(int argc, char** argv) {
  auto flags = loyalty::Flags::Parse(argc, argv, 2, kDemoFlags, {"help"}, AllFlags());
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!flags->positional().empty()) {
    return Fail(2, absl::StrCat("unexpected argument \"", flags->positional()[0], "\""));
  }
  loyalty::DemoOptions options;
  auto seed = flags->GetIntIn("seed", 1, 0, INT64_MAX);
  auto members = flags->GetIntIn("members", options.members, 1, 100'000);
  auto days = flags->GetIntIn("days", options.days, 1, 3660);
  auto partitions = flags->GetIntIn("partitions", options.partitions, 1, 64);
  auto workers = flags->GetIntIn("workers", options.workers, 1, 64);
  for (const absl::Status& s :
       {seed.status(), members.status(), days.status(), partitions.status(), workers.status()}) {
    if (!s.ok()) return Fail(2, std::string(s.message()));
  }
  // The summary is the demo's output: the engine's info lines (partitions
  // assigned, revoked) would only interleave with it.
  loyalty::log::Configure({.format = loyalty::log::Format::kLogfmt,
                           .level = loyalty::log::Level::kWarn});
  options.program_path = flags->Get("program");
  options.data_dir = flags->Get("data-dir");
  options.seed = static_cast<uint64_t>(*seed);
  options.members = static_cast<int>(*members);
  options.days = static_cast<int>(*days);
  options.partitions = static_cast<int>(*partitions);
  options.workers = static_cast<int>(*workers);
  absl::Status s = loyalty::RunDemo(options);
  if (!s.ok()) return Fail(1, std::string(s.message()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--version") {
      std::cout << loyalty::VersionText("loyaltyd");
      return 0;
    }
  }
  if (command == "replay") return Replay(argc, argv);
  if (command == "run") return Run(argc, argv);
  if (command == "demo") return Demo(argc, argv);
  return Fail(2, absl::StrCat("unknown command \"", command, "\" (see --help)"));
}
