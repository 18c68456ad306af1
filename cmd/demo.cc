#include "cmd/demo.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cmd/cafe_program.h"  // generated from programs/cafe.textproto
#include "cmd/demo_format.h"
#include "cmd/demo_generator.h"
#include "cmd/demo_outputs.h"
#include "connectors/kafka/embedded.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/kafka.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

using demo_internal::Describe;
using demo_internal::Money;
using demo_internal::Num;
using demo_internal::OutputCounts;
using demo_internal::Print;
using demo_internal::ReadOutputs;
using demo_internal::Stream;
using demo_internal::Tally;
using loyalty::v1::LedgerEntry;
using loyalty::v1::MemberState;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Reading the stores.

struct MemberSummary {
  MemberState state;
  size_t store = 0;  // index in the stores opened
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

}  // namespace

absl::Status RunDemo(const DemoOptions& o) {
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
  FILE* out = o.out;
  const auto started = Clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };

  // The program: the café compiled into the binary, or --program.
  ProgramSet programs;
  std::string program_source = "programs/cafe.textproto, built in";
  if (o.program_path.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(auto cafe,
                             ParseProgramText(kCafeProgramText, "programs/cafe.textproto"));
    LOYALTY_RETURN_IF_ERROR(programs.Add(std::move(cafe)));
  } else {
    auto loaded = LoadPrograms(o.program_path);
    if (!loaded.ok()) return absl::InvalidArgumentError(loaded.status().message());
    programs = std::move(*loaded);
    program_source = o.program_path;
  }
  if (programs.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(o.program_path, ": no program"));
  }
  const CompiledProgram* program = programs.Find("cafe");
  if (program == nullptr) program = programs.Find(programs.ids().front());
  const std::string& currency = program->proto().currency();

  DataDir dir;
  LOYALTY_RETURN_IF_ERROR(dir.Init(o.data_dir));

  // The broker and the topics.
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedKafka> kafka, EmbeddedKafka::Start());
  const std::string brokers = kafka->bootstrap_servers();
  Topics topics;
  LOYALTY_RETURN_IF_ERROR(kafka->CreateTopics(topics, o.partitions));

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
        absl::StrCat(program->program_id(), " (", program_source, "): ", currency, ", ",
                     Describe(program->proto())));
  Print(out, "  data dir  ",
        absl::StrCat(dir.path(),
                     dir.temporary() ? " (temporary; --data-dir=DIR keeps the ledger)" : ""));
  absl::FPrintF(out, "\n");

  // 1. The stream.
  Print(out, "1. ",
        absl::StrCat("Generating ", o.days, " days of the café from Monday 2025-03-03 (seed ",
                     o.seed, ", ", o.members, " members)"));
  Stream stream = demo_internal::GenerateCafeStream(o, program->program_id(), currency);
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

  // 2. The engine starts (joining the group takes a few seconds on the mock)
  // while the stream is produced.
  KafkaEngine::Options eo;
  eo.brokers = brokers;
  eo.data_dir = dir.path();
  eo.topics = topics;
  eo.workers = o.workers;
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<KafkaEngine> engine, KafkaEngine::Create(&programs, eo));
  auto runner = std::make_unique<EngineThread>(engine.get());

  Print(out, "2. ",
        absl::StrCat("Producing them to ", topics.events,
                     " as binary protobuf keyed by member_id (a tick goes to every partition), "
                     "while the engine joins its consumer group"));
  ProduceOptions po;
  po.brokers = brokers;
  po.topic = topics.events;
  const double produce_start = seconds();
  LOYALTY_ASSIGN_OR_RETURN(ProduceStats produced, ProduceLines(po, stream.lines));
  absl::FPrintF(out, "   %s records delivered in %.1f s\n", Num(produced.records),
                seconds() - produce_start);

  // 3. Wait until every record took effect.
  Print(out, "3. ",
        absl::StrCat("Running the engine: ", o.workers,
                     " workers (the mock broker holds the "
                     "first join of a group ~3 s)"));
  const double run_start = seconds();
  double last_print = -1;
  for (;;) {
    const int64_t applied = engine->records_applied();
    const bool finished = applied >= produced.records;
    if (finished || seconds() - last_print >= 1.0) {
      last_print = seconds();
      const int owned = engine->owned_partitions();
      absl::FPrintF(out, "   [%4.1f s] %s of %s records applied, %d of %d partitions owned%s\n",
                    seconds() - run_start, Num(applied), Num(produced.records), owned, o.partitions,
                    owned == 0 ? " (joining the group)" : "");
      std::fflush(out);
    }
    if (finished) break;
    if (runner->done()) {
      absl::Status s = runner->Stop();
      return s.ok() ? absl::InternalError("the engine stopped before applying everything") : s;
    }
    if (seconds() - run_start > o.timeout_ms / 1000.0) {
      return absl::DeadlineExceededError(absl::StrCat("the engine applied ", applied, " of ",
                                                      produced.records, " records in ",
                                                      o.timeout_ms, " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  LOYALTY_RETURN_IF_ERROR(runner->Stop());
  runner.reset();
  engine.reset();  // closes the stores
  absl::FPrintF(out, "   all applied; engine stopped after %.1f s\n\n", seconds() - run_start);

  // What the engine published, read back from the output topics.
  LOYALTY_ASSIGN_OR_RETURN(OutputCounts outputs, ReadOutputs(brokers, topics, o.partitions));

  // What the stores hold.
  std::vector<std::unique_ptr<PartitionStore>> stores;
  std::vector<MemberSummary> members;
  VerifyReport audit;
  LOYALTY_ASSIGN_OR_RETURN(auto opened, OpenDataDir(dir.path()));
  for (auto& [partition, store] : opened) {
    LOYALTY_RETURN_IF_ERROR(
        store->ForEachMember([&](const loyalty::v1::MemberRecord& rec) -> absl::Status {
          members.push_back({rec.state(), stores.size()});
          return absl::OkStatus();
        }));
    LOYALTY_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(store.get(), 5));
    audit.members += report.members;
    audit.entries += report.entries;
    audit.problems_total += report.problems_total;
    for (auto& problem : report.problems) audit.problems.push_back(std::move(problem));
    stores.push_back(std::move(store));
  }

  // The summary.
  const int64_t outcomes_total = outputs.records[topics.outcomes];
  const int64_t dlq_total = outputs.records[topics.dlq];
  absl::FPrintF(out, "What the engine did with the %s records\n", Num(produced.records));
  if (outcomes_total + dlq_total == 0) {
    Print(out, "   ",
          absl::StrCat(Num(produced.records),
                       " records took effect; this engine publishes no output topics, so there "
                       "is no breakdown by outcome"));
  } else {
    auto row = [&](const char* name, int64_t n, const std::string& text) {
      Print(out, absl::StrFormat("   %-12s %7s  ", name, Num(n)), text);
    };
    row("applied", outputs.outcome_status["APPLIED"],
        absl::StrCat("(", Num(outputs.tick_outcomes),
                     " of them ticks, one per partition a night)"));
    row("refused", outputs.outcome_status["REJECTED"],
        absl::StrCat("by the program: ", Tally(outputs.refused)));
    row("ignored", outputs.outcome_status["IGNORED"],
        absl::StrCat("valid but without effect: ", Tally(outputs.ignored)));
    row("duplicates", outputs.outcome_status["DUPLICATE"],
        "the resent purchases: outcome DUPLICATE, no effect");
    row("to the DLQ", dlq_total, Tally(outputs.dlq));
    int64_t tier_changes = 0;
    for (const auto& [cause, n] : outputs.tier_changes) tier_changes += n;
    row("matured", outputs.matured,
        "MATURED outcomes: points a nightly tick released or expired, one per member");
    row("tier changes", tier_changes,
        absl::StrCat("carried in the outcomes: ", Tally(outputs.tier_changes)));
    int64_t issued = 0;
    for (const auto& [rule, n] : outputs.issued_by_rule) issued += n;
    row("rewards", issued, absl::StrCat("issued by the rules: ", Tally(outputs.issued_by_rule)));
  }
  std::vector<std::string> topic_counts;
  int64_t published = 0;
  for (const std::string& t : topics.outputs()) {
    topic_counts.push_back(absl::StrCat(t, " ", Num(outputs.records[t])));
    published += outputs.records[t];
  }
  Print(out, absl::StrFormat("   %-12s %7s  ", "published", Num(published)),
        absl::StrCat("output records: ", absl::StrJoin(topic_counts, ", ")));
  absl::FPrintF(out, "\n");

  int64_t earned = 0, adjusted = 0, redeemed = 0, clawed = 0, expired = 0, outstanding = 0;
  int64_t spend = 0, purchases = 0;
  std::map<std::string, int64_t> tiers, rewards;
  for (const MemberSummary& m : members) {
    const MemberState& s = m.state;
    earned += s.lifetime_earned_points();
    adjusted += s.adjusted_points();
    redeemed += s.redeemed_points();
    clawed += s.clawed_back_points();
    expired += s.expired_points();
    outstanding += s.available_points() + s.pending_points();
    spend += s.spend_minor();
    purchases += s.purchase_count();
    tiers[s.tier_id()]++;
    for (const auto& [reward, n] : s.rewards_issued()) rewards[reward] += n;
  }
  int64_t rewards_total = 0;
  for (const auto& [reward, n] : rewards) rewards_total += n;
  std::vector<std::string> tier_parts;
  for (const auto& t : program->proto().tiers()) {
    tier_parts.push_back(absl::StrCat(Num(tiers[t.tier_id()]), " ", t.tier_id()));
  }
  absl::FPrintF(out, "Members and points\n");
  auto row = [&](const char* name, const std::string& n, const std::string& text) {
    Print(out, absl::StrFormat("   %-12s %7s  ", name, n), text);
  };
  row("members", Num(static_cast<int64_t>(members.size())),
      tier_parts.empty() ? "" : absl::StrJoin(tier_parts, ", "));
  row("purchases", Num(purchases), absl::StrCat("for ", Money(spend, currency)));
  row("issued", Num(earned),
      absl::StrCat("points for purchases and engagement; adjusted ", adjusted > 0 ? "+" : "",
                   Num(adjusted)));
  row("redeemed", Num(redeemed), "points");
  row("clawed back", Num(clawed), absl::StrCat("points (refunds); expired ", Num(expired)));
  row("outstanding", Num(outstanding),
      absl::StrCat("points: a liability of ",
                   Money(outstanding * program->proto().point_value_minor(), currency)));
  row("rewards", Num(rewards_total),
      absl::StrCat("issued, as counted in the members: ", Tally(rewards)));
  absl::FPrintF(out, "\n");

  std::vector<const MemberSummary*> top;
  for (const MemberSummary& m : members) top.push_back(&m);
  std::sort(top.begin(), top.end(), [](const MemberSummary* a, const MemberSummary* b) {
    if (a->state.available_points() != b->state.available_points()) {
      return a->state.available_points() > b->state.available_points();
    }
    return a->state.member_id() < b->state.member_id();
  });
  if (top.size() > 5) top.resize(5);
  absl::FPrintF(out, "Top members by available points\n");
  absl::FPrintF(out, "   %-8s %-8s %8s %8s %16s\n", "member", "tier", "points", "visits", "spent");
  for (const MemberSummary* m : top) {
    const MemberState& s = m->state;
    absl::FPrintF(out, "   %-8s %-8s %8s %8s %16s\n", s.member_id(), s.tier_id(),
                  Num(s.available_points()), Num(s.purchase_count()),
                  Money(s.spend_minor(), currency));
  }
  absl::FPrintF(out, "\n");

  // One member's history: the one whose ledger has the most kinds of
  // entries (then the most entries), shown by its latest entries of each kind.
  // Every member's entries, from one pass over each store's journal.
  std::map<std::string, std::vector<LedgerEntry>> entries_of;  // program/member -> entries
  for (auto& store : stores) {
    LOYALTY_RETURN_IF_ERROR(store->ForEachEntry([&](const LedgerEntry& e) -> absl::Status {
      entries_of[absl::StrCat(e.program_id(), "/", e.member_id())].push_back(e);
      return absl::OkStatus();
    }));
  }
  const MemberSummary* who = nullptr;
  std::vector<LedgerEntry> history;
  size_t who_kinds = 0;
  for (const MemberSummary& m : members) {
    std::vector<LedgerEntry>& entries =
        entries_of[absl::StrCat(m.state.program_id(), "/", m.state.member_id())];
    std::set<int> kinds;
    for (const LedgerEntry& e : entries) kinds.insert(e.type());
    if (who == nullptr || kinds.size() > who_kinds ||
        (kinds.size() == who_kinds && entries.size() > history.size())) {
      who = &m;
      who_kinds = kinds.size();
      history = std::move(entries);
    }
  }
  if (who != nullptr && !history.empty()) {
    // The last 3 entries of each kind and the last 4 overall, at most 16.
    std::set<size_t> shown;
    std::map<int, int> per_kind;
    for (size_t i = history.size(); i-- > 0;) {
      if (history.size() - i <= 4 || per_kind[history[i].type()]++ < 3) shown.insert(i);
    }
    while (shown.size() > 16) shown.erase(shown.begin());
    Print(out, "",
          absl::StrCat("History of ", who->state.member_id(), " (", shown.size(), " of its ",
                       Num(static_cast<int64_t>(history.size())),
                       " ledger entries: the latest of each kind; times in ",
                       program->time_zone().name(), ")"));
    for (size_t i : shown) {
      const LedgerEntry& e = history[i];
      auto at = TimestampToNanos(e.effective_at());
      std::string what = e.event_id().empty() ? "" : absl::StrCat("event ", e.event_id());
      if (!e.order_id().empty()) what = absl::StrCat("order ", e.order_id());
      if (!e.reward_id().empty()) what = absl::StrCat("reward ", e.reward_id());
      if (!e.reason().empty()) what = absl::StrCat("\"", e.reason(), "\"");
      if (auto it = stream.engagements.find(e.event_id()); it != stream.engagements.end()) {
        what = it->second;
      }
      absl::FPrintF(out, "   %s  #%-4d %-8s %+6d  %s\n",
                    at.ok()
                        ? absl::FormatTime("%Y-%m-%d %H:%M", NanosToTime(*at), program->time_zone())
                        : "?",
                    e.seq(), LedgerEntry::Type_Name(e.type()), e.points(), what);
    }
    absl::FPrintF(out, "\n");
  }

  if (audit.ok()) {
    Print(out, "",
          absl::StrCat("Audit (as loyaltyctl verify): every member's ledger adds up to its "
                       "balances: ",
                       Num(audit.members), " members, ", Num(audit.entries),
                       " entries, no problems."));
  } else {
    absl::FPrintF(out, "Audit (loyaltyctl verify): %s PROBLEMS\n", Num(audit.problems_total));
    for (const std::string& p : audit.problems) absl::FPrintF(out, "   %s\n", p);
  }
  stores.clear();
  if (dir.temporary()) {
    absl::FPrintF(out, "Done in %.1f s. The ledger was temporary; keep one with --data-dir=DIR.\n",
                  seconds());
  } else {
    absl::FPrintF(out,
                  "Done in %.1f s. The ledger stays in %s:\n"
                  "   loyaltyctl --data-dir=%s balance %s   (also: history, dump, verify)\n",
                  seconds(), dir.path(), dir.path(),
                  top.empty() ? "m0001" : top.front()->state.member_id());
  }
  if (!audit.ok()) return absl::DataLossError("the audit found problems");
  return absl::OkStatus();
}

}  // namespace loyalty
