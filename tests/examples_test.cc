// The example programs of programs/ (docs/programs.md): for each, a generated
// year of events (tests/testing/year_gen.h) replayed with batch sizes 1 and
// 500, and with 7 stopped in the middle and restarted, gives byte-identical
// state (SPEC §3.5) and the same outcome lines; and every rule the program
// defines fired at least once (tiers up and down, paid plans, punch cards,
// promotions, random draws, first-purchase rewards, partner earning,
// pending releases, expiry), so that a rule the engine stopped applying
// fails here. And the worked examples of docs/programs.md
// (docs/examples/*.jsonl) give the numbers that page quotes.
//
// LOYALTY_SEED and LOYALTY_EXAMPLES_EVENTS override the stream.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "connectors/file/replay.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/v1/ledger.pb.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"
#include "tests/testing/year_gen.h"

#ifndef LOYALTY_PROGRAMS_DIR
#error "tests/CMakeLists.txt defines LOYALTY_PROGRAMS_DIR (the source tree's programs/)"
#endif

namespace loyalty {
namespace {

using loyalty::v1::IssuedReward;
using loyalty::v1::LedgerEntry;
using loyalty::v1::Outcome;

// Events per program: a year that keeps the whole test within a minute in
// Debug; sanitizers run the apply path about three times slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)  // GCC
#define LOYALTY_EXAMPLES_SANITIZED 1
#elif defined(__has_feature)  // Clang
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LOYALTY_EXAMPLES_SANITIZED 1
#endif
#endif
#ifdef LOYALTY_EXAMPLES_SANITIZED
constexpr int64_t kDefaultEvents = 3'000;
#else
constexpr int64_t kDefaultEvents = 10'000;
#endif

// The program files of programs/, sorted: one test instance each.
std::vector<std::string> ProgramFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(LOYALTY_PROGRAMS_DIR, ec)) {
    if (e.path().extension() == ".textproto") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// What the generator sends besides what the program says: partners and
// amounts that suit each example (defaults for any other program).
testing::YearOptions OptionsFor(const std::string& program_id) {
  testing::YearOptions o;
  if (program_id == "cafe") {
    o.item_amount_max_minor = 600;  // a coffee, a pastry
  } else if (program_id == "travel") {
    o.item_amount_max_minor = 40'000;
    o.partner_ids = {"city-hotels", "sky-air"};
    o.partner_permille = 60;
  } else if (program_id == "retailer") {
    o.item_amount_max_minor = 6'000;
    o.partner_ids = {"fuel-station", "pharmacy"};
    o.partner_permille = 120;
  }
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Tally {
  std::map<std::string, int64_t> by_status_reason;  // "APPLIED/", "IGNORED/DAILY_CAP", ...
  std::map<std::string, int64_t> tier_causes;       // QUALIFIED, GRACE_ENDED, ...
  std::set<std::string> tiers_reached;              // tiers qualified for
  std::map<std::string, int64_t> issued;            // "PUNCH_CARD:<rule>" -> count
  std::map<std::string, int64_t> entries;           // ledger entry type -> count
  std::map<std::string, int64_t> partner_earns;     // partner_id -> EARN entries
  std::map<std::string, int64_t> bonus_rules;       // rule_id -> BONUS entries
  int64_t members = 0;
  int64_t members_with_first_purchase = 0;
  int64_t members_with_stamps = 0;
  int64_t members_with_nps = 0;
};

void TallyOutcomes(const std::string& path, Tally* t) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Outcome o;
    auto st = google::protobuf::util::JsonStringToMessage(line, &o);
    ASSERT_TRUE(st.ok()) << st << ": " << line;
    t->by_status_reason[Outcome::Status_Name(o.status()) + "/" + o.reason()]++;
    for (const auto& change : o.tier_changes()) {
      t->tier_causes[change.cause()]++;
      // Tiers qualified for: an upgrade shows it, and so does a downgrade at
      // the end of grace (a qualification under a running plan of the same
      // tier changes nothing visible until then).
      if (change.cause() == "QUALIFIED") {
        t->tiers_reached.insert(change.to_tier_id());
      } else if (change.cause() == "GRACE_ENDED") {
        t->tiers_reached.insert(change.from_tier_id());
      }
    }
    for (const IssuedReward& r : o.issued_rewards()) {
      t->issued[IssuedReward::Source_Name(r.source()) + ":" + r.rule_id()] += r.count();
    }
  }
}

void TallyStore(const std::string& partition_dir, Tally* t) {
  auto store = OpenPartitionReadOnly(partition_dir);
  ASSERT_TRUE(store.ok()) << store.status();
  auto st = (*store)->ForEachMember([&](const loyalty::v1::MemberRecord& m) {
    const auto& s = m.state();
    t->members++;
    if (s.has_first_purchase_at()) t->members_with_first_purchase++;
    for (const auto& [card, n] : s.stamps()) {
      if (n > 0) {
        t->members_with_stamps++;
        break;
      }
    }
    if (s.has_last_nps_score()) t->members_with_nps++;
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  st = (*store)->ForEachEntry([&](const LedgerEntry& e) {
    t->entries[LedgerEntry::Type_Name(e.type())]++;
    if (e.type() == LedgerEntry::EARN && !e.partner_id().empty()) {
      t->partner_earns[e.partner_id()]++;
    }
    if (e.type() == LedgerEntry::BONUS) t->bonus_rules[e.rule_id()]++;
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  auto report = VerifyStore(store->get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
}

// How often `key` was counted; 0 if never.
int64_t Count(const std::map<std::string, int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? int64_t{0} : it->second;
}

struct ReplayRun {
  std::string how;
  std::string digest;    // of the partition store
  std::string outcomes;  // the outcome lines written
};

// The year replayed with batch sizes 1 and 500, and 7 stopped in the middle
// (the store closed) then the whole file again with 500: the first part is
// skipped, not redone. Three replays rather than four keep the test within
// a minute in Debug and under ASan. The last run's store stays in `root`.
std::vector<ReplayRun> ReplayThreeWays(const ProgramSet& programs, const std::string& root,
                                 const testing::YearStream& stream) {
  const std::string events = root + "/events.jsonl";
  testing::WriteLines(events, stream.lines);
  const int64_t lines = static_cast<int64_t>(stream.lines.size());
  auto replay = [&](const std::string& dir, int64_t batch, int64_t lines_max) {
    ReplayOptions o;
    o.data_dir = dir;
    o.events_path = events;
    o.outcomes_path = dir + "/outcomes.jsonl";
    o.batch_size = batch;
    o.lines_max = lines_max;
    auto stats = RunReplay(programs, o);
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : ReplayStats();
  };
  std::vector<std::pair<std::string, std::string>> dirs;  // (how, dir)
  for (int64_t batch : {1, 500}) {
    const std::string dir = root + "/batch-" + std::to_string(batch);
    ReplayStats stats = replay(dir, batch, INT64_MAX);
    EXPECT_EQ(stats.lines, lines);
    EXPECT_EQ(stats.rejected, stream.bad_lines);
    EXPECT_EQ(stats.duplicates, stream.duplicate_lines);
    dirs.emplace_back("batch " + std::to_string(batch), dir);
  }
  const std::string dir = root + "/batch-7-restart";
  const int64_t part = lines / 2 + 13;
  ReplayStats first = replay(dir, 7, part);
  EXPECT_EQ(first.lines, part);
  ReplayStats second = replay(dir, 500, INT64_MAX);
  EXPECT_EQ(second.skipped, part);
  EXPECT_EQ(first.rejected + second.rejected, stream.bad_lines);
  dirs.emplace_back("batch 7 with a restart", dir);
  std::vector<ReplayRun> runs;
  for (const auto& [how, d] : dirs) {
    runs.push_back(
        {how, testing::HashPartitionStore(PartitionDir(d, 0)), ReadFile(d + "/outcomes.jsonl")});
  }
  return runs;
}

// What every programme does in a year: purchases earn, redemptions and
// refunds happen, and the common refusals are seen.
void ExpectCommonRulesFired(const loyalty::v1::Program& p, const Tally& t,
                            const testing::YearStream& stream, const testing::YearOptions& g) {
  EXPECT_GT(t.members, g.members / 2);
  EXPECT_GT(stream.purchases, g.events / 3);
  EXPECT_EQ(Count(t.by_status_reason, "DUPLICATE/"), stream.duplicate_lines);
  EXPECT_GT(Count(t.entries, "EARN"), stream.purchases / 2);
  EXPECT_GT(Count(t.entries, "REDEEM"), 0);
  EXPECT_GT(Count(t.entries, "CLAWBACK"), 0);
  EXPECT_GT(Count(t.entries, "ADJUST"), 0);
  EXPECT_GT(Count(t.by_status_reason, "IGNORED/UNKNOWN_ORDER"), 0);
  EXPECT_GT(Count(t.by_status_reason, "IGNORED/NO_RULE"), 0);
  EXPECT_GT(Count(t.by_status_reason, "REJECTED/UNKNOWN_REWARD"), 0);
  EXPECT_GT(Count(t.by_status_reason, "REJECTED/INSUFFICIENT_POINTS"), 0);
  EXPECT_GT(t.members_with_nps, 0);
  if (!p.engagement_rules().empty()) {
    EXPECT_GT(Count(t.entries, "ENGAGE"), 0);
  }
  if (std::any_of(p.engagement_rules().begin(), p.engagement_rules().end(),
                  [](const auto& r) { return r.max_per_local_day() > 0; })) {
    EXPECT_GT(Count(t.by_status_reason, "IGNORED/DAILY_CAP"), 0);
  }
  if (std::any_of(p.rewards().begin(), p.rewards().end(),
                  [](const auto& r) { return r.cost_points() == 0; })) {
    EXPECT_GT(Count(t.by_status_reason, "REJECTED/NOT_REDEEMABLE"), 0);
  }
  if (std::any_of(p.rewards().begin(), p.rewards().end(),
                  [](const auto& r) { return !r.min_tier_id().empty(); })) {
    EXPECT_GT(Count(t.by_status_reason, "REJECTED/TIER_TOO_LOW"), 0);
  }
  if (p.pending_days() > 0) {
    EXPECT_GT(Count(t.entries, "RELEASE"), 0);
  }
  if (p.expiration().mode() == loyalty::v1::Expiration::FIXED_DAYS) {
    EXPECT_GT(Count(t.entries, "EXPIRE"), 0);
  }
}

// The rules of this programme: tiers, plans, punch cards, promotions, random
// rewards, the first-purchase reward and partners each fired.
void ExpectProgramRulesFired(const loyalty::v1::Program& p, const Tally& t,
                             const testing::YearStream& stream, const testing::YearOptions& g) {
  if (p.tiers_size() > 1) {
    // Up to the top tier during the year; down again when the windows
    // empty after it (the closing ticks run through the next year).
    EXPECT_GT(Count(t.tier_causes, "QUALIFIED"), 0);
    EXPECT_TRUE(t.tiers_reached.count(p.tiers(p.tiers_size() - 1).tier_id()))
        << "nobody qualified for the top tier";
    EXPECT_GT(Count(t.tier_causes, "GRACE_ENDED"), 0);
  }
  if (!p.paid_plans().empty()) {
    EXPECT_GT(Count(t.tier_causes, "PLAN_STARTED"), 0);
    EXPECT_GT(Count(t.tier_causes, "PLAN_ENDED"), 0);
  }
  for (const auto& card : p.punch_cards()) {
    EXPECT_GT(Count(t.issued, "PUNCH_CARD:" + card.card_id()), 0) << card.card_id();
  }
  if (!p.punch_cards().empty()) {
    EXPECT_GT(t.members_with_stamps, 0);
  }
  EXPECT_GT(stream.promotion_purchases, 0);
  for (const auto& promo : p.promotions()) {
    if (!promo.reward_id().empty()) {
      EXPECT_GT(Count(t.issued, "PROMOTION:" + promo.promotion_id()), 0) << promo.promotion_id();
    }
  }
  for (const auto& rule : p.random_rewards()) {
    if (!rule.reward_id().empty()) {
      EXPECT_GT(Count(t.issued, "RANDOM:" + rule.rule_id()), 0) << rule.rule_id();
    }
    if (rule.bonus_points() > 0) {
      EXPECT_GT(Count(t.bonus_rules, rule.rule_id()), 0) << rule.rule_id();
    }
  }
  if (!p.first_purchase_reward_id().empty()) {
    // Once per member who ever bought.
    EXPECT_EQ(Count(t.issued, "FIRST_PURCHASE:"), t.members_with_first_purchase);
  }
  int64_t partner_earns = 0;
  for (const auto& [partner, n] : t.partner_earns) {
    EXPECT_TRUE(std::count(g.partner_ids.begin(), g.partner_ids.end(), partner)) << partner;
    partner_earns += n;
  }
  EXPECT_LE(partner_earns, stream.partner_purchases);
  if (!g.partner_ids.empty()) {
    EXPECT_GT(stream.partner_purchases, 0);
    EXPECT_GT(partner_earns, 0);
  }
}

class ExamplesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExamplesTest, AYearReplaysIdenticallyAndFiresEveryRule) {
  const std::string file = std::string(LOYALTY_PROGRAMS_DIR) + "/" + GetParam();
  auto loaded = LoadPrograms(file);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 1u);
  const ProgramSet& programs = *loaded;
  const std::string program_id = programs.ids()[0];
  // The rules of the generated year: the base version. A later version of
  // an example starts after every generated stream (checked below).
  const ProgramHistory& history = *programs.FindHistory(program_id);
  const CompiledProgram& program = history.base();
  const auto& p = program.proto();

  const uint64_t seed = testing::TestSeed(20261122);
  testing::YearOptions g = OptionsFor(program_id);
  g.seed = seed;
  g.events = testing::EnvInt("LOYALTY_EXAMPLES_EVENTS", kDefaultEvents);
  // A tenth as many members as events: the busiest fiftieth of them then
  // makes enough purchases for every top tier.
  g.members = std::max<int64_t>(100, g.events / 10);
  if (history.size() > 1) {
    // The year's closing ticks run at most closing_months past its end.
    ASSERT_LE(g.closing_months, 24);
    EXPECT_GE(history.version(1).effective_from_ns(),
              *ParseRfc3339(absl::StrCat(g.year + 3, "-01-01T00:00:00Z")))
        << "a later version of " << program_id << " starts inside the generated stream";
  }
  SCOPED_TRACE(program_id + ", " + testing::Seeded(seed));
  std::fprintf(stderr, "examples: %s, seed %llu (replay with LOYALTY_SEED=%llu), %lld events\n",
               program_id.c_str(), static_cast<unsigned long long>(seed),
               static_cast<unsigned long long>(seed), static_cast<long long>(g.events));
  const testing::YearStream stream = testing::GenerateYear(program, g);
  {
    // Same seed, same bytes.
    const testing::YearStream again = testing::GenerateYear(program, g);
    ASSERT_EQ(again.lines, stream.lines);
  }
  const std::string root = testing::MakeTempDir("examples-" + program_id);

  const std::vector<ReplayRun> runs = ReplayThreeWays(programs, root, stream);
  for (const ReplayRun& r : runs) {
    EXPECT_EQ(r.digest, runs[0].digest) << r.how << " differs from " << runs[0].how;
    EXPECT_TRUE(r.outcomes == runs[0].outcomes)
        << r.how << ": outcome lines differ from " << runs[0].how;
  }

  // The programme's rules fired.
  Tally t;
  TallyOutcomes(root + "/batch-1/outcomes.jsonl", &t);
  TallyStore(PartitionDir(root + "/batch-7-restart", 0), &t);
  ExpectCommonRulesFired(p, t, stream, g);
  ExpectProgramRulesFired(p, t, stream, g);
  if (!HasFailure()) std::filesystem::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Programs, ExamplesTest, ::testing::ValuesIn(ProgramFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.find('.'));
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// Every file of programs/ loads together (unique ids), and the three
// examples of docs/programs.md are there.
TEST(ExamplesDirTest, AllProgramsLoad) {
  auto programs = LoadPrograms(LOYALTY_PROGRAMS_DIR);
  ASSERT_TRUE(programs.ok()) << programs.status();
  for (const char* id : {"cafe", "retailer", "travel"}) {
    EXPECT_NE(programs->Find(id), nullptr) << id;
  }
}

std::string Rfc3339(const google::protobuf::Timestamp& ts) {
  auto ns = TimestampToNanos(ts);
  return ns.ok() ? FormatRfc3339(*ns) : "bad timestamp";
}

// The worked examples of docs/programs.md (docs/examples/*.jsonl): the
// numbers the page quotes, so that the page fails here before it misleads.
class WorkedExamples {
 public:
  // Replays docs/examples/<name>.jsonl with every program of programs/.
  explicit WorkedExamples(const std::string& name) {
    auto programs = LoadPrograms(LOYALTY_PROGRAMS_DIR);
    LOYALTY_CHECK(programs.ok()) << programs.status();
    dir_ = testing::MakeTempDir("worked-" + name);
    ReplayOptions o;
    o.data_dir = dir_;
    o.events_path = std::string(LOYALTY_PROGRAMS_DIR) + "/../docs/examples/" + name + ".jsonl";
    o.outcomes_path = dir_ + "/outcomes.jsonl";
    auto stats = RunReplay(*programs, o);
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (stats.ok()) {
      EXPECT_EQ(stats->rejected, 0);
    }
    std::ifstream in(o.outcomes_path);
    std::string line;
    while (std::getline(in, line)) {
      Outcome out;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &out).ok()) << line;
      outcomes_.push_back(out);
    }
    auto store = OpenPartitionReadOnly(PartitionDir(dir_, 0));
    LOYALTY_CHECK(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  ~WorkedExamples() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The event's own outcome (not a tick's MATURED one).
  const Outcome& Of(const std::string& event_id) const {
    for (const Outcome& o : outcomes_) {
      if (o.event_id() == event_id && o.reason() != "MATURED") return o;
    }
    ADD_FAILURE() << "no outcome of " << event_id;
    return empty_;
  }
  // "from>to cause effective_at" of the tier changes an event caused.
  std::vector<std::string> TierChanges(const std::string& event_id) const {
    std::vector<std::string> out;
    for (const Outcome& o : outcomes_) {
      if (o.event_id() != event_id) continue;
      for (const auto& change : o.tier_changes()) {
        out.push_back(change.from_tier_id() + ">" + change.to_tier_id() + " " + change.cause() +
                      " " + Rfc3339(change.effective_at()));
      }
    }
    return out;
  }
  // "SOURCE:rule:reward:count" of the rewards an event issued.
  std::vector<std::string> Issued(const std::string& event_id) const {
    std::vector<std::string> out;
    for (const auto& r : Of(event_id).issued_rewards()) {
      out.push_back(IssuedReward::Source_Name(r.source()) + ":" + r.rule_id() + ":" +
                    r.reward_id() + ":" + std::to_string(r.count()));
    }
    return out;
  }
  loyalty::v1::MemberState State(const std::string& program, const std::string& member) {
    loyalty::v1::MemberRecord rec;
    auto found = store_->GetMember(MemberRef{ProgramId(program), MemberId(member)}, &rec);
    EXPECT_TRUE(found.ok() && *found) << member;
    return rec.state();
  }
  // "TYPE points effective_at [partner|rule]" of each ledger entry.
  std::vector<std::string> History(const std::string& program, const std::string& member) {
    std::vector<std::string> out;
    auto st = store_->ForEachEntryOf(
        MemberRef{ProgramId(program), MemberId(member)}, [&](const LedgerEntry& e) {
          std::string s = LedgerEntry::Type_Name(e.type()) + " " + std::to_string(e.points()) +
                          " " + Rfc3339(e.effective_at());
          if (!e.partner_id().empty()) s += " " + e.partner_id();
          if (!e.rule_id().empty()) s += " " + e.rule_id();
          out.push_back(s);
          return absl::OkStatus();
        });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

 private:
  std::string dir_;
  std::vector<Outcome> outcomes_;
  std::unique_ptr<PartitionStore> store_;
  Outcome empty_;
};

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(WorkedExamplesTest, Cafe) {
  WorkedExamples w("cafe");
  for (int n = 1001; n <= 1010; ++n) EXPECT_EQ(w.Of("cafe-" + std::to_string(n)).points(), 4);
  EXPECT_EQ(w.Issued("cafe-1001"), std::vector<std::string>{"FIRST_PURCHASE::ten-off:1"});
  EXPECT_EQ(w.Issued("cafe-1010"),
            std::vector<std::string>{"PUNCH_CARD:coffee-card:free-coffee:1"});
  EXPECT_EQ(w.TierChanges("cafe-1010"),
            std::vector<std::string>{"member>silver QUALIFIED 2026-03-13T07:30:00Z"});
  EXPECT_EQ(w.Of("cafe-1011").points(), 10);  // floor(8.9) = 8, silver floor(8 x 1.25) = 10
  EXPECT_EQ(w.Issued("cafe-1011"),
            std::vector<std::string>{"PROMOTION:wednesday-night:free-coffee:1"});
  EXPECT_EQ(w.Of("cafe-1012").points(), 20);  // double-weekend
  EXPECT_EQ(w.Of("cafe-1013").points(), 35);
  EXPECT_EQ(w.Issued("cafe-1013"),
            std::vector<std::string>{"PUNCH_CARD:coffee-card:free-coffee:1"});
  EXPECT_EQ(w.Of("cafe-1146").points(), 2);
  EXPECT_EQ(w.Issued("cafe-1146"), std::vector<std::string>{"RANDOM:surprise:free-coffee:1"});
  EXPECT_TRUE(w.Issued("cafe-1194").empty());  // won the draw, daily cap reached
  EXPECT_EQ(w.Of("cafe-1014").points(), -10);
  EXPECT_EQ(w.Of("cafe-1015").points(), -50);
  EXPECT_EQ(w.TierChanges("tick-cafe-2027-04-01T00:00:00Z"),
            std::vector<std::string>{"silver>member GRACE_ENDED 2027-03-21T07:30:00Z"});
  const auto s = w.State("cafe", "alice");
  EXPECT_EQ(s.lifetime_earned_points(), 109);
  EXPECT_EQ(s.redeemed_points(), 50);
  EXPECT_EQ(s.clawed_back_points(), 10);
  EXPECT_EQ(s.expired_points(), 49);
  EXPECT_EQ(s.available_points(), 0);
  EXPECT_EQ(s.stamps().at("coffee-card"), 1);
  EXPECT_EQ(s.rewards_issued().at("free-coffee"), 4);
  EXPECT_EQ(s.rewards_issued().at("ten-off"), 1);
  EXPECT_EQ(s.purchase_count(), 15);
  EXPECT_EQ(s.spend_minor(), 4520);
  EXPECT_EQ(s.tier_id(), "member");
  const auto h = w.History("cafe", "alice");
  // Every point of March 2026 shares one lot (same expiry): one EXPIRE.
  EXPECT_TRUE(Has(h, "EXPIRE -49 2027-03-31T22:00:00Z"));
  EXPECT_EQ(std::count_if(h.begin(), h.end(),
                          [](const std::string& e) { return e.rfind("EXPIRE", 0) == 0; }),
            1);
}

TEST(WorkedExamplesTest, Retailer) {
  WorkedExamples w("retailer");
  EXPECT_EQ(w.Of("retail-3001").points(), 190);
  EXPECT_EQ(w.Issued("retail-3001"), std::vector<std::string>{"FIRST_PURCHASE::ten-off:1"});
  EXPECT_EQ(w.Of("retail-3002").points(), 27);
  EXPECT_EQ(w.Of("retail-3003").points(), 115);
  EXPECT_EQ(w.Issued("retail-3003"),
            std::vector<std::string>{"PUNCH_CARD:pet-food-card:free-pet-food:1"});
  EXPECT_EQ(w.Of("retail-3019").points(), 650);  // 450 + a 200-point scratch card
  EXPECT_EQ(w.Issued("retail-3019"), std::vector<std::string>{"PROMOTION:black-friday:ten-off:1"});
  const auto bob = w.History("retailer", "bob");
  for (const char* e :
       {"EARN 27 2026-03-20T22:00:00Z fuel-station", "RELEASE 0 2026-04-14T04:00:00Z",
        "RELEASE 0 2026-04-20T04:00:00Z", "RELEASE 0 2026-04-22T04:00:00Z",
        "EARN 450 2026-11-27T15:00:00Z", "BONUS 200 2026-11-27T15:00:00Z scratch-card",
        "RELEASE 0 2026-12-28T05:00:00Z", "EXPIRE -332 2027-05-01T04:00:00Z"}) {
    EXPECT_TRUE(Has(bob, e)) << e;
  }
  EXPECT_EQ(w.State("retailer", "bob").available_points(), 650);
  EXPECT_EQ(w.State("retailer", "bob").stamps().at("pet-food-card"), 1);
  EXPECT_EQ(w.Of("retail-3004").points(), 600);
  EXPECT_EQ(w.TierChanges("retail-3004"),
            std::vector<std::string>{"member>insider QUALIFIED 2026-01-10T16:00:00Z"});
  EXPECT_EQ(w.TierChanges("retail-3005"),
            std::vector<std::string>{"insider>vip PLAN_STARTED 2026-06-15T16:00:00Z"});
  EXPECT_EQ(w.Of("retail-3006").points(), 150);
  EXPECT_TRUE(w.TierChanges("tick-retailer-2027-02-01T05:00:00Z").empty());
  EXPECT_EQ(w.TierChanges("tick-retailer-2027-07-01T04:00:00Z"),
            std::vector<std::string>{"vip>member PLAN_ENDED 2027-06-15T16:00:00Z"});
  EXPECT_EQ(Rfc3339(w.State("retailer", "carol").vip_until()), "2027-06-15T16:00:00Z");
  EXPECT_EQ(w.Of("retail-3007").points(), 240);
  EXPECT_EQ(w.Of("retail-3008").points(), -76);
  EXPECT_EQ(w.Of("retail-3009").points(), -164);
  const auto dave = w.State("retailer", "dave");
  EXPECT_EQ(dave.purchase_count(), 0);
  EXPECT_EQ(dave.spend_minor(), 0);
  EXPECT_EQ(dave.clawed_back_points(), 240);
}

TEST(WorkedExamplesTest, Travel) {
  WorkedExamples w("travel");
  EXPECT_EQ(w.Of("travel-2001").points(), 180);
  EXPECT_EQ(w.Issued("travel-2001"),
            std::vector<std::string>{"FIRST_PURCHASE::welcome-lounge-pass:1"});
  EXPECT_EQ(w.Of("travel-2002").points(), 360);
  EXPECT_EQ(w.Of("travel-2003").points(), 600);
  EXPECT_EQ(w.TierChanges("travel-2003"),
            std::vector<std::string>{"explorer>silver QUALIFIED 2026-05-05T17:00:00Z"});
  EXPECT_EQ(w.Of("travel-2004").points(), 1887);  // 900, 1125, floor(1687.5), + 200
  EXPECT_EQ(w.Of("travel-2083").points(), 300);   // review 50 + draw 250
  EXPECT_EQ(w.Of("travel-2034").points(), 400);
  EXPECT_EQ(w.Issued("travel-2034"),
            std::vector<std::string>{"RANDOM:surprise-upgrade:upgrade-voucher:1"});
  EXPECT_EQ(w.TierChanges("tick-travel-2028-07-31T22:00:00Z"),
            std::vector<std::string>{"silver>explorer GRACE_ENDED 2027-08-16T07:00:00Z"});
  const auto h = w.History("travel", "emma");
  for (const char* e :
       {"RELEASE 0 2026-07-28T22:00:00Z", "BONUS 250 2026-07-30T18:00:00Z review-draw",
        "EXPIRE -180 2028-02-29T23:00:00Z", "EXPIRE -2187 2028-07-31T22:00:00Z"}) {
    EXPECT_TRUE(Has(h, e)) << e;
  }
  const auto s = w.State("travel", "emma");
  EXPECT_EQ(s.available_points(), 400);
  EXPECT_EQ(s.lifetime_earned_points(), 3727);
  EXPECT_EQ(s.expired_points(), 3327);
}

}  // namespace
}  // namespace loyalty
