// loyaltyd: the Loyalty Ledger engine: `run` (consume Kafka) and `replay`
// (the same apply path fed from a JSON Lines file). `demo` comes with the
// embedded broker.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/engine.h"
#include "engine/cmd/flags.h"
#include "engine/cmd/replay.h"
#include "engine/program/program.h"

namespace {

constexpr char kUsage[] = R"(loyaltyd: the Loyalty Ledger engine

Usage:
  loyaltyd run --brokers=HOST:PORT --program=PATH --data-dir=DIR [options]
  loyaltyd replay --program=PATH --data-dir=DIR --events=FILE.jsonl [options]

Commands:
  run       Join the consumer group and apply the input topic's partitions
            assigned to this process, each to its store <data-dir>/p-NNNN,
            resuming from the offsets stored there (exactly-once on the input
            side). Stops cleanly on SIGTERM or SIGINT. This build does not yet
            publish the output topics (balances, ledger, outcomes, DLQ): that
            is the next step of the Kafka work.
  replay    Apply the events of a JSON Lines file (one loyalty.v1.Event per
            line, proto3 JSON) through the same apply path as the Kafka
            engine. The offset of a line is its line number, so running the
            same file again applies nothing new; a longer file continues
            where the last run stopped.

Options of run:
  --brokers=LIST       Kafka bootstrap servers (required)
  --group=ID           consumer group (default loyalty-engine)
  --events-topic=T     input topic (default loyalty.events)
  --workers=N          worker threads; partition p goes to worker p % N (default 2)
  --batch-size=N       records per batch at most (default 4096)
  --durability=MODE    process (default) or machine (fsync the WAL per batch)
  --instance-id=ID     static group membership: a restart with the same id
                       gets its partitions back without a rebalance
  --session-timeout-ms=N  how long the group waits for a silent member
                       (default 45000)

Options of replay:
  --program=PATH       program file or directory of *.textproto (required)
  --data-dir=DIR       the ledger's data directory (required)
  --events=FILE        JSON Lines input (required)
  --dlq=FILE           append rejected lines here: {"line","reason","detail","raw"}
  --outcomes=FILE      append one outcome per applied line (proto3 JSON)
                       (both files get each line exactly once, across crashes:
                       their size commits with the ledger, and a restart cuts
                       off lines of a batch that never committed)
  --partition=N        the partition store to write (default 0)
  --batch-size=N       lines per atomic write (default 4096)
  --durability=MODE    process (default): survives kill -9;
                       machine: fsync the WAL with every batch
  --lines-max=N        stop after N lines (testing restarts)
  --quiet              no progress output
  --help               this text

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

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int Run(int argc, char** argv) {
  auto flags = loyalty::Flags::Parse(
      argc, argv, 2,
      {"brokers", "program", "data-dir", "group", "events-topic", "workers", "batch-size",
       "durability", "instance-id", "session-timeout-ms", "quiet", "help"},
      {"quiet", "help"});
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  auto brokers = flags->Require("brokers");
  auto program = flags->Require("program");
  auto data_dir = flags->Require("data-dir");
  auto workers = flags->GetInt("workers", 2);
  auto batch = flags->GetInt("batch-size", 4096);
  for (const absl::Status& s :
       {brokers.status(), program.status(), data_dir.status(), workers.status(), batch.status()}) {
    if (!s.ok()) return Fail(2, std::string(s.message()));
  }
  if (*brokers == "embedded") return Fail(2, "--brokers=embedded comes with `loyaltyd demo`");
  if (*workers < 1 || *workers > 256) return Fail(2, "--workers must be in [1, 256]");
  Common common;
  if (int code = ParseCommon(*flags, *program, *batch, &common); code != 0) return code;
  loyalty::KafkaEngine::Options options;
  options.brokers = *brokers;
  options.data_dir = *data_dir;
  options.group_id = flags->Get("group", options.group_id);
  options.topics.events = flags->Get("events-topic", options.topics.events);
  options.workers = static_cast<int>(*workers);
  options.batch_records_max = *batch;
  options.sync_writes = common.sync_writes;
  options.instance_id = flags->Get("instance-id");
  auto session = flags->GetInt("session-timeout-ms", options.session_timeout_ms);
  if (!session.ok()) return Fail(2, std::string(session.status().message()));
  options.session_timeout_ms = static_cast<int>(*session);
  auto engine = loyalty::KafkaEngine::Create(&common.programs, options);
  if (!engine.ok()) return Fail(1, std::string(engine.status().message()));
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread progress([&] {
    if (flags->Has("quiet") || !isatty(STDERR_FILENO)) return;
    while (!done.load()) {
      std::fprintf(stderr, "\rrun: %lld records applied, %d partitions owned   ",
                   static_cast<long long>((*engine)->records_applied()),
                   (*engine)->owned_partitions());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::fprintf(stderr, "\n");
  });
  absl::Status s = (*engine)->Run(g_stop);
  done.store(true);
  progress.join();
  std::fprintf(stderr, "run: stopped after %lld records\n",
               static_cast<long long>((*engine)->records_applied()));
  if (!s.ok()) return Fail(1, std::string(s.message()));
  return 0;
}

int Replay(int argc, char** argv) {
  auto flags =
      loyalty::Flags::Parse(argc, argv, 2,
                            {"program", "data-dir", "events", "dlq", "outcomes", "partition",
                             "batch-size", "durability", "lines-max", "quiet", "help"},
                            {"quiet", "help"});
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  loyalty::ReplayOptions options;
  auto program = flags->Require("program");
  auto data_dir = flags->Require("data-dir");
  auto events = flags->Require("events");
  auto partition = flags->GetInt("partition", 0);
  auto batch = flags->GetInt("batch-size", 4096);
  auto lines_max = flags->GetInt("lines-max", INT64_MAX);
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
  options.progress = !flags->Has("quiet") && isatty(STDERR_FILENO);
  auto stats = loyalty::RunReplay(common.programs, options);
  if (!stats.ok()) return Fail(1, std::string(stats.status().message()));
  std::fprintf(stderr,
               "replay: %lld lines in %.2f s (%.0f lines/s): %lld applied, %lld duplicates, "
               "%lld rejected to the DLQ, %lld already applied before\n",
               static_cast<long long>(stats->lines), stats->seconds,
               stats->seconds > 0 ? static_cast<double>(stats->lines) / stats->seconds : 0.0,
               static_cast<long long>(stats->applied), static_cast<long long>(stats->duplicates),
               static_cast<long long>(stats->rejected), static_cast<long long>(stats->skipped));
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
  if (command == "replay") return Replay(argc, argv);
  if (command == "run") return Run(argc, argv);
  if (command == "demo") return Fail(2, "'demo' needs the embedded broker, not in this build yet");
  return Fail(2, absl::StrCat("unknown command \"", command, "\" (see --help)"));
}
