// The KPI report over a small hand-made stream, run through the real apply
// path (RunReplay into two partition stores). The expected figures are worked
// out by hand below, event by event, with the arithmetic in comments; a
// second test recomputes the figures from the stored member records and
// ledger entries in a simpler way of its own; a third runs `loyaltyctl report`.
#include "engine/report/report.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/base/time.h"
#include "connectors/file/replay.h"
#include "engine/store/keys.h"
#include "engine/store/store.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/v1/ledger.pb.h"
#include "tests/testing/command.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

// "bistro": Paris time, 1 point per euro, points worth 2 cents, lots expire
// at the start of the local month after available_at + 60 days. Every tier
// earns 1x, so tiers never change the points. Silver at 50 EUR of spend in a
// 12-month window; "vip" buys gold. A review always wins 5 bonus points.
constexpr char kBistroProgram[] = R"(program_id: "bistro"
currency: "EUR"
timezone: "Europe/Paris"
random_seed: "report-test"
point_value_minor: 2
earn { points: 1 per_minor: 100 }
expiration { mode: FIXED_DAYS days: 60 round_to_month_end: true }
tier_qualification { metric: SPEND_MINOR window_months: 12 grace_days: 30 }
tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
tiers { tier_id: "silver" threshold: 5000 earn_multiplier_bp: 10000 }
tiers { tier_id: "gold" threshold: 1000000 earn_multiplier_bp: 10000 }
paid_plans { plan_id: "vip" tier_id: "gold" months: 12 }
engagement_rules { action: "review" points: 10 unique_per_ref: true }
random_rewards { rule_id: "lucky" on: ENGAGEMENT category: "review" probability_ppm: 1000000
                 bonus_points: 5 }
rewards { reward_id: "coffee" cost_points: 20 }
)";

// "market": UTC, 1 point per 10 cents, points worth 1 cent, pending 7 days,
// never expire, no tiers, debt allowed (the default).
constexpr char kMarketProgram[] = R"(program_id: "market"
currency: "USD"
timezone: "UTC"
random_seed: "report-test-2"
point_value_minor: 1
earn { points: 1 per_minor: 10 }
pending_days: 7
expiration { mode: NONE }
rewards { reward_id: "mug" cost_points: 50 }
)";

std::string Event(const std::string& id, const std::string& program, const std::string& member,
                  const std::string& at, const std::string& body) {
  return absl::StrCat("{\"event_id\":\"", id, "\",\"program_id\":\"", program,
                      "\",\"member_id\":\"", member, "\",\"occurred_at\":\"", at, "\",", body, "}");
}
std::string Purchase(const std::string& order, int64_t amount, const std::string& currency,
                     const std::string& partner = "") {
  return absl::StrCat("\"purchase\":{\"order_id\":\"", order, "\",\"amount_minor\":", amount,
                      ",\"currency\":\"", currency, "\"",
                      partner.empty() ? "" : absl::StrCat(",\"partner_id\":\"", partner, "\""),
                      "}");
}
std::string Nps(int score) {
  return absl::StrCat("\"engagement\":{\"action\":\"nps\",\"score\":", score, "}");
}
std::string Tick(const std::string& program, const std::string& now) {
  return absl::StrCat("{\"event_id\":\"tick-", program, "-", now, "\",\"program_id\":\"", program,
                      "\",\"occurred_at\":\"", now, "\",\"tick\":{\"now\":\"", now, "\"}}");
}

// Partition 0: bistro a1, a2, a3 and market m1. Partition 1: bistro a4, a5
// and market m2, m3. Both end with a tick of each program at 2026-09-01 12:00Z.
std::vector<std::string> Partition0Lines() {
  return {
      Event("a1-1", "bistro", "a1", "2026-01-10T10:00:00Z", Purchase("o1", 3000, "EUR", "acme")),
      Event("a2-1", "bistro", "a2", "2026-01-15T10:00:00Z", Purchase("o3", 3000, "EUR", "acme")),
      Event("a1-2", "bistro", "a1", "2026-02-20T10:00:00Z", Purchase("o2", 2500, "EUR")),
      Event("a1-3", "bistro", "a1", "2026-02-25T10:00:00Z",
            "\"redemption\":{\"reward_id\":\"coffee\"}"),
      Event("m1-1", "market", "m1", "2026-03-01T09:00:00Z", Purchase("q1", 500, "USD", "acme")),
      Event("a1-4", "bistro", "a1", "2026-03-05T10:00:00Z", Nps(4)),
      Event("a1-5", "bistro", "a1", "2026-03-06T10:00:00Z", Nps(10)),
      Event("m1-2", "market", "m1", "2026-03-10T09:00:00Z",
            "\"redemption\":{\"reward_id\":\"mug\"}"),
      Tick("bistro", "2026-04-15T00:00:00Z"),
      Event("a2-2", "bistro", "a2", "2026-05-10T10:00:00Z", Purchase("o4", 1000, "EUR")),
      Event("a2-3", "bistro", "a2", "2026-05-12T10:00:00Z",
            "\"refund\":{\"order_id\":\"o4\",\"amount_minor\":1000}"),
      Event("a3-1", "bistro", "a3", "2026-08-20T10:00:00Z", Purchase("o5", 2000, "EUR", "zeta")),
      Event("a3-2", "bistro", "a3", "2026-08-21T10:00:00Z", Nps(6)),
      Event("a3-3", "bistro", "a3", "2026-08-22T10:00:00Z",
            "\"refund\":{\"order_id\":\"o5\",\"amount_minor\":500}"),
      Event("m1-3", "market", "m1", "2026-08-30T09:00:00Z", Purchase("q2", 200, "USD", "acme")),
      Tick("bistro", "2026-09-01T12:00:00Z"),
      Tick("market", "2026-09-01T12:00:00Z"),
  };
}

std::vector<std::string> Partition1Lines() {
  return {
      Event("m2-1", "market", "m2", "2026-02-01T12:00:00Z", Purchase("q3", 1000, "USD")),
      Event("m2-2", "market", "m2", "2026-02-10T12:00:00Z",
            "\"adjustment\":{\"points\":-130,\"reason\":\"fraud\",\"operator_id\":\"ops\"}"),
      Event("m2-3", "market", "m2", "2026-02-15T12:00:00Z", Purchase("q4", 100, "USD", "beta")),
      Event("a4-1", "bistro", "a4", "2026-06-01T10:00:00Z", "\"membership\":{\"plan_id\":\"vip\"}"),
      Event("m3-1", "market", "m3", "2026-07-01T10:00:00Z", Nps(9)),
      Event("m3-2", "market", "m3", "2026-07-02T10:00:00Z",
            "\"redemption\":{\"reward_id\":\"mug\"}"),
      Event("a4-2", "bistro", "a4", "2026-07-20T10:00:00Z",
            "\"engagement\":{\"action\":\"review\",\"ref\":\"r1\"}"),
      Event("a4-3", "bistro", "a4", "2026-07-21T10:00:00Z", Nps(8)),
      Event("a5-1", "bistro", "a5", "2026-08-01T10:00:00Z", Nps(3)),
      Event("a5-2", "bistro", "a5", "2026-08-02T10:00:00Z",
            "\"adjustment\":{\"points\":7,\"reason\":\"goodwill\",\"operator_id\":\"ops\"}"),
      Tick("bistro", "2026-09-01T12:00:00Z"),
      Tick("market", "2026-09-01T12:00:00Z"),
  };
}

// The figures by hand.
//
// bistro (Europe/Paris: UTC+1, UTC+2 from 2026-03-29 to 2026-10-25). A lot
// available at A expires at the start of the local month after A + 60 days.
//  a1: o1 01-10 3000 (acme) -> 30 pts, lot expires 03-11 -> 04-01 00:00 local
//        = 03-31T22:00Z; o2 02-20 2500 -> 25 pts, expires 04-21 -> 05-01 local
//        = 04-30T22:00Z. Spend 5500 >= 5000 -> silver from 02-20, kept by the
//        12-month window. 02-25 redeems coffee 20 from the earliest-expiring
//        lot (o1: 30 -> 10). NPS 4 then 10: last 10 (promoter). The tick of
//        04-15 expires 10 (stamped 03-31T22:00Z = April local), the last tick
//        expires 25 (stamped 04-30T22:00Z = May local).
//        earned 55, redeemed 20, expired 35, 2 purchases, last 02-20.
//  a2: o3 01-15 3000 (acme) -> 30, expires 04-01 local, by the 04-15 tick
//        (30 expired, April). o4 05-10 1000 -> 10; refunded in full 05-12:
//        clawback 10, count 2 -> 1, spend 4000 -> 3000. Spend never reaches
//        5000: member. earned 40, expired 30, clawed back 10, last 05-10.
//  a3: o5 08-20 2000 (zeta) -> 20, expires 10-19 -> 11-01 local (2026-11).
//        NPS 6 (detractor). Refund 500 of 2000: clawback
//        floor(20*500/2000) - 0 = 5 from its lot (15 left). spend 1500.
//  a4: vip 06-01 -> gold until 2027-06-01. Review 07-20 -> ENGAGE 10 and the
//        "lucky" BONUS 5, both expiring 09-18 -> 10-01 local (2026-10). NPS 8.
//  a5: NPS 3 (detractor). Adjustment +7 on 08-02, expires 10-01 -> 11-01
//        local (2026-11).
// as_of = the last tick, 2026-09-01T12:00Z; 90 days before: 06-03T12:00Z;
// 180 days before: 03-05T12:00Z.
//
// market (UTC), 1 point per 10 cents, pending 7 days, lots never expire.
//  m1: q1 03-01 500 (acme) -> 50 pending to 03-08; redeems mug 50 on 03-10.
//      q2 08-30 200 (acme) -> 20, pending to 09-06: still pending at as_of.
//      2 purchases, spend 700, last 08-30.
//  m2: q3 02-01 1000 -> 100 (released 02-08). Adjustment -130 on 02-10: 100
//      from the lot, 30 of debt. q4 02-15 100 (beta) -> 10, released at
//      02-22 (by the last tick) pays debt: debt 20. 2 purchases, spend 1100,
//      last 02-15.
//  m3: NPS 9 (promoter); a redemption refused (no points).

class ReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(testing::MakeTempDir("report"));
    const std::string programs_dir = *root_ + "/programs";
    std::filesystem::create_directories(programs_dir);
    std::ofstream(programs_dir + "/bistro.textproto") << kBistroProgram;
    std::ofstream(programs_dir + "/market.textproto") << kMarketProgram;
    auto programs = LoadPrograms(programs_dir);
    ASSERT_TRUE(programs.ok()) << programs.status();
    programs_ = new ProgramSet(std::move(*programs));
    testing::WriteLines(*root_ + "/p0.jsonl", Partition0Lines());
    testing::WriteLines(*root_ + "/p1.jsonl", Partition1Lines());
    for (int32_t p : {0, 1}) {
      ReplayOptions o;
      o.data_dir = *root_ + "/data";
      o.events_path = absl::StrCat(*root_, "/p", p, ".jsonl");
      o.dlq_path = absl::StrCat(*root_, "/p", p, ".dlq.jsonl");
      o.partition = p;
      auto stats = RunReplay(*programs_, o);
      ASSERT_TRUE(stats.ok()) << stats.status();
      ASSERT_EQ(stats->rejected, 0) << "a line went to the DLQ: see " << o.dlq_path;
    }
    auto report = BuildReport(*root_ + "/data", *programs_, ReportOptions());
    ASSERT_TRUE(report.ok()) << report.status();
    report_ = new KpiReport(std::move(*report));
  }
  static void TearDownTestSuite() {
    if (root_ != nullptr) std::filesystem::remove_all(*root_);
    delete root_;
    delete programs_;
    delete report_;
    root_ = nullptr;
    programs_ = nullptr;
    report_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(report_, nullptr);
    ASSERT_EQ(report_->programs.size(), 2u);
  }

  static const ProgramReport& Bistro() { return report_->programs[0]; }
  static const ProgramReport& Market() { return report_->programs[1]; }

  static std::string* root_;
  static ProgramSet* programs_;
  static KpiReport* report_;
};

std::string* ReportTest::root_ = nullptr;
ProgramSet* ReportTest::programs_ = nullptr;
KpiReport* ReportTest::report_ = nullptr;

std::vector<std::pair<std::string, int64_t>> Tiers(const ProgramReport& p) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& t : p.tiers) out.emplace_back(t.tier_id, t.members);
  return out;
}
std::vector<std::tuple<std::string, int64_t, int64_t>> Liability(const ProgramReport& p) {
  std::vector<std::tuple<std::string, int64_t, int64_t>> out;
  for (const auto& l : p.liability) out.emplace_back(l.month, l.points, l.value_minor);
  return out;
}
std::vector<std::tuple<std::string, int64_t, int64_t, int64_t>> Partners(const ProgramReport& p) {
  std::vector<std::tuple<std::string, int64_t, int64_t, int64_t>> out;
  for (const auto& x : p.partners) {
    out.emplace_back(x.partner_id, x.earned_points, x.purchases, x.clawed_back_points);
  }
  out.emplace_back("(no partner)", p.no_partner.earned_points, p.no_partner.purchases,
                   p.no_partner.clawed_back_points);
  return out;
}
std::vector<std::tuple<std::string, int64_t, int64_t, int64_t>> Monthly(const ProgramReport& p) {
  std::vector<std::tuple<std::string, int64_t, int64_t, int64_t>> out;
  for (const auto& m : p.monthly) {
    out.emplace_back(m.month, m.issued_points, m.redeemed_points, m.expired_points);
  }
  return out;
}

TEST_F(ReportTest, AsOfIsTheLatestTickOrMemberClock) {
  EXPECT_EQ(FormatRfc3339(report_->as_of_ns), "2026-09-01T12:00:00Z");
  EXPECT_TRUE(report_->as_of_from_store);
  EXPECT_EQ(report_->partitions, 2);
  EXPECT_EQ(Bistro().program_id, "bistro");
  EXPECT_EQ(Market().program_id, "market");
}

TEST_F(ReportTest, MembersActivityRepeatChurnAndSpend) {
  const ProgramReport& b = Bistro();
  EXPECT_EQ(b.members, 5);                    // a1..a5 (a4 and a5 never bought)
  EXPECT_EQ(b.members_with_purchase, 3);      // a1 (2), a2 (2 - 1 fully refunded), a3 (1)
  EXPECT_EQ(b.active_members, 1);             // a3 (08-20 > 06-03); a2's 05-10 is older
  EXPECT_EQ(b.repeat_purchase.numerator, 1);  // a1
  EXPECT_EQ(b.repeat_purchase.denominator, 3);
  EXPECT_EQ(FormatPercent(b.repeat_purchase), "33.33");
  EXPECT_EQ(b.churn.numerator, 1);  // a1: 02-20 <= 03-05T12:00Z
  EXPECT_EQ(b.churn.denominator, 3);
  EXPECT_EQ(b.spend_minor, 10000);  // 5500 + (3000 + 1000 - 1000) + (2000 - 500)
  EXPECT_EQ(FormatDecimal(b.spend_per_member.numerator, b.spend_per_member.denominator, 2),
            "2000.00");  // 10000 / 5

  const ProgramReport& m = Market();
  EXPECT_EQ(m.members, 3);
  EXPECT_EQ(m.members_with_purchase, 2);
  EXPECT_EQ(m.active_members, 1);                         // m1 (08-30)
  EXPECT_EQ(FormatPercent(m.repeat_purchase), "100.00");  // 2 / 2
  EXPECT_EQ(FormatPercent(m.churn), "50.00");             // m2 (02-15) / 2
  EXPECT_EQ(m.spend_minor, 1800);                         // 700 + 1100
  EXPECT_EQ(FormatDecimal(m.spend_per_member.numerator, m.spend_per_member.denominator, 2),
            "600.00");
}

TEST_F(ReportTest, PointsBreakageAndLedgerEntries) {
  const ProgramReport& b = Bistro();
  EXPECT_EQ(b.issued_points, 130);  // a1 30+25, a2 30+10, a3 20, a4 10 + 5 bonus
  EXPECT_EQ(b.redeemed_points, 20);
  EXPECT_EQ(b.expired_points, 65);      // a1 10 + 25, a2 30
  EXPECT_EQ(b.clawed_back_points, 15);  // a2 10, a3 5
  EXPECT_EQ(b.adjusted_points, 7);
  EXPECT_EQ(b.outstanding_points, 37);            // 130 + 7 - 20 - 65 - 15
  EXPECT_EQ(FormatPercent(b.breakage), "50.00");  // 65 / 130
  // a1: EARN EARN REDEEM EXPIRE EXPIRE; a2: EARN EXPIRE EARN CLAWBACK;
  // a3: EARN CLAWBACK; a4: ENGAGE BONUS; a5: ADJUST.
  EXPECT_EQ(b.ledger_entries, 14);

  const ProgramReport& m = Market();
  EXPECT_EQ(m.issued_points, 180);  // m1 50 + 20, m2 100 + 10
  EXPECT_EQ(m.redeemed_points, 50);
  EXPECT_EQ(m.expired_points, 0);
  EXPECT_EQ(m.adjusted_points, -130);  // 100 taken from the lot + 30 of debt
  EXPECT_EQ(m.outstanding_points, 0);  // m1 20 pending, m2 -20
  EXPECT_EQ(FormatPercent(m.breakage), "0.00");
  // m1: EARN RELEASE REDEEM EARN; m2: EARN RELEASE ADJUST EARN RELEASE.
  EXPECT_EQ(m.ledger_entries, 9);
}

TEST_F(ReportTest, LiabilityByLocalExpiryMonth) {
  const ProgramReport& b = Bistro();
  using L = std::tuple<std::string, int64_t, int64_t>;
  // 2026-10: a4 10 + 5 (x 2 minor); 2026-11: a3 15 + a5 7.
  EXPECT_EQ(Liability(b), (std::vector<L>{{"2026-10", 15, 30}, {"2026-11", 22, 44}}));
  EXPECT_EQ(b.lot_points, 37);
  EXPECT_EQ(b.debt_points, 0);

  const ProgramReport& m = Market();
  EXPECT_EQ(Liability(m), (std::vector<L>{{"never", 20, 20}}));  // m1's pending lot
  EXPECT_EQ(m.lot_points, 20);
  EXPECT_EQ(m.debt_points, 20);  // m2
}

TEST_F(ReportTest, Nps) {
  const ProgramReport& b = Bistro();
  EXPECT_EQ(b.nps.responses, 4);          // a1 10, a3 6, a4 8, a5 3
  EXPECT_EQ(b.nps.promoters, 1);          // a1 (its last score; the 4 before does not count)
  EXPECT_EQ(b.nps.passives, 1);           // a4
  EXPECT_EQ(b.nps.detractors, 2);         // a3, a5
  EXPECT_EQ(FormatNps(b.nps), "-25.00");  // (1 - 2) * 100 / 4

  const ProgramReport& m = Market();
  EXPECT_EQ(m.nps.responses, 1);
  EXPECT_EQ(FormatNps(m.nps), "100.00");
}

TEST_F(ReportTest, TierDistributionInProgramOrder) {
  using T = std::pair<std::string, int64_t>;
  // member: a2, a3, a5; silver: a1 (spend 5500); gold: a4 (paid plan).
  EXPECT_EQ(Tiers(Bistro()), (std::vector<T>{{"member", 3}, {"silver", 1}, {"gold", 1}}));
  EXPECT_TRUE(Market().tiers.empty());  // a program without tiers
}

TEST_F(ReportTest, PointsPerPartner) {
  using P = std::tuple<std::string, int64_t, int64_t, int64_t>;
  // acme: o1 30 + o3 30; zeta: o5 20 of which 5 clawed back; none: o2 25 + o4 10 (clawed 10).
  EXPECT_EQ(Partners(Bistro()),
            (std::vector<P>{{"acme", 60, 2, 0}, {"zeta", 20, 1, 5}, {"(no partner)", 35, 2, 10}}));
  // acme: q1 50 + q2 20; beta: q4 10; none: q3 100.
  EXPECT_EQ(Partners(Market()),
            (std::vector<P>{{"acme", 70, 2, 0}, {"beta", 10, 1, 0}, {"(no partner)", 100, 1, 0}}));
}

TEST_F(ReportTest, MonthlySeriesByLocalMonth) {
  using M = std::tuple<std::string, int64_t, int64_t, int64_t>;
  // The expiries stamped 03-31T22:00Z and 04-30T22:00Z fall in April and May
  // of Paris time (March and April in UTC).
  EXPECT_EQ(Monthly(Bistro()), (std::vector<M>{{"2026-01", 60, 0, 0},
                                               {"2026-02", 25, 20, 0},
                                               {"2026-03", 0, 0, 0},
                                               {"2026-04", 0, 0, 40},
                                               {"2026-05", 10, 0, 25},
                                               {"2026-06", 0, 0, 0},
                                               {"2026-07", 15, 0, 0},
                                               {"2026-08", 20, 0, 0}}));
  EXPECT_EQ(Monthly(Market()), (std::vector<M>{{"2026-02", 110, 0, 0},
                                               {"2026-03", 50, 50, 0},
                                               {"2026-04", 0, 0, 0},
                                               {"2026-05", 0, 0, 0},
                                               {"2026-06", 0, 0, 0},
                                               {"2026-07", 0, 0, 0},
                                               {"2026-08", 20, 0, 0}}));
}

TEST_F(ReportTest, ExplicitAsOfMovesTheWindows) {
  ReportOptions options;
  options.as_of_ns = *ParseRfc3339("2027-01-01T00:00:00Z");
  options.program_id = "bistro";
  auto report = BuildReport(*root_ + "/data", *programs_, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->as_of_from_store);
  ASSERT_EQ(report->programs.size(), 1u);
  const ProgramReport& b = report->programs[0];
  EXPECT_EQ(b.program_id, "bistro");
  EXPECT_EQ(b.active_members, 0);  // nothing after 2026-10-03
  // a1 (02-20) and a2 (05-10) are <= 2026-07-05: 2 / 3, truncated.
  EXPECT_EQ(FormatPercent(b.churn), "66.66");
  EXPECT_EQ(b.spend_minor, 10000);  // the stored state does not move
  EXPECT_FALSE(absl::StrContains(FormatReportText(*report), "Note:"));

  // An as_of before what the stores have seen: the text says the figures are
  // of the later state.
  options.as_of_ns = *ParseRfc3339("2026-06-01T00:00:00Z");
  auto early = BuildReport(*root_ + "/data", *programs_, options);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(early->programs[0].active_members, 2);  // a2 (05-10) and a3 (08-20, later)
  EXPECT_TRUE(absl::StrContains(FormatReportText(*early),
                                "Note: the stores have seen up to 2026-09-01T12:00:00Z"))
      << FormatReportText(*early);
}

// Normalizes runs of spaces so that the test does not depend on column widths.
std::string Squeeze(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' && !out.empty() && (out.back() == ' ' || out.back() == '\n')) continue;
    out.push_back(c);
  }
  return out;
}

TEST_F(ReportTest, TextShowsTheFigures) {
  if (std::getenv("LOYALTY_REPORT_PRINT") != nullptr) std::cout << FormatReportText(*report_);
  const std::string text = Squeeze(FormatReportText(*report_));
  for (const char* line : {
           "Loyalty Ledger KPI report as of 2026-09-01T12:00:00Z",
           "== bistro (Europe/Paris; 1 point = 2 minor units of EUR) ==",
           "Members 5\n",
           "with a purchase 3\n",
           "active (a purchase in the last 90 days) 1\n",
           "Repeat-purchase rate 33.33% (1 / 3)\n",
           "Churn rate (no purchase in 180 days) 33.33% (1 / 3)\n",
           "average per member (CLV proxy) 2000.00\n",
           "NPS -25.00 (4 responses: 1 promoters, 1 passives, 2 detractors)\n",
           "silver 1\n",
           "breakage rate 50.00% (65 / 130)\n",
           "2026-10 15 30\n",
           "2026-11 22 44\n",
           "zeta 20 1 5\n",
           "2026-04 0 0 40\n",
           "never 20 20\n",
           "debt owed -20 -20\n",
           "NPS 100.00 (1 responses",
       }) {
    EXPECT_TRUE(absl::StrContains(text, line)) << "missing \"" << line << "\" in\n" << text;
  }
}

// --- JSON helpers -------------------------------------------------------------

absl::StatusOr<google::protobuf::Value> ParseJson(const std::string& json) {
  google::protobuf::Value value;
  auto status = google::protobuf::util::JsonStringToMessage(json, &value);
  if (!status.ok()) return absl::InvalidArgumentError(status.ToString());
  return value;
}

// The value at a path like "programs.0.nps.score"; null if absent.
google::protobuf::Value At(const google::protobuf::Value& root, const std::string& path) {
  google::protobuf::Value v = root;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    int index;
    if (v.has_list_value() && absl::SimpleAtoi(part, &index) &&
        index < v.list_value().values_size()) {
      google::protobuf::Value next = v.list_value().values(index);
      v = next;
    } else if (v.has_struct_value() && v.struct_value().fields().count(std::string(part)) > 0) {
      google::protobuf::Value next = v.struct_value().fields().at(std::string(part));
      v = next;
    } else {
      return google::protobuf::Value();
    }
  }
  return v;
}

int64_t Int(const google::protobuf::Value& root, const std::string& path) {
  return static_cast<int64_t>(At(root, path).number_value());
}
std::string Str(const google::protobuf::Value& root, const std::string& path) {
  return At(root, path).string_value();
}

TEST_F(ReportTest, JsonHasTheFiguresInAStableOrder) {
  const std::string json = FormatReportJson(*report_);
  EXPECT_EQ(json, FormatReportJson(*report_));
  auto parsed = ParseJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << json;
  const auto& v = *parsed;
  EXPECT_EQ(Str(v, "as_of"), "2026-09-01T12:00:00Z");
  EXPECT_EQ(Int(v, "partitions"), 2);
  EXPECT_EQ(Str(v, "programs.0.program_id"), "bistro");
  EXPECT_EQ(Int(v, "programs.0.members"), 5);
  EXPECT_EQ(Int(v, "programs.0.active_members"), 1);
  EXPECT_EQ(Str(v, "programs.0.repeat_purchase_rate.percent"), "33.33");
  EXPECT_EQ(Int(v, "programs.0.churn_rate.numerator"), 1);
  EXPECT_EQ(Str(v, "programs.0.spend_per_member_minor"), "2000.00");
  EXPECT_EQ(Str(v, "programs.0.nps.score"), "-25.00");
  EXPECT_EQ(Str(v, "programs.0.tiers.1.tier_id"), "silver");
  EXPECT_EQ(Int(v, "programs.0.points.issued"), 130);
  EXPECT_EQ(Str(v, "programs.0.breakage_rate.percent"), "50.00");
  EXPECT_EQ(Int(v, "programs.0.liability.net_value_minor"), 74);  // 37 * 2
  EXPECT_EQ(Str(v, "programs.0.liability.by_expiry_month.1.month"), "2026-11");
  EXPECT_EQ(Str(v, "programs.0.partners.1.partner_id"), "zeta");
  EXPECT_EQ(Int(v, "programs.0.monthly.3.expired"), 40);
  EXPECT_EQ(Int(v, "programs.1.liability.debt_points"), 20);
  EXPECT_EQ(Int(v, "programs.1.no_partner.earned_points"), 100);
  // An undefined rate is null, not a number.
  KpiReport empty;
  empty.programs.emplace_back();
  auto none = ParseJson(FormatReportJson(empty));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(At(*none, "programs.0.churn_rate.percent").has_null_value());
  // Keys come in the documented order.
  EXPECT_LT(json.find("\"as_of\""), json.find("\"programs\""));
  EXPECT_LT(json.find("\"members\""), json.find("\"nps\""));
  EXPECT_LT(json.find("\"liability\""), json.find("\"monthly\""));
}

// Recomputes the figures that need no calendar from the stored member
// records and ledger entries, the way `loyaltyctl dump` and `history` show
// them: they must agree with the report whatever the apply path did.
// Long on purpose: one fold per figure, each a few lines, kept together so
// that the figures and their definitions (docs/report.md) read side by side.
void ExpectAgreesWithAFoldOfTheStore(const std::string& data_dir, const KpiReport& report) {
  struct Sums {
    int64_t members = 0, buyers = 0, repeat = 0, spend = 0, issued = 0, redeemed = 0;
    int64_t expired = 0, outstanding = 0, lots = 0, debt = 0, responses = 0, entries = 0;
    int64_t issued_entries = 0, redeemed_entries = 0, expired_entries = 0;
    std::map<std::string, int64_t> tiers, partner_points;
  };
  std::map<std::string, Sums> sums;
  auto partitions = ListPartitions(data_dir);
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  for (int32_t p : *partitions) {
    auto store = OpenPartitionReadOnly(PartitionDir(data_dir, p));
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)
                    ->ForEachMember([&](const loyalty::v1::MemberRecord& rec) {
                      const auto& st = rec.state();
                      Sums& s = sums[st.program_id()];
                      s.members++;
                      s.buyers += st.purchase_count() > 0;
                      s.repeat += st.purchase_count() > 1;
                      s.spend += st.spend_minor();
                      s.issued += st.lifetime_earned_points();
                      s.redeemed += st.redeemed_points();
                      s.expired += st.expired_points();
                      s.outstanding += st.available_points() + st.pending_points();
                      s.debt += st.debt_points();
                      s.responses += st.has_last_nps_score();
                      s.tiers[st.tier_id()]++;
                      for (const auto& lot : rec.lots()) s.lots += lot.remaining_points();
                      for (const auto& lot : rec.pending_lots()) s.lots += lot.remaining_points();
                      return absl::OkStatus();
                    })
                    .ok());
    ASSERT_TRUE((*store)
                    ->ForEachEntry([&](const loyalty::v1::LedgerEntry& e) {
                      Sums& s = sums[e.program_id()];
                      s.entries++;
                      using E = loyalty::v1::LedgerEntry;
                      if (e.type() == E::EARN || e.type() == E::ENGAGE || e.type() == E::BONUS) {
                        s.issued_entries += e.points();
                      }
                      if (e.type() == E::REDEEM) s.redeemed_entries -= e.points();
                      if (e.type() == E::EXPIRE) s.expired_entries -= e.points();
                      if (e.type() == E::EARN) s.partner_points[e.partner_id()] += e.points();
                      return absl::OkStatus();
                    })
                    .ok());
  }
  ASSERT_EQ(sums.size(), report.programs.size());
  for (const ProgramReport& r : report.programs) {
    SCOPED_TRACE(r.program_id);
    const Sums& s = sums[r.program_id];
    EXPECT_EQ(r.members, s.members);
    EXPECT_EQ(r.members_with_purchase, s.buyers);
    EXPECT_EQ(r.repeat_purchase.numerator, s.repeat);
    EXPECT_EQ(r.spend_minor, s.spend);
    EXPECT_EQ(r.issued_points, s.issued);
    EXPECT_EQ(r.redeemed_points, s.redeemed);
    EXPECT_EQ(r.expired_points, s.expired);
    EXPECT_EQ(r.outstanding_points, s.outstanding);
    EXPECT_EQ(r.lot_points, s.lots);
    EXPECT_EQ(r.debt_points, s.debt);
    EXPECT_EQ(r.lot_points - r.debt_points, s.outstanding);  // the liability is what is owed
    EXPECT_EQ(r.nps.responses, s.responses);
    EXPECT_EQ(r.ledger_entries, s.entries);
    int64_t issued = 0, redeemed = 0, expired = 0;
    for (const auto& m : r.monthly) {
      issued += m.issued_points;
      redeemed += m.redeemed_points;
      expired += m.expired_points;
    }
    EXPECT_EQ(issued, s.issued_entries);
    EXPECT_EQ(redeemed, s.redeemed_entries);
    EXPECT_EQ(expired, s.expired_entries);
    EXPECT_EQ(redeemed, s.redeemed);
    EXPECT_EQ(expired, s.expired);
    int64_t liability = 0;
    for (const auto& l : r.liability) liability += l.points;
    EXPECT_EQ(liability, s.lots);
    std::map<std::string, int64_t> partner_points;
    for (const auto& x : r.partners) partner_points[x.partner_id] = x.earned_points;
    if (r.no_partner.purchases > 0) partner_points[""] = r.no_partner.earned_points;
    EXPECT_EQ(partner_points, s.partner_points);
    std::map<std::string, int64_t> tiers;
    for (const auto& t : r.tiers) {
      if (t.members > 0) tiers[t.tier_id] = t.members;
    }
    if (r.tiers.empty()) tiers[""] = r.members;
    EXPECT_EQ(tiers, s.tiers);
  }
}

TEST_F(ReportTest, AgreesWithAFoldOfTheStoredMembers) {
  ExpectAgreesWithAFoldOfTheStore(*root_ + "/data", *report_);
}

// The same on a generated stream of every event kind in both test programs,
// duplicates, DLQ lines and ticks included.
TEST(ReportGeneratedTest, AgreesWithAFoldOfTheStore) {
  const uint64_t seed = testing::TestSeed(20261122);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::string root = testing::MakeTempDir("report-gen");
  ProgramSet programs = testing::WriteAndLoadTestPrograms(root);
  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = 6000;
  g.members = 300;
  g.tick_every = 500;
  testing::WriteLines(root + "/events.jsonl", testing::GenerateStream(g).lines);
  ReplayOptions o;
  o.data_dir = root + "/data";
  o.events_path = root + "/events.jsonl";
  auto stats = RunReplay(programs, o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  auto report = BuildReport(o.data_dir, programs, ReportOptions());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->programs.size(), 2u);
  EXPECT_GT(report->programs[0].members, 0);
  EXPECT_GT(report->programs[0].issued_points, 0);
  ExpectAgreesWithAFoldOfTheStore(o.data_dir, *report);
  // The same store gives the same bytes.
  auto again = BuildReport(o.data_dir, programs, ReportOptions());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(FormatReportJson(*again), FormatReportJson(*report));
  EXPECT_EQ(FormatReportText(*again), FormatReportText(*report));
  EXPECT_EQ(FormatReportChartHtml(*again), FormatReportChartHtml(*report));
  std::filesystem::remove_all(root);
}

TEST(ReportFormatTest, DecimalsTruncateTowardZero) {
  EXPECT_EQ(FormatDecimal(2, 3, 2), "0.66");
  EXPECT_EQ(FormatDecimal(-2, 3, 2), "-0.66");
  EXPECT_EQ(FormatDecimal(-1, 1000, 2), "0.00");
  EXPECT_EQ(FormatDecimal(7, 1, 0), "7");
  EXPECT_EQ(FormatDecimal(1, 0, 2), "n/a");
  EXPECT_EQ(FormatPercent({1, 8}), "12.50");
  EXPECT_EQ(FormatPercent({INT64_MAX, INT64_MAX}), "100.00");  // no overflow
  EXPECT_EQ(FormatPercent({0, 0}), "n/a");
  EXPECT_EQ(FormatNps({3, 1, 1, 1}), "0.00");
  EXPECT_EQ(FormatNps({0, 0, 0, 0}), "n/a");
}

TEST(ReportFormatTest, IdsAreEscapedInJsonAndHtml) {
  KpiReport report;
  ProgramReport p;
  p.program_id = "a\"b<c>&d";
  p.tiers.push_back({"t\\1", 2});
  p.partners.push_back({"<script>", 5, 1, 0});
  report.programs.push_back(p);
  auto parsed = ParseJson(FormatReportJson(report));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(Str(*parsed, "programs.0.program_id"), "a\"b<c>&d");
  EXPECT_EQ(Str(*parsed, "programs.0.tiers.0.tier_id"), "t\\1");
  const std::string html = FormatReportChartHtml(report);
  EXPECT_TRUE(absl::StrContains(html, "a&quot;b&lt;c&gt;&amp;d")) << html;
  EXPECT_FALSE(absl::StrContains(html, "<c>"));
  EXPECT_FALSE(absl::StrContains(html, "<script"));
  EXPECT_TRUE(absl::StrContains(html, "no data")) << html;  // no liability, no months
}

TEST(ReportErrorsTest, NamesWhatIsMissing) {
  ProgramSet none;
  auto missing = BuildReport("/nonexistent/report-data", none, ReportOptions());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "/nonexistent/report-data"));
  ReportOptions options;
  options.program_id = "nope";
  auto unknown = BuildReport("/nonexistent/report-data", none, options);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "\"nope\""));
}

// --- The binary ---------------------------------------------------------------

using ::loyalty::testing::CommandResult;
using ::loyalty::testing::Sh;

std::string Loyaltyctl() {
  const char* dir = std::getenv("LOYALTY_BINARY_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/cmd/loyaltyctl");
}

TEST_F(ReportTest, LoyaltyctlReportWritesJsonAndASelfContainedChart) {
  const std::string ctl =
      absl::StrCat(Loyaltyctl(), " --data-dir=", *root_, "/data --program=", *root_, "/programs ");
  const std::string chart = *root_ + "/chart.html";
  // stdout only: the chart's "written to" line goes to stderr.
  CommandResult json = Sh(absl::StrCat("(", ctl, "report --format=json --chart=", chart,
                                       " --as-of=2027-01-01T00:00:00Z 2>/dev/null)"));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  auto parsed = ParseJson(json.output);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << json.output;
  EXPECT_EQ(Str(*parsed, "as_of"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Str(*parsed, "programs.0.churn_rate.percent"), "66.66");  // 2 / 3
  EXPECT_EQ(Int(*parsed, "programs.0.liability.by_expiry_month.0.value_minor"), 30);
  EXPECT_EQ(Int(*parsed, "programs.1.partners.0.earned_points"), 70);

  std::ifstream in(chart);
  ASSERT_TRUE(in.good()) << chart << " not written";
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StartsWith(html, "<!DOCTYPE html>"));
  EXPECT_TRUE(absl::StrContains(html, "<svg"));
  EXPECT_TRUE(absl::StrContains(html, "Members per tier"));
  EXPECT_TRUE(absl::StrContains(html, "2026-11"));
  EXPECT_FALSE(absl::StrContains(html, "http")) << "the page must need nothing from the network";
  EXPECT_FALSE(absl::StrContains(html, "<script"));

  CommandResult text = Sh(ctl + "report --program-id=market");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(absl::StrContains(text.output, "== market (UTC; 1 point = 1 minor unit of USD) =="))
      << text.output;
  EXPECT_FALSE(absl::StrContains(text.output, "== bistro")) << text.output;

  CommandResult bad_format = Sh(ctl + "report --format=xml");
  EXPECT_EQ(bad_format.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad_format.output, "--format")) << bad_format.output;
  CommandResult bad_as_of = Sh(ctl + "report --as-of=yesterday");
  EXPECT_EQ(bad_as_of.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad_as_of.output, "--as-of")) << bad_as_of.output;
  CommandResult no_program = Sh(absl::StrCat(Loyaltyctl(), " --data-dir=", *root_, "/data report"));
  EXPECT_EQ(no_program.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(no_program.output, "--program")) << no_program.output;
  CommandResult unknown = Sh(ctl + "report --program-id=nope");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.output, "\"nope\"")) << unknown.output;
  CommandResult bad_chart = Sh(ctl + "report --chart=/nonexistent-dir/chart.html");
  EXPECT_EQ(bad_chart.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad_chart.output, "/nonexistent-dir/chart.html"))
      << bad_chart.output;
  CommandResult help = Sh(Loyaltyctl() + " --help");
  EXPECT_TRUE(absl::StrContains(help.output, "report")) << help.output;
}

}  // namespace
}  // namespace loyalty
