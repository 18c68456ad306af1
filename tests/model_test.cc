// The model test: an independent reference fold of the events
// (tests/model/, written from the spec, not from engine code) agrees with the
// engine's member states, as `loyaltyctl dump` prints them, its outcomes
// (statuses and reasons, MATURED outcomes of ticks included, tier changes by
// cause, rewards issued by rules, and each member's outcomes one by one: the
// status, the points, the tier changes and the ledger entries that name a
// lot) and its DLQ reasons, on a generated stream of every event kind that
// exercises every programme rule of the test programs.
//
// LOYALTY_SEED and LOYALTY_MODEL_EVENTS override the stream.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "connectors/file/replay.h"
#include "engine/audit/audit.h"
#include "engine/base/time.h"
#include "engine/store/store.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/v1/ledger.pb.h"
#include "tests/model/edge_cases.h"
#include "tests/model/reference_fold.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

std::optional<int64_t> Ns(bool has, const google::protobuf::Timestamp& ts) {
  if (!has) return std::nullopt;
  return *TimestampToNanos(ts);
}

std::string Opt(const std::optional<int64_t>& v) {
  return v ? absl::FormatTime(absl::RFC3339_full, absl::FromUnixNanos(*v), absl::UTCTimeZone())
           : "-";
}

std::string MapText(const std::map<std::string, int64_t>& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) absl::StrAppend(&out, out.size() > 1 ? " " : "", k, ":", v);
  return out + "}";
}

// The model's member, in words, next to the engine's JSON when they differ.
std::string ModelText(const model::RefMember& m) {
  return absl::StrCat("available ", m.available_points, " pending ", m.pending_points, " debt ",
                      m.debt_points, " earned ", m.lifetime_earned_points, " redeemed ",
                      m.redeemed_points, " expired ", m.expired_points, " clawed ",
                      m.clawed_back_points, " adjusted ", m.adjusted_points, " purchases ",
                      m.purchase_count, " spend ", m.spend_minor, " tier ", m.tier_id,
                      " held_until ", Opt(m.tier_held_until_ns), " vip_until ", Opt(m.vip_until_ns),
                      " first ", Opt(m.first_purchase_at_ns), " last ", Opt(m.last_purchase_at_ns),
                      " stamps ", MapText(m.stamps), " rewards ", MapText(m.rewards_issued),
                      " nps ", m.last_nps_score ? std::to_string(*m.last_nps_score) : "-");
}

// The engine's outcomes file in the model's terms.
struct EngineOutcomes {
  std::map<std::string, int64_t> reasons;  // "STATUS" or "STATUS:REASON", DUPLICATE excluded
  int64_t duplicates = 0;
  std::map<std::string, int64_t> tier_changes;    // cause -> count
  std::map<std::string, int64_t> issued_rewards;  // "SOURCE:rule_id:reward_id" -> Σ count
  std::vector<model::RefOutcome> outcomes;        // DUPLICATE excluded, in file order
};

int64_t NsOf(const google::protobuf::Timestamp& ts) { return *TimestampToNanos(ts); }

// An engine outcome as the model describes one: the entries that name a lot
// (EARN, ENGAGE, BONUS, positive ADJUST, RELEASE, EXPIRE) one by one, the
// others only through `points`.
model::RefOutcome ToRef(const loyalty::v1::Outcome& o) {
  model::RefOutcome r;
  r.program_id = o.program_id();
  r.member_id = o.member_id();
  r.event_id = o.event_id();
  r.status = loyalty::v1::Outcome::Status_Name(o.status());
  if (!o.reason().empty()) absl::StrAppend(&r.status, ":", o.reason());
  r.points = o.points();
  for (const auto& tc : o.tier_changes()) {
    model::RefTierChange c;
    c.from_tier_id = tc.from_tier_id();
    c.to_tier_id = tc.to_tier_id();
    c.cause = tc.cause();
    c.effective_at_ns = NsOf(tc.effective_at());
    c.perks.assign(tc.perks().begin(), tc.perks().end());
    r.tier_changes.push_back(std::move(c));
  }
  for (const auto& e : o.entries()) {
    using T = loyalty::v1::LedgerEntry;
    const bool names_lot = e.type() == T::EARN || e.type() == T::ENGAGE || e.type() == T::BONUS ||
                           e.type() == T::RELEASE || e.type() == T::EXPIRE ||
                           (e.type() == T::ADJUST && e.points() > 0);
    if (!names_lot) continue;
    r.lot_entries.push_back(
        {T::Type_Name(e.type()), e.lot_id(), e.points(), NsOf(e.effective_at())});
  }
  for (const auto& issued : o.issued_rewards()) {
    r.issued_rewards.push_back({loyalty::v1::IssuedReward::Source_Name(issued.source()),
                                issued.rule_id(), issued.reward_id(), issued.count()});
  }
  return r;
}

// Each (program, member)'s outcomes in order (a tick's own outcomes under
// member ""), described.
using OutcomesByMember = std::map<std::pair<std::string, std::string>, std::vector<std::string>>;

OutcomesByMember ByMember(const std::vector<model::RefOutcome>& outcomes) {
  OutcomesByMember by;
  for (const model::RefOutcome& o : outcomes) {
    by[{o.program_id, o.member_id}].push_back(model::Describe(o));
  }
  return by;
}

// Expects the same outcomes per member, in the same order; prints the first
// difference of the first few members that differ.
void ExpectSameOutcomesPerMember(const std::vector<model::RefOutcome>& engine_outcomes,
                                 const std::vector<model::RefOutcome>& model_outcomes) {
  const OutcomesByMember engine = ByMember(engine_outcomes);
  const OutcomesByMember model = ByMember(model_outcomes);
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& [key, v] : engine) keys.insert(key);
  for (const auto& [key, v] : model) keys.insert(key);
  const std::vector<std::string> none;
  int64_t differing = 0;
  for (const auto& key : keys) {
    auto e = engine.find(key);
    auto m = model.find(key);
    const std::vector<std::string>& got = e == engine.end() ? none : e->second;
    const std::vector<std::string>& want = m == model.end() ? none : m->second;
    if (got == want) continue;
    if (++differing > 5) continue;
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    ADD_FAILURE() << "outcomes of " << key.first << "/" << key.second << " differ at #" << i
                  << " (engine " << got.size() << ", model " << want.size() << ")"
                  << (i > 0 ? "\n  both:   " + got[i - 1] : "")
                  << "\n  engine: " << (i < got.size() ? got[i] : "(none)")
                  << "\n  model:  " << (i < want.size() ? want[i] : "(none)");
  }
  EXPECT_EQ(differing, 0) << "of " << keys.size() << " members' outcome sequences";
}

EngineOutcomes ReadOutcomes(const std::string& path) {
  EngineOutcomes out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    loyalty::v1::Outcome o;
    if (!google::protobuf::util::JsonStringToMessage(line, &o).ok()) {
      ADD_FAILURE() << "outcome line does not parse: " << line;
      continue;
    }
    if (o.status() == loyalty::v1::Outcome::DUPLICATE) {
      ++out.duplicates;
      continue;
    }
    std::string key = loyalty::v1::Outcome::Status_Name(o.status());
    if (!o.reason().empty()) absl::StrAppend(&key, ":", o.reason());
    ++out.reasons[key];
    for (const auto& tc : o.tier_changes()) ++out.tier_changes[tc.cause()];
    out.outcomes.push_back(ToRef(o));
    for (const auto& issued : o.issued_rewards()) {
      out.issued_rewards[absl::StrCat(loyalty::v1::IssuedReward::Source_Name(issued.source()), ":",
                                      issued.rule_id(), ":", issued.reward_id())] += issued.count();
    }
  }
  return out;
}

std::map<std::string, int64_t> ReadDlqReasons(const std::string& path) {
  std::map<std::string, int64_t> by_reason;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    google::protobuf::Struct obj;
    if (!google::protobuf::util::JsonStringToMessage(line, &obj).ok()) {
      ADD_FAILURE() << "DLQ line does not parse: " << line;
      continue;
    }
    ++by_reason[obj.fields().at("reason").string_value()];
  }
  return by_reason;
}

// The result of one comparison, for the callers' coverage checks.
struct Compared {
  model::RefResult ref;
  ReplayStats stats;
  int64_t members = 0;
};

using EngineMembers = std::map<std::pair<std::string, std::string>, loyalty::v1::MemberState>;

// The engine's dump: the same JSON that `loyaltyctl dump` prints, parsed
// back, so that the comparison covers the printed form too.
EngineMembers EngineDump(const std::string& partition_dir) {
  EngineMembers engine;
  auto store = OpenPartitionReadOnly(partition_dir);
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return engine;
  }
  EXPECT_TRUE((*store)
                  ->ForEachMember([&](const loyalty::v1::MemberRecord& rec) {
                    loyalty::v1::MemberState st;
                    auto s = google::protobuf::util::JsonStringToMessage(ToJson(rec.state()), &st);
                    if (!s.ok()) return absl::InternalError(std::string(s.message()));
                    engine[{st.program_id(), st.member_id()}] = st;
                    return absl::OkStatus();
                  })
                  .ok());
  return engine;
}

// Expects every member of the model in the engine's dump with the same
// state, and no other; returns how many were compared.
int64_t ExpectSameMembers(const EngineMembers& engine, const model::RefResult& ref) {
  int64_t compared = 0;
  EXPECT_EQ(engine.size(), ref.members.size());
  int64_t mismatched = 0;
  for (const auto& [key, want] : ref.members) {
    auto it = engine.find(key);
    if (it == engine.end()) {
      ADD_FAILURE() << "engine lacks member " << key.first << "/" << key.second;
      continue;
    }
    const loyalty::v1::MemberState& got = it->second;
    const std::map<std::string, int64_t> rewards(got.rewards_issued().begin(),
                                                 got.rewards_issued().end());
    const std::map<std::string, int64_t> stamps(got.stamps().begin(), got.stamps().end());
    // Compared by hand: GCC 12 at -O2 warns (maybe-uninitialized) on
    // comparing a conditionally built std::optional.
    const bool same_nps =
        got.has_last_nps_score() == want.last_nps_score.has_value() &&
        (!got.has_last_nps_score() || got.last_nps_score() == *want.last_nps_score);
    const bool same =
        got.available_points() == want.available_points &&
        got.pending_points() == want.pending_points && got.debt_points() == want.debt_points &&
        got.lifetime_earned_points() == want.lifetime_earned_points &&
        got.redeemed_points() == want.redeemed_points &&
        got.expired_points() == want.expired_points &&
        got.clawed_back_points() == want.clawed_back_points &&
        got.adjusted_points() == want.adjusted_points &&
        got.purchase_count() == want.purchase_count && got.spend_minor() == want.spend_minor &&
        got.tier_id() == want.tier_id &&
        Ns(got.has_tier_held_until(), got.tier_held_until()) == want.tier_held_until_ns &&
        stamps == want.stamps && rewards == want.rewards_issued && same_nps &&
        Ns(got.has_vip_until(), got.vip_until()) == want.vip_until_ns &&
        Ns(got.has_first_purchase_at(), got.first_purchase_at()) == want.first_purchase_at_ns &&
        Ns(got.has_last_purchase_at(), got.last_purchase_at()) == want.last_purchase_at_ns;
    ++compared;
    if (!same && ++mismatched <= 5) {
      ADD_FAILURE() << "member " << key.first << "/" << key.second
                    << " differs\n  engine: " << ToJson(got) << "\n  model: " << ModelText(want);
    }
  }
  EXPECT_EQ(mismatched, 0) << "of " << compared << " members";
  EXPECT_GT(compared, 0) << "nothing compared";
  return compared;
}

// Writes `program_texts` and `lines` into `root`, replays them through the
// engine (loyaltyd replay's path, with outcomes and DLQ files) and folds them
// through the model; expects the same member states (as `loyaltyctl dump`
// prints them), DLQ reasons, duplicates, outcomes (counted by status and
// reason, and one by one per member), tier changes and rewards issued by
// rules.
Compared ReplayAndCompare(const std::string& root, const std::vector<std::string>& program_texts,
                          const std::vector<std::string>& lines) {
  Compared c;
  std::filesystem::create_directories(root);
  std::vector<loyalty::v1::Program> protos;
  for (size_t i = 0; i < program_texts.size(); ++i) {
    EXPECT_TRUE(
        google::protobuf::TextFormat::ParseFromString(program_texts[i], &protos.emplace_back()));
    std::ofstream(absl::StrCat(root, "/program", i, ".textproto")) << program_texts[i];
  }
  auto programs = LoadPrograms(root);
  if (!programs.ok()) {
    ADD_FAILURE() << programs.status();
    return c;
  }
  testing::WriteLines(root + "/events.jsonl", lines);

  ReplayOptions o;
  o.data_dir = root + "/data";
  o.events_path = root + "/events.jsonl";
  o.outcomes_path = root + "/outcomes.jsonl";
  o.dlq_path = root + "/dlq.jsonl";
  auto stats = RunReplay(*programs, o);
  if (!stats.ok()) {
    ADD_FAILURE() << stats.status();
    return c;
  }
  c.stats = *stats;
  c.ref = model::Fold(lines, protos);
  const model::RefResult& ref = c.ref;

  c.members = ExpectSameMembers(EngineDump(PartitionDir(o.data_dir, 0)), ref);

  int64_t dlq = 0;
  for (const auto& [reason, n] : ref.dlq_by_reason) dlq += n;
  EXPECT_EQ(dlq, stats->rejected);
  EXPECT_EQ(ref.duplicates, stats->duplicates);
  EXPECT_EQ(ReadDlqReasons(o.dlq_path), ref.dlq_by_reason);
  const EngineOutcomes outcomes = ReadOutcomes(o.outcomes_path);
  EXPECT_EQ(outcomes.reasons, ref.outcome_reasons);
  EXPECT_EQ(outcomes.duplicates, ref.duplicates);
  EXPECT_EQ(outcomes.tier_changes, ref.tier_changes);
  EXPECT_EQ(outcomes.issued_rewards, ref.issued_rewards);
  ExpectSameOutcomesPerMember(outcomes.outcomes, ref.outcomes);
  return c;
}

// Long on purpose: one scenario, its stream and every count it compares.
TEST(ModelTest, ReferenceFoldAgreesWithTheEngineDump) {
  const uint64_t seed = testing::TestSeed(1234);
  const int64_t events = testing::EnvInt("LOYALTY_MODEL_EVENTS", 60'000);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::string root = testing::MakeTempDir("model");

  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = events;
  g.members = 600;
  // At least 400 days of stream whatever its size, so that lots expire.
  g.mean_gap_s = std::max<int64_t>(180, 400 * 86400 / events);
  testing::GeneratedStream stream = testing::GenerateStream(g);

  Compared c = ReplayAndCompare(root, {testing::CafeProgramText(), testing::ShopProgramText()},
                                stream.lines);
  model::RefResult& ref = c.ref;
  // What the stream exercised, for the log.
  std::printf(
      "model test: %lld lines, %lld members compared\n  outcomes %s\n  tier changes %s\n"
      "  issued %s\n  rules %s\n",
      static_cast<long long>(stream.lines.size()), static_cast<long long>(c.members),
      MapText(ref.outcome_reasons).c_str(), MapText(ref.tier_changes).c_str(),
      MapText(ref.issued_rewards).c_str(), MapText(ref.rule_hits).c_str());

  // The stream exercised what it claims to.
  EXPECT_EQ(ref.dlq_by_reason, stream.bad_by_reason);
  for (const char* kind :
       {"APPLIED", "IGNORED:DAILY_CAP", "IGNORED:UNKNOWN_ORDER", "REJECTED:INSUFFICIENT_POINTS",
        "REJECTED:UNKNOWN_REWARD", "IGNORED:NO_RULE", "REJECTED:TIER_TOO_LOW", "APPLIED:MATURED"}) {
    EXPECT_GT(ref.outcome_reasons[kind], 0) << kind << " never happened in the stream";
  }
  for (const char* cause : {"QUALIFIED", "GRACE_ENDED", "PLAN_STARTED", "PLAN_ENDED"}) {
    EXPECT_GT(ref.tier_changes[cause], 0) << "no tier change " << cause;
  }
  // Tier changes ride in MATURED outcomes of ticks and, for maturities
  // applied before a member event, in that event's outcome.
  int64_t in_matured = 0, matured_before_event = 0;
  for (const model::RefOutcome& o : ref.outcomes) {
    for (const model::RefTierChange& tc : o.tier_changes) {
      if (o.status == "APPLIED:MATURED") {
        ++in_matured;
      } else if (tc.cause == "GRACE_ENDED" || tc.cause == "PLAN_ENDED") {
        ++matured_before_event;
      }
    }
  }
  EXPECT_GT(in_matured, 0) << "no tier change at a tick";
  EXPECT_GT(matured_before_event, 0) << "no tier change by a maturity before a member event";
  for (const char* hit :
       {"promotion:wednesday-night", "promotion:late-owl", "promotion:double-weekend",
        "promotion:spring-food", "promotion:happy-hour", "promotion:black-friday",
        "random_win:surprise", "random_win:coffee-luck", "random_capped:coffee-luck",
        "random_win:like-luck", "random_capped:like-luck", "random_win:shop-draw",
        "random_win:review-draw", "nps",
        // Lots (SPEC §6): releases that became the available lot of their
        // expiry or merged into it, credits that paid debt or went to it
        // entirely, refunds from the purchase's pending or available lot or,
        // that lot gone, by expiry.
        "release:kept_id", "release:merged", "credit:paid_debt", "credit:all_to_debt",
        "refund_lot:pending", "refund_lot:available", "refund_lot:none"}) {
    EXPECT_GT(ref.rule_hits[hit], 0) << hit << " never happened in the stream";
  }
  for (const char* issued :
       {"PUNCH_CARD:coffee-card:free-coffee", "PUNCH_CARD:merch-card:gift",
        "PROMOTION:wednesday-night:free-coffee", "PROMOTION:black-friday:gift",
        "RANDOM:surprise:free-coffee", "RANDOM:shop-draw:gift", "FIRST_PURCHASE::ten-off"}) {
    EXPECT_GT(ref.issued_rewards[issued], 0) << issued << " never issued in the stream";
  }
  // Every tier was entered, the first ones by falling back to them.
  for (const char* tier : {"member", "silver", "gold", "basic", "pro"}) {
    EXPECT_GT(ref.rule_hits["tier_to:" + std::string(tier)], 0) << "no member entered " << tier;
  }
  int64_t expired = 0, debt = 0, pending = 0;
  for (const auto& [key, m] : ref.members) {
    expired += m.expired_points;
    debt += m.debt_points > 0;
    pending += m.pending_points;
  }
  EXPECT_GT(expired, 0) << "no lot expired";
  EXPECT_GT(debt, 0) << "no member in debt";
  EXPECT_GT(pending, 0) << "no pending points";
  std::filesystem::remove_all(root);
}

// --- Hand-written edge streams ---------------------------------------------
// The streams of tests/model/edge_cases.h, whose expected values were worked
// out by hand and are checked in tests/model/reference_fold_test.cc,
// replayed through the engine too: the edges a generated stream reaches only
// by chance (a grace review and a plan end at the same instant, reviews due
// one after another before one event, a refund's clawback partly written off
// in an EARNED_POINTS programme, DST nights inside promotion windows, a
// random reward's daily cap at local midnight, lots expiring and released at
// local day starts across DST changes and a skipped midnight, refunds that
// follow their purchase's lot through its release, credits and releases
// that pay debt, lot maturities at one instant, MATURED and STALE_TICK
// outcomes).

TEST(ModelTest, HandWrittenEdgeStreamsAgreeWithTheEngine) {
  const std::string root = testing::MakeTempDir("model-edges");
  for (const model::EdgeCase& c : model::AllEdgeCases()) {
    SCOPED_TRACE(c.name);
    ReplayAndCompare(absl::StrCat(root, "/", c.name), {c.program}, c.lines);
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace loyalty
