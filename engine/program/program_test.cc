#include "engine/program/program.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/time.h"
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

// programs/examples/cafe-versions.textproto: the café with a version from 2030
// on, whose base version is programs/cafe.textproto exactly.
TEST(ProgramTest, TheCafeVersionsExampleLoads) {
  const char* src = std::getenv("LOYALTY_SOURCE_DIR");
  const std::string root = src ? src : ".";
  auto versioned = LoadPrograms(root + "/programs/examples/cafe-versions.textproto");
  ASSERT_TRUE(versioned.ok()) << versioned.status();
  auto plain = LoadPrograms(root + "/programs/cafe.textproto");
  ASSERT_TRUE(plain.ok()) << plain.status();
  const ProgramHistory* history = versioned->FindHistory("cafe");
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ(history->base().hash(), plain->FindHistory("cafe")->base().hash());
  const CompiledProgram* v2030 = versioned->Find("cafe");
  EXPECT_EQ(v2030->version(), "2030");
  EXPECT_EQ(history->base().Reward("free-coffee")->cost_points(), 50);
  EXPECT_EQ(v2030->Reward("free-coffee")->cost_points(), 60);
  EXPECT_NE(v2030->Reward("pastry"), nullptr);
  // Midnight in Paris.
  EXPECT_EQ(&history->At(*ParseRfc3339("2029-12-31T22:59:59Z")), &history->base());
  EXPECT_EQ(&history->At(*ParseRfc3339("2029-12-31T23:00:00Z")), v2030);
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

// --- Versions (SPEC §10) ----------------------------------------------------

// A base version on lines 1-9; versions follow from line 10.
constexpr char kVersionedBase[] =
    "program_id: \"p\"\n"
    "currency: \"EUR\"\n"
    "earn { points: 1 per_minor: 100 }\n"
    "tiers { tier_id: \"base\" threshold: 0 earn_multiplier_bp: 10000 }\n"
    "tiers { tier_id: \"gold\" threshold: 10 earn_multiplier_bp: 15000 }\n"
    "tier_qualification { metric: PURCHASE_COUNT window_months: 12 grace_days: 30 }\n"
    "paid_plans { plan_id: \"vip\" tier_id: \"gold\" months: 12 }\n"
    "punch_cards { card_id: \"card\" category: \"coffee\" stamps_required: 10 reward_id: "
    "\"coffee\" }\n"
    "rewards { reward_id: \"coffee\" cost_points: 50 }\n";

// The base's rules restated (8 lines), with `earn` points.
std::string Rules(int earn_points = 1) {
  return absl::StrCat(
      "    currency: \"EUR\"\n",                                                   //
      "    earn { points: ", earn_points, " per_minor: 100 }\n",                   //
      "    tiers { tier_id: \"base\" threshold: 0 earn_multiplier_bp: 10000 }\n",  //
      "    tiers { tier_id: \"gold\" threshold: 10 earn_multiplier_bp: 15000 }\n",
      "    tier_qualification { metric: PURCHASE_COUNT window_months: 12 grace_days: 30 }\n",
      "    paid_plans { plan_id: \"vip\" tier_id: \"gold\" months: 12 }\n",
      "    punch_cards { card_id: \"card\" category: \"coffee\" stamps_required: 10 reward_id: "
      "\"coffee\" }\n",
      "    rewards { reward_id: \"coffee\" cost_points: 50 }\n");
}

// A versions block of 5 lines plus the body's: "versions {", version,
// effective_from, "program {" (the body starts on the 5th), "  }", "}".
std::string Version(const std::string& name, const std::string& from, const std::string& body) {
  return absl::StrCat("versions {\n  version: \"", name, "\"\n  effective_from: \"", from,
                      "\"\n  program {\n", body, "  }\n}\n");
}

std::string FileError(const std::string& text) {
  auto p = ParseProgramFile(text, "f.textproto");
  EXPECT_FALSE(p.ok()) << "accepted:\n" << text;
  return p.ok() ? "" : std::string(p.status().message());
}

int64_t Ns(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

TEST(ProgramVersionsTest, VersionsParseAndTheOneInForceIsChosenByInstant) {
  const std::string text =
      absl::StrCat(kVersionedBase, Version("2027", "2027-01-01T00:00:00+01:00", Rules(2)),
                   Version("2028-q1", "2028-01-01T00:00:00Z", Rules(3)));
  auto h = ParseProgramFile(text, "f.textproto");
  ASSERT_TRUE(h.ok()) << h.status();
  const ProgramHistory& history = **h;
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history.program_id(), "p");
  EXPECT_EQ(history.base().version(), "1");  // the default name
  EXPECT_EQ(history.version(1).version(), "2027");
  EXPECT_EQ(history.latest().version(), "2028-q1");
  EXPECT_EQ(history.base().effective_from_ns(), INT64_MIN);
  EXPECT_EQ(history.base().effective_from(), "");
  const int64_t v2 = Ns("2026-12-31T23:00:00Z");
  EXPECT_EQ(history.version(1).effective_from_ns(), v2);
  EXPECT_EQ(history.version(1).effective_from(), "2026-12-31T23:00:00Z");
  // Every version is a whole program, with the file's program_id.
  EXPECT_EQ(history.version(1).program_id(), "p");
  EXPECT_EQ(history.version(1).proto().earn().points(), 2);
  EXPECT_EQ(history.version(1).proto().versions_size(), 0);
  EXPECT_EQ(history.base().proto().versions_size(), 0);

  const int64_t v3 = Ns("2028-01-01T00:00:00Z");
  const struct {
    int64_t t;
    const char* version;
  } cases[] = {{INT64_MIN, "1"}, {0, "1"},         {v2 - 1, "1"},   {v2, "2027"},
               {v2 + 1, "2027"}, {v3 - 1, "2027"}, {v3, "2028-q1"}, {INT64_MAX, "2028-q1"}};
  for (const auto& c : cases) {
    EXPECT_EQ(history.At(c.t).version(), c.version) << c.t;
  }
  EXPECT_EQ(history.FindVersion("2027"), &history.version(1));
  EXPECT_EQ(history.FindVersion("2029"), nullptr);

  // A set finds the program's latest version and its whole history.
  ProgramSet set;
  ASSERT_TRUE(set.Add(std::move(*h)).ok());
  EXPECT_EQ(set.Find("p")->version(), "2028-q1");
  EXPECT_EQ(set.FindHistory("p")->size(), 3u);
  EXPECT_EQ(set.FindHistory("q"), nullptr);
}

TEST(ProgramVersionsTest, AProgramWithoutVersionsIsOneVersionNamedByItsVersionField) {
  auto h = ParseProgramFile(kMin, "f.textproto");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ((*h)->size(), 1u);
  EXPECT_EQ(&(*h)->At(0), &(*h)->base());
  auto named = ParseProgramFile(absl::StrCat(kMin, "version: \"2026\"\n"), "f.textproto");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ((*named)->base().version(), "2026");
  // ParseProgramText reads programs of one version only.
  std::string e =
      Error(absl::StrCat(kVersionedBase, Version("2", "2027-01-01T00:00:00Z", Rules())));
  EXPECT_TRUE(absl::StartsWith(e, "f.textproto:10:1: versions[0]: ")) << e;
}

TEST(ProgramVersionsTest, TheHashIsOfTheVersionAsApplied) {
  const std::string text =
      absl::StrCat(kVersionedBase, Version("2027", "2027-01-01T00:00:00+01:00", Rules(2)));
  auto h = ParseProgramFile(text, "f.textproto");
  ASSERT_TRUE(h.ok()) << h.status();
  const CompiledProgram& v2 = (**h).version(1);
  // SHA-256 of the deterministic serialization of a ProgramVersion: name,
  // effective_from in UTC, the program as applied.
  loyalty::v1::ProgramVersion hashed;
  hashed.set_version("2027");
  hashed.set_effective_from("2026-12-31T23:00:00Z");
  *hashed.mutable_program() = v2.proto();
  EXPECT_EQ(v2.hash(), HexDigest(Sha256(SerializeDeterministic(hashed))));
  EXPECT_EQ(v2.hash().size(), 64u);
  EXPECT_EQ(v2.hash().find_first_not_of("0123456789abcdef"), std::string::npos) << v2.hash();
  EXPECT_NE(v2.hash(), (**h).base().hash());

  // Comments, spacing and the spelling of the instant do not count...
  auto same = ParseProgramFile(
      absl::StrCat("# a comment\n", absl::StrReplaceAll(kVersionedBase, {{": ", ":  "}}),
                   Version("2027", "2026-12-31T23:00:00Z", Rules(2))),
      "g.textproto");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ((**same).version(1).hash(), v2.hash());
  EXPECT_EQ((**same).base().hash(), (**h).base().hash());
  // ... a rule and the instant do, each in its own version only.
  auto changed = ParseProgramFile(
      absl::StrCat(kVersionedBase, Version("2027", "2027-01-01T00:00:00+01:00", Rules(3))),
      "f.textproto");
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_NE((**changed).version(1).hash(), v2.hash());
  EXPECT_EQ((**changed).base().hash(), (**h).base().hash());
  auto moved = ParseProgramFile(
      absl::StrCat(kVersionedBase, Version("2027", "2027-01-02T00:00:00+01:00", Rules(2))),
      "f.textproto");
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_NE((**moved).version(1).hash(), v2.hash());
  // The base version of a file with versions is the same program as the
  // file without them: the same hash.
  auto alone = ParseProgramText(kVersionedBase, "f.textproto");
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_EQ((*alone)->hash(), (**h).base().hash());
  EXPECT_EQ((*alone)->version(), "1");
}

TEST(ProgramVersionsTest, VersionErrorsNameLineAndFieldPath) {
  const std::string rules = Rules();
  struct Case {
    std::string versions;  // from line 10
    std::string expect;    // prefix after "f.textproto:"
    std::string message;   // contained
  };
  const Case cases[] = {
      {Version("", "2027-01-01T00:00:00Z", rules), "11:3: versions[0].version: ", "required"},
      {Version("1", "2027-01-01T00:00:00Z", rules),
       "11:3: versions[0].version: ", "duplicate version name \"1\""},
      {Version("2", "tomorrow", rules), "12:3: versions[0].effective_from: ", ""},
      {Version("2", "2100-01-01T00:00:00Z", rules),
       "12:3: versions[0].effective_from: ", "[2000-01-01, 2100-01-01)"},
      {Version("2", "2027-01-01T00:00:00Z", rules) + Version("3", "2027-01-01T00:00:00Z", rules),
       "26:3: versions[1].effective_from: ", "must be after the previous version's"},
      {Version("2", "2027-01-01T00:00:00Z", rules) + Version("2", "2028-01-01T00:00:00Z", rules),
       "25:3: versions[1].version: ", "duplicate version name \"2\""},
      // A version's own program is checked as a program, at its lines.
      {Version("2", "2027-01-01T00:00:00Z",
               absl::StrReplaceAll(rules, {{"\"gold\" threshold: 10", "\"gold\" threshold: 0"}})),
       "17:", "versions[0].program.tiers[1].threshold: thresholds must ascend (0 after 0)"},
      {Version("2", "2027-01-01T00:00:00Z", "    program_id: \"q\"\n" + rules),
       "14:5: ", "versions[0].program.program_id: must be empty or \"p\""},
      {Version("2", "2027-01-01T00:00:00Z", "    version: \"x\"\n" + rules),
       "14:5: ", "versions[0].program.version: must be empty"},
      // What member records refer to stays.
      {Version("2", "2027-01-01T00:00:00Z", absl::StrReplaceAll(rules, {{"EUR", "USD"}})),
       "14:5: ", "versions[0].program.currency: may not change between versions (\"EUR\""},
      {Version("2", "2027-01-01T00:00:00Z", "    timezone: \"Europe/Paris\"\n" + rules),
       "14:5: ", "versions[0].program.timezone: may not change between versions (\"UTC\""},
      {Version(
           "2", "2027-01-01T00:00:00Z",
           absl::StrReplaceAll(
               rules, {{"    tiers { tier_id: \"base\" threshold: 0 earn_multiplier_bp: 10000 }\n"
                        "    tiers { tier_id: \"gold\"",
                        "    tiers { tier_id: \"member\" threshold: 0 earn_multiplier_bp: "
                        "10000 }\n    tiers { tier_id: \"gold\""}})),
       "16:13: ", "versions[0].program.tiers[0].tier_id: tier \"base\" in version \"1\" must stay"},
      {Version("2", "2027-01-01T00:00:00Z",
               absl::StrReplaceAll(rules, {{"    punch_cards {", "    # punch_cards {"},
                                           {"    rewards {", "    # rewards {"}})),
       "13:3: ", "versions[0].program.rewards: reward \"coffee\" in version \"1\" is missing"},
      {Version("2", "2027-01-01T00:00:00Z",
               absl::StrReplaceAll(rules, {{"    punch_cards {", "    # punch_cards {"}})),
       "13:3: ",
       "versions[0].program.punch_cards: punch card \"card\" in version \"1\" is missing"},
      {Version("2", "2027-01-01T00:00:00Z",
               absl::StrReplaceAll(rules, {{"    paid_plans {", "    # paid_plans {"}})),
       "13:3: ", "versions[0].program.paid_plans: paid plan \"vip\" in version \"1\" is missing"},
  };
  for (const Case& c : cases) {
    std::string e = FileError(std::string(kVersionedBase) + c.versions);
    EXPECT_TRUE(absl::StartsWith(e, "f.textproto:" + c.expect)) << e << "\nexpected " << c.expect;
    EXPECT_TRUE(absl::StrContains(e, c.message)) << e << "\nexpected " << c.message;
  }
  // A later version may add tiers after the others, rewards, plans and
  // cards, and change every parameter.
  auto ok = ParseProgramFile(
      std::string(kVersionedBase) +
          Version("2", "2027-01-01T00:00:00Z",
                  absl::StrReplaceAll(rules, {{"cost_points: 50", "cost_points: 70"}}) +
                      "    tiers { tier_id: \"platinum\" threshold: 99 earn_multiplier_bp: 20000 "
                      "}\n    rewards { reward_id: \"tea\" cost_points: 20 }\n"),
      "f.textproto");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(ProgramVersionsTest, DirectoriesLoadVersionedFiles) {
  const std::string dir = ::testing::TempDir() + "/programs-versions";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/p.textproto")
      << kVersionedBase << Version("2", "2027-01-01T00:00:00Z", Rules(2));
  auto set = LoadPrograms(dir);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->FindHistory("p")->size(), 2u);
  EXPECT_EQ(set->FindHistory("p")->source_path(), dir + "/p.textproto");
}

}  // namespace
}  // namespace loyalty
