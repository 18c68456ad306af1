// The model test: an independent reference fold of the events
// (tests/model/, written from the spec, not from engine code) agrees with the
// engine's member states, as `loyaltyctl dump` prints them, its outcomes
// (statuses and reasons, tier changes by cause, rewards issued by rules) and
// its DLQ reasons, on a generated stream of every event kind that exercises
// every programme rule of the test programs.
//
// LOYALTY_SEED and LOYALTY_MODEL_EVENTS override the stream.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/audit/audit.h"
#include "engine/base/time.h"
#include "engine/cmd/replay.h"
#include "engine/store/store.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/v1/ledger.pb.h"
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

// Counts of the engine's outcomes file in the model's terms.
struct EngineOutcomes {
  std::map<std::string, int64_t> reasons;  // "STATUS" or "STATUS:REASON", DUPLICATE excluded
  int64_t duplicates = 0;
  std::map<std::string, int64_t> tier_changes;    // cause -> count
  std::map<std::string, int64_t> issued_rewards;  // "SOURCE:rule_id:reward_id" -> Σ count
};

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
    if (o.has_tier_change()) ++out.tier_changes[o.tier_change().cause()];
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

TEST(ModelTest, ReferenceFoldAgreesWithTheEngineDump) {
  const uint64_t seed = testing::TestSeed(1234);
  const int64_t events = testing::EnvInt("LOYALTY_MODEL_EVENTS", 60'000);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::string root = testing::MakeTempDir("model");
  const ProgramSet programs = testing::WriteAndLoadTestPrograms(root);
  std::vector<loyalty::v1::Program> protos;
  for (const std::string& text : {testing::CafeProgramText(), testing::ShopProgramText()}) {
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &protos.emplace_back()));
  }

  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = events;
  g.members = 600;
  // At least 400 days of stream whatever its size, so that lots expire.
  g.mean_gap_s = std::max<int64_t>(180, 400 * 86400 / events);
  testing::GeneratedStream stream = testing::GenerateStream(g);
  testing::WriteLines(root + "/events.jsonl", stream.lines);

  ReplayOptions o;
  o.data_dir = root + "/data";
  o.events_path = root + "/events.jsonl";
  o.outcomes_path = root + "/outcomes.jsonl";
  o.dlq_path = root + "/dlq.jsonl";
  auto stats = RunReplay(programs, o);
  ASSERT_TRUE(stats.ok()) << stats.status();

  model::RefResult ref = model::Fold(stream.lines, protos);

  // The engine's dump: the same JSON that `loyaltyctl dump` prints, parsed
  // back, so that the comparison covers the printed form too.
  StoreOptions ro;
  ro.read_only = true;
  auto store = PartitionStore::Open(PartitionDir(o.data_dir, 0), ro);
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<std::pair<std::string, std::string>, loyalty::v1::MemberState> engine;
  ASSERT_TRUE((*store)
                  ->ForEachMember([&](const loyalty::v1::MemberRecord& rec) {
                    loyalty::v1::MemberState st;
                    auto s = google::protobuf::util::JsonStringToMessage(ToJson(rec.state()), &st);
                    if (!s.ok()) return absl::InternalError(std::string(s.message()));
                    engine[{st.program_id(), st.member_id()}] = st;
                    return absl::OkStatus();
                  })
                  .ok());

  EXPECT_EQ(engine.size(), ref.members.size());
  int64_t compared = 0, mismatched = 0;
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
    const std::optional<int32_t> nps =
        got.has_last_nps_score() ? std::optional<int32_t>(got.last_nps_score()) : std::nullopt;
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
        stamps == want.stamps && rewards == want.rewards_issued && nps == want.last_nps_score &&
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
  // What the stream exercised, for the log.
  std::printf(
      "model test: %lld lines, %lld members compared\n  outcomes %s\n  tier changes %s\n"
      "  issued %s\n  rules %s\n",
      static_cast<long long>(stream.lines.size()), static_cast<long long>(compared),
      MapText(ref.outcome_reasons).c_str(), MapText(ref.tier_changes).c_str(),
      MapText(ref.issued_rewards).c_str(), MapText(ref.rule_hits).c_str());

  // The stream exercised what it claims to.
  int64_t dlq = 0;
  for (const auto& [reason, n] : ref.dlq_by_reason) dlq += n;
  EXPECT_EQ(dlq, stats->rejected);
  EXPECT_EQ(ref.dlq_by_reason, stream.bad_by_reason);
  EXPECT_EQ(ref.duplicates, stats->duplicates);
  EXPECT_EQ(ReadDlqReasons(o.dlq_path), ref.dlq_by_reason);
  const EngineOutcomes outcomes = ReadOutcomes(o.outcomes_path);
  EXPECT_EQ(outcomes.reasons, ref.outcome_reasons);
  EXPECT_EQ(outcomes.tier_changes, ref.tier_changes);
  EXPECT_EQ(outcomes.issued_rewards, ref.issued_rewards);
  for (const char* kind : {"APPLIED", "IGNORED:DAILY_CAP", "IGNORED:UNKNOWN_ORDER",
                           "REJECTED:INSUFFICIENT_POINTS", "REJECTED:UNKNOWN_REWARD",
                           "IGNORED:NO_RULE", "REJECTED:TIER_TOO_LOW", "APPLIED:TIER_CHANGED"}) {
    EXPECT_GT(ref.outcome_reasons[kind], 0) << kind << " never happened in the stream";
  }
  for (const char* cause : {"QUALIFIED", "GRACE_ENDED", "PLAN_STARTED", "PLAN_ENDED"}) {
    EXPECT_GT(ref.tier_changes[cause], 0) << "no tier change " << cause;
  }
  for (const char* hit :
       {"promotion:wednesday-night", "promotion:late-owl", "promotion:double-weekend",
        "promotion:spring-food", "promotion:happy-hour", "promotion:black-friday",
        "random_win:surprise", "random_win:coffee-luck", "random_capped:coffee-luck",
        "random_win:like-luck", "random_capped:like-luck", "random_win:shop-draw",
        "random_win:review-draw", "nps"}) {
    EXPECT_GT(ref.rule_hits[hit], 0) << hit << " never happened in the stream";
  }
  for (const char* issued :
       {"PUNCH_CARD:coffee-card:free-coffee", "PUNCH_CARD:merch-card:gift",
        "PROMOTION:wednesday-night:free-coffee", "PROMOTION:black-friday:gift",
        "RANDOM:surprise:free-coffee", "RANDOM:shop-draw:gift", "FIRST_PURCHASE::ten-off"}) {
    EXPECT_GT(ref.issued_rewards[issued], 0) << issued << " never issued in the stream";
  }
  std::map<std::string, int64_t> tiers;  // "program/tier" -> members at the end
  for (const auto& [key, m] : ref.members) ++tiers[key.first + "/" + m.tier_id];
  for (const char* tier : {"cafe/member", "cafe/silver", "cafe/gold", "shop/basic", "shop/pro"}) {
    EXPECT_GT(tiers[tier], 0) << "no member ends in " << tier;
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

}  // namespace
}  // namespace loyalty
