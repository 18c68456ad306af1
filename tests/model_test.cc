// The model test: an independent reference fold of the events
// (tests/model/, written from the spec, not from engine code) agrees with the
// engine's member states, as `loyaltyctl dump` prints them, on a generated
// stream of every event kind.
//
// LOYALTY_SEED and LOYALTY_MODEL_EVENTS override the stream.
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/audit/audit.h"
#include "engine/base/time.h"
#include "engine/cmd/replay.h"
#include "engine/store/store.h"
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
    std::map<std::string, int64_t> rewards(got.rewards_issued().begin(),
                                           got.rewards_issued().end());
    const bool same =
        got.available_points() == want.available_points &&
        got.pending_points() == want.pending_points && got.debt_points() == want.debt_points &&
        got.lifetime_earned_points() == want.lifetime_earned_points &&
        got.redeemed_points() == want.redeemed_points &&
        got.expired_points() == want.expired_points &&
        got.clawed_back_points() == want.clawed_back_points &&
        got.adjusted_points() == want.adjusted_points &&
        got.purchase_count() == want.purchase_count && got.spend_minor() == want.spend_minor &&
        got.tier_id() == want.tier_id && rewards == want.rewards_issued &&
        Ns(got.has_vip_until(), got.vip_until()) == want.vip_until_ns &&
        Ns(got.has_first_purchase_at(), got.first_purchase_at()) == want.first_purchase_at_ns &&
        Ns(got.has_last_purchase_at(), got.last_purchase_at()) == want.last_purchase_at_ns;
    ++compared;
    if (!same && ++mismatched <= 5) {
      ADD_FAILURE() << "member " << key.first << "/" << key.second
                    << " differs\n  engine: " << ToJson(got) << "\n  model: available "
                    << want.available_points << " pending " << want.pending_points << " debt "
                    << want.debt_points << " earned " << want.lifetime_earned_points << " redeemed "
                    << want.redeemed_points << " expired " << want.expired_points << " clawed "
                    << want.clawed_back_points << " adjusted " << want.adjusted_points
                    << " purchases " << want.purchase_count << " spend " << want.spend_minor;
    }
  }
  EXPECT_EQ(mismatched, 0) << "of " << compared << " members";

  // The stream exercised what it claims to.
  int64_t dlq = 0;
  for (const auto& [reason, n] : ref.dlq_by_reason) dlq += n;
  EXPECT_EQ(dlq, stats->rejected);
  EXPECT_EQ(ref.dlq_by_reason, stream.bad_by_reason);
  EXPECT_EQ(ref.duplicates, stats->duplicates);
  for (const char* kind :
       {"APPLIED", "IGNORED:DAILY_CAP", "IGNORED:UNKNOWN_ORDER", "REJECTED:INSUFFICIENT_POINTS",
        "REJECTED:UNKNOWN_REWARD", "IGNORED:NO_RULE"}) {
    EXPECT_GT(ref.outcome_reasons[kind], 0) << kind << " never happened in the stream";
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
