#include "engine/program/program.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

std::string Error(const std::string& text) {
  auto p = ParseProgramText(text, "f.textproto");
  EXPECT_FALSE(p.ok()) << "accepted:\n" << text;
  return p.ok() ? "" : std::string(p.status().message());
}

constexpr char kMin[] = "program_id: \"p\"\ncurrency: \"EUR\"\nearn { points: 1 per_minor: 100 }\n";

TEST(ProgramTest, TheCanonicalCafeLoads) {
  const char* src = std::getenv("LOYALTY_SOURCE_DIR");
  auto set = LoadPrograms(std::string(src ? src : ".") + "/programs/cafe.textproto");
  ASSERT_TRUE(set.ok()) << set.status();
  const CompiledProgram* cafe = set->Find("cafe");
  ASSERT_NE(cafe, nullptr);
  EXPECT_EQ(cafe->CategoryBp("coffee"), 20000);
  EXPECT_EQ(cafe->CategoryBp("gift_card"), 0);
  EXPECT_EQ(cafe->CategoryBp("tea"), 10000);
  EXPECT_EQ(cafe->TierIndex("gold"), 2);
  EXPECT_EQ(cafe->TierEarnBp(1), 12500);
  EXPECT_TRUE(cafe->allow_negative_balance());
  ASSERT_EQ(cafe->promotions().size(), 2u);
  EXPECT_EQ(cafe->promotions()[0].start_minute, 21 * 60);
  EXPECT_EQ(cafe->promotions()[0].end_minute, 24 * 60);
  EXPECT_EQ(cafe->time_zone().name(), "Europe/Paris");
}

TEST(ProgramTest, SyntaxErrorsNameFileLineAndColumn) {
  std::string e = Error(std::string(kMin) + "pending_days: \"x\"\n");
  EXPECT_TRUE(absl::StartsWith(e, "f.textproto:4:")) << e;
  e = Error(std::string(kMin) + "no_such_field: 1\n");
  EXPECT_TRUE(absl::StartsWith(e, "f.textproto:4:")) << e;
}

TEST(ProgramTest, SemanticErrorsNameLineAndFieldPath) {
  struct Case {
    std::string extra;
    std::string expect;  // prefix after "f.textproto:"
  };
  const Case cases[] = {
      {"tiers { tier_id: \"a\" threshold: 0 earn_multiplier_bp: 10000 }\n"
       "tiers { tier_id: \"b\" threshold: 0 earn_multiplier_bp: 10000 }\n",
       "5:22: tiers[1].threshold: thresholds must ascend"},
      {"tiers { tier_id: \"a\" threshold: 5 earn_multiplier_bp: 10000 }\n",
       "4:22: tiers[0].threshold: the first tier must have threshold 0"},
      {"rewards { reward_id: \"r\" }\nrewards { reward_id: \"r\" }\n",
       "5:11: rewards[1].reward_id: duplicate id \"r\""},
      {"timezone: \"Mars/Olympus\"\n", "4:1: timezone: unknown IANA time zone"},
      {"category_multipliers { category: \"c\" multiplier_bp: -1 }\n",
       "4:38: category_multipliers[0].multiplier_bp: must be in [0, 1000000]"},
      {"expiration { mode: FIXED_DAYS }\n", "4:1: expiration.days: must be in [1, 36500]"},
      {"first_purchase_reward_id: \"x\"\n", "4:1: first_purchase_reward_id: unknown reward"},
      {"promotions { promotion_id: \"w\" start_local: \"25:00\" bonus_points: 1 }\n",
       "4:32: promotions[0].start_local: must be \"HH:MM\""},
      {"random_rewards { rule_id: \"r\" on: PURCHASE bonus_points: 1 }\n",
       "4:1: random_rewards[0]: needs the program's random_seed"},
      {"paid_plans { plan_id: \"vip\" tier_id: \"gold\" months: 1 }\n",
       "4:29: paid_plans[0].tier_id: unknown tier \"gold\""},
  };
  for (const Case& c : cases) {
    std::string e = Error(std::string(kMin) + c.extra);
    EXPECT_TRUE(absl::StartsWith(e, "f.textproto:" + c.expect)) << e << "\nexpected " << c.expect;
  }
  // Rates must be positive.
  EXPECT_TRUE(absl::StrContains(
      Error("program_id: \"p\"\ncurrency: \"EUR\"\nearn { points: 0 per_minor: 100 }\n"),
      "earn.points: must be in [1, 1000000]"));
  EXPECT_TRUE(absl::StrContains(Error("program_id: \"p\"\ncurrency: \"eur\"\n"), "currency"));
}

TEST(ProgramTest, ProgramsThatCouldOverflowAreRefused) {
  std::string e = Error(
      std::string(kMin).replace(std::string(kMin).find("points: 1 "), 10, "points: 1000000 ") +
      "category_multipliers { category: \"c\" multiplier_bp: 1000000 }\n");
  EXPECT_TRUE(absl::StrContains(e, "could earn more than")) << e;
}

TEST(ProgramTest, DirectoryLoadingRefusesDuplicateIds) {
  const std::string dir = ::testing::TempDir() + "/programs-dup";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/a.textproto") << kMin;
  std::ofstream(dir + "/b.textproto") << kMin;
  std::ofstream(dir + "/notes.txt") << "ignored";
  auto set = LoadPrograms(dir);
  ASSERT_FALSE(set.ok());
  EXPECT_TRUE(absl::StrContains(set.status().message(), "b.textproto")) << set.status();
  EXPECT_TRUE(absl::StrContains(set.status().message(), "defined twice")) << set.status();
  EXPECT_FALSE(LoadPrograms(dir + "/missing").ok());
}

}  // namespace
}  // namespace loyalty
