// explain-draw: the draw values are SPEC §6's HMAC (computed independently
// with Python's hmac module), eligibility and the daily cap read from a store.
#include "cmd/explain_draw.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "connectors/file/replay.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

constexpr char kProgram[] = R"pb(
  program_id: "p"
  currency: "EUR"
  random_seed: "explain"
  earn { points: 1 per_minor: 100 }
  random_rewards { rule_id: "never" on: PURCHASE probability_ppm: 0 bonus_points: 1 }
  random_rewards { rule_id: "always" on: PURCHASE probability_ppm: 1000000 bonus_points: 1 }
  random_rewards {
    rule_id: "capped"
    on: PURCHASE
    probability_ppm: 1000000
    bonus_points: 1
    max_per_member_per_local_day: 1
  }
  random_rewards {
    rule_id: "latte"
    on: PURCHASE
    category: "latte"
    probability_ppm: 1000000
    bonus_points: 1
  }
)pb";

std::string Purchase(const std::string& id, const std::string& at) {
  return "{\"event_id\":\"" + id +
         "\",\"program_id\":\"p\",\"member_id\":\"m\",\"occurred_at\":\"" + at +
         "\",\"purchase\":{\"order_id\":\"" + id +
         "\",\"amount_minor\":100,\"currency\":\"EUR\",\"items\":[{\"category\":\"tea\","
         "\"quantity\":1,\"amount_minor\":100}]}}";
}

class ExplainDrawTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/explain-draw-" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/p.textproto") << kProgram;
    auto programs = LoadPrograms(dir_ + "/p.textproto");
    ASSERT_TRUE(programs.ok()) << programs.status();
    programs_ = std::move(*programs);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  ProgramSet programs_;
};

// python3: hmac.new(b"explain", b"<rule>\x00<event>", sha256), first 8 bytes
// big-endian, mod 1e6: never/e1 862316, always/e1 990627, capped/e1 933214,
// capped/e2 739347, latte/e1 648180.
TEST_F(ExplainDrawTest, ShowsEachRulesDrawThresholdAndResult) {
  auto text = ExplainDraw(programs_, Purchase("e1", "2024-01-10T10:00:00Z"), "");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("never                PURCHASE     862316          0  lost"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("always               PURCHASE     990627    1000000  won the draw"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("648180    1000000  does not apply: no \"latte\" item"), std::string::npos)
      << *text;
}

TEST_F(ExplainDrawTest, CountsThePaidWinsOfTheDayFromTheStore) {
  const std::string events = dir_ + "/events.jsonl";
  std::ofstream(events) << Purchase("e1", "2024-01-10T10:00:00Z") << "\n"
                        << Purchase("e2", "2024-01-10T11:00:00Z") << "\n";
  ReplayOptions o;
  o.data_dir = dir_ + "/data";
  o.events_path = events;
  ASSERT_TRUE(RunReplay(programs_, o).ok());
  // Both won "capped"'s draw; its cap of 1 per day paid only e1.
  auto text = ExplainDraw(programs_, Purchase("e2", "2024-01-10T11:00:00Z"), o.data_dir);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("739347    1000000  won the draw; daily cap 1, wins paid that day (this "
                       "one included if paid): 1"),
            std::string::npos)
      << *text;
}

TEST_F(ExplainDrawTest, NamesWhatIsWrongWithTheEvent) {
  EXPECT_FALSE(ExplainDraw(programs_, "{not json", "").ok());
  auto unknown = ExplainDraw(programs_, "{\"event_id\":\"e\",\"program_id\":\"x\"}", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("\"x\""), std::string::npos);
  const std::string events = dir_ + "/events.jsonl";
  std::ofstream(events) << Purchase("e1", "2024-01-10T10:00:00Z") << "\n";
  EXPECT_TRUE(FindEventLine(events, "e1").ok());
  auto missing = FindEventLine(events, "e9");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(events), std::string::npos);
}

// With versions, the rules explained are those of the version in force at
// occurred_at, named. Version "2" draws "always" with probability 0.
TEST_F(ExplainDrawTest, ExplainsTheVersionInForceAtOccurredAt) {
  std::string v2(kProgram);
  v2.replace(v2.find("rule_id: \"always\" on: PURCHASE probability_ppm: 1000000"),
             std::string("rule_id: \"always\" on: PURCHASE probability_ppm: 1000000").size(),
             "rule_id: \"always\" on: PURCHASE probability_ppm: 0");
  std::ofstream(dir_ + "/p.textproto")
      << kProgram << "versions { version: \"2\" effective_from: \"2024-02-01T00:00:00Z\" program { "
      << v2 << " } }\n";
  auto programs = LoadPrograms(dir_ + "/p.textproto");
  ASSERT_TRUE(programs.ok()) << programs.status();
  auto before = ExplainDraw(*programs, Purchase("e1", "2024-01-31T23:59:59Z"), "");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_NE(before->find("program version \"1\", in force at occurred_at"), std::string::npos)
      << *before;
  EXPECT_NE(before->find("always               PURCHASE     990627    1000000  won the draw"),
            std::string::npos)
      << *before;
  auto after = ExplainDraw(*programs, Purchase("e1", "2024-02-01T00:00:00Z"), "");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->find("program version \"2\", in force at occurred_at"), std::string::npos)
      << *after;
  EXPECT_NE(after->find("always               PURCHASE     990627          0  lost"),
            std::string::npos)
      << *after;
  // A program of one version says nothing of versions, as before.
  auto plain = ExplainDraw(programs_, Purchase("e1", "2024-02-01T00:00:00Z"), "");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->find("program version"), std::string::npos) << *plain;
}

}  // namespace
}  // namespace loyalty
