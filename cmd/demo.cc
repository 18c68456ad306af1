#include "cmd/demo.h"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cmd/cafe_program.h"  // generated from programs/cafe.textproto
#include "cmd/demo_format.h"
#include "cmd/demo_generator.h"
#include "cmd/demo_outputs.h"
#include "cmd/demo_report.h"
#include "connectors/kafka/embedded.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"
#include "engine/program/program.h"

namespace loyalty {
namespace {

using demo_internal::Num;
using demo_internal::OutputCounts;
using demo_internal::Print;
using demo_internal::StoreContents;
using demo_internal::Stream;
using demo_internal::Tally;
using Clock = std::chrono::steady_clock;

// Seconds since it was made.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  Clock::time_point start_ = Clock::now();
};

// Owns a temporary data directory and removes it at the end.
class DataDir {
 public:
  ~DataDir() {
    if (!temporary_ || path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  absl::Status Init(const std::string& requested) {
    namespace fs = std::filesystem;
    if (requested.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "loyalty-demo.XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) {
        return absl::UnavailableError(absl::StrCat("cannot create a directory like ", tmpl));
      }
      path_ = tmpl;
      temporary_ = true;
      return absl::OkStatus();
    }
    std::error_code ec;
    if (fs::exists(requested, ec) && !fs::is_empty(requested, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--data-dir=", requested,
          " is not empty: the demo's broker starts empty every time, so a ledger there would "
          "not match its offsets; give a new directory"));
    }
    fs::create_directories(requested, ec);
    if (ec) return absl::UnavailableError(absl::StrCat(requested, ": ", ec.message()));
    path_ = requested;
    return absl::OkStatus();
  }

  const std::string& path() const { return path_; }
  bool temporary() const { return temporary_; }

 private:
  std::string path_;
  bool temporary_ = false;
};

// Runs the engine on its own thread; stopping and joining are certain.
class EngineThread {
 public:
  explicit EngineThread(KafkaEngine* engine)
      : thread_([this, engine] {
          status_ = engine->Run(stop_);
          done_.store(true);
        }) {}
  ~EngineThread() { Stop().IgnoreError(); }  // an early return has its own error
  absl::Status Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  bool done() const { return done_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  absl::Status status_;
  std::thread thread_;  // last: starts after the members it uses
};

absl::Status CheckOptions(const DemoOptions& o) {
  if (o.members < 1 || o.members > 100'000) {
    return absl::InvalidArgumentError("members must be in [1, 100000]");
  }
  if (o.days < 1 || o.days > 3660) return absl::InvalidArgumentError("days must be in [1, 3660]");
  if (o.visits_per_day < 1 || o.visits_per_day > 100'000) {
    return absl::InvalidArgumentError("visits per day must be in [1, 100000]");
  }
  if (o.partitions < 1 || o.partitions > 64) {
    return absl::InvalidArgumentError("partitions must be in [1, 64]");
  }
  if (o.workers < 1 || o.workers > 64) {
    return absl::InvalidArgumentError("workers must be in [1, 64]");
  }
  return absl::OkStatus();
}

// The programs of the run and the one the stream is for.
struct DemoProgram {
  ProgramSet programs;
  // "cafe", else the first; owned by programs. Its base version: the demo's
  // stream starts on 2025-03-03, before any later version of the examples
  // (programs/examples/cafe-versions.textproto's starts in 2030).
  const CompiledProgram* program = nullptr;
  std::string source;                        // where it came from, for the summary
};

// The café compiled into the binary, or the programs of --program.
absl::StatusOr<DemoProgram> LoadProgram(const DemoOptions& o) {
  DemoProgram p;
  p.source = "programs/cafe.textproto, built in";
  if (o.program_path.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(auto cafe,
                             ParseProgramFile(kCafeProgramText, "programs/cafe.textproto"));
    LOYALTY_RETURN_IF_ERROR(p.programs.Add(std::move(cafe)));
  } else {
    auto loaded = LoadPrograms(o.program_path);
    if (!loaded.ok()) return absl::InvalidArgumentError(loaded.status().message());
    p.programs = std::move(*loaded);
    p.source = o.program_path;
  }
  if (p.programs.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(o.program_path, ": no program"));
  }
  const ProgramHistory* history = p.programs.FindHistory("cafe");
  if (history == nullptr) history = p.programs.FindHistory(p.programs.ids().front());
  p.program = &history->base();
  return p;
}

// The banner: the broker, the topics, the program and the data directory.
void PrintSetup(const DemoOptions& o, const std::string& brokers, const Topics& topics,
                const DemoProgram& p, const DataDir& dir) {
  FILE* out = o.out;
  const CompiledProgram* program = p.program;
  absl::FPrintF(out, "Loyalty Ledger demo: a café on an embedded Kafka broker\n\n");
  Print(out, "  broker    ",
        absl::StrCat(brokers,
                     ": librdkafka's mock cluster, inside this process. It keeps nothing and "
                     "does not filter aborted transactions: a demo, not evidence of exactly-once "
                     "(the tests use a real broker)."));
  Print(out, "  topics    ",
        absl::StrCat(topics.events, ", ", absl::StrJoin(topics.outputs(), ", "), " (", o.partitions,
                     " partitions each)"));
  Print(out, "  program   ",
        absl::StrCat(program->program_id(), " (", p.source, "): ", program->proto().currency(),
                     ", ", demo_internal::Describe(program->proto())));
  Print(out, "  data dir  ",
        absl::StrCat(dir.path(),
                     dir.temporary() ? " (temporary; --data-dir=DIR keeps the ledger)" : ""));
  absl::FPrintF(out, "\n");
}

// Step 1: the café's stream, and what it holds.
Stream GenerateStream(const DemoOptions& o, const CompiledProgram& program) {
  FILE* out = o.out;
  Print(out, "1. ",
        absl::StrCat("Generating ", o.days, " days of the café from Monday 2025-03-03 (seed ",
                     o.seed, ", ", o.members, " members)"));
  Stream stream =
      demo_internal::GenerateCafeStream(o, program.program_id(), program.proto().currency());
  int64_t bad_total = 0;
  for (const auto& [reason, n] : stream.bad) bad_total += n;
  Print(out, "   ",
        absl::StrCat(
            Num(static_cast<int64_t>(stream.lines.size())), " events: ", Num(stream.purchases),
            " purchases, ", Num(stream.reviews), " reviews, ", Num(stream.likes), " likes, ",
            Num(stream.redemptions), " redemptions, ", Num(stream.refunds), " refunds, ",
            Num(stream.plans), " VIP plan, ", Num(stream.adjustments), " adjustment, ",
            Num(stream.ticks), " nightly ticks; and, on purpose, ", Num(stream.resent),
            " resent purchases and ", Num(bad_total), " bad events (", Tally(stream.bad), ")"));
  return stream;
}

// Step 2: the stream produced to the input topic; returns the records
// delivered.
absl::StatusOr<int64_t> ProduceStream(const DemoOptions& o, const std::string& brokers,
                                      const Topics& topics, const Stream& stream) {
  FILE* out = o.out;
  Print(out, "2. ",
        absl::StrCat("Producing them to ", topics.events,
                     " as binary protobuf keyed by member_id (a tick goes to every partition), "
                     "while the engine joins its consumer group"));
  ProduceOptions po;
  po.brokers = brokers;
  po.topic = topics.events;
  const Stopwatch produce;
  LOYALTY_ASSIGN_OR_RETURN(ProduceStats produced, ProduceLines(po, stream.lines));
  absl::FPrintF(out, "   %s records delivered in %.1f s\n", Num(produced.records),
                produce.seconds());
  return produced.records;
}

// Step 3: waits until the engine applied `records` records, printing its
// progress every second.
absl::Status WaitUntilApplied(const DemoOptions& o, const KafkaEngine& engine, EngineThread* runner,
                              int64_t records, const Stopwatch& run) {
  FILE* out = o.out;
  double last_print = -1;
  for (;;) {
    const int64_t applied = engine.records_applied();
    const bool finished = applied >= records;
    if (finished || run.seconds() - last_print >= 1.0) {
      last_print = run.seconds();
      const int owned = engine.owned_partitions();
      absl::FPrintF(out, "   [%4.1f s] %s of %s records applied, %d of %d partitions owned%s\n",
                    run.seconds(), Num(applied), Num(records), owned, o.partitions,
                    owned == 0 ? " (joining the group)" : "");
      std::fflush(out);
    }
    if (finished) return absl::OkStatus();
    if (runner->done()) {
      absl::Status s = runner->Stop();
      return s.ok() ? absl::InternalError("the engine stopped before applying everything") : s;
    }
    if (run.seconds() > o.timeout_ms / 1000.0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the engine applied ", applied, " of ", records, " records in ", o.timeout_ms, " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Steps 2 and 3: the engine starts (joining the group takes a few seconds on
// the mock) while the stream is produced, runs until every record took
// effect, and stops, closing its stores. Returns the records produced.
absl::StatusOr<int64_t> RunEngine(const DemoOptions& o, const std::string& brokers,
                                  const Topics& topics, const DemoProgram& p, const DataDir& dir,
                                  const Stream& stream) {
  KafkaEngine::Options eo;
  eo.brokers = brokers;
  eo.data_dir = dir.path();
  eo.topics = topics;
  eo.workers = o.workers;
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<KafkaEngine> engine,
                           KafkaEngine::Create(&p.programs, eo));
  auto runner = std::make_unique<EngineThread>(engine.get());
  LOYALTY_ASSIGN_OR_RETURN(int64_t records, ProduceStream(o, brokers, topics, stream));

  Print(o.out, "3. ",
        absl::StrCat("Running the engine: ", o.workers,
                     " workers (the mock broker holds the "
                     "first join of a group ~3 s)"));
  const Stopwatch run;
  LOYALTY_RETURN_IF_ERROR(WaitUntilApplied(o, *engine, runner.get(), records, run));
  LOYALTY_RETURN_IF_ERROR(runner->Stop());
  runner.reset();
  engine.reset();  // closes the stores
  absl::FPrintF(o.out, "   all applied; engine stopped after %.1f s\n\n", run.seconds());
  return records;
}

// The last lines: how long it took, and where the ledger is if it stays.
void PrintDone(FILE* out, const DataDir& dir, double seconds, const std::string& member_id) {
  if (dir.temporary()) {
    absl::FPrintF(out, "Done in %.1f s. The ledger was temporary; keep one with --data-dir=DIR.\n",
                  seconds);
  } else {
    absl::FPrintF(out,
                  "Done in %.1f s. The ledger stays in %s:\n"
                  "   loyaltyctl --data-dir=%s balance %s   (also: history, dump, verify)\n",
                  seconds, dir.path(), dir.path(), member_id);
  }
}

}  // namespace

absl::Status RunDemo(const DemoOptions& o) {
  LOYALTY_RETURN_IF_ERROR(CheckOptions(o));
  FILE* out = o.out;
  const Stopwatch demo;
  LOYALTY_ASSIGN_OR_RETURN(DemoProgram p, LoadProgram(o));
  const CompiledProgram& program = *p.program;
  DataDir dir;
  LOYALTY_RETURN_IF_ERROR(dir.Init(o.data_dir));

  // The broker and the topics.
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedKafka> kafka, EmbeddedKafka::Start());
  const std::string brokers = kafka->bootstrap_servers();
  Topics topics;
  LOYALTY_RETURN_IF_ERROR(kafka->CreateTopics(topics, o.partitions));
  PrintSetup(o, brokers, topics, p, dir);

  const Stream stream = GenerateStream(o, program);
  LOYALTY_ASSIGN_OR_RETURN(int64_t records, RunEngine(o, brokers, topics, p, dir, stream));

  // What the engine published, read back from the output topics, and what
  // the stores hold; then the summary.
  LOYALTY_ASSIGN_OR_RETURN(OutputCounts outputs,
                           demo_internal::ReadOutputs(brokers, topics, o.partitions));
  LOYALTY_ASSIGN_OR_RETURN(StoreContents contents, demo_internal::ReadStores(dir.path()));
  demo_internal::PrintOutputs(out, records, topics, std::move(outputs));
  demo_internal::PrintMembers(out, program, contents.members);
  const std::vector<const loyalty::v1::MemberState*> top =
      demo_internal::PrintTopMembers(out, program.proto().currency(), contents.members);
  LOYALTY_RETURN_IF_ERROR(demo_internal::PrintHistory(out, program, contents, stream.engagements));
  demo_internal::PrintAudit(out, contents.audit);
  contents.stores.clear();
  PrintDone(out, dir, demo.seconds(), top.empty() ? "m0001" : top.front()->member_id());
  if (!contents.audit.ok()) return absl::DataLossError("the audit found problems");
  return absl::OkStatus();
}

}  // namespace loyalty
