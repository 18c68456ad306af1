// Unit tests of the reference model itself, with expected values computed by
// hand from SPEC §6–§7, docs/semantics.md and the decisions of README.md (the
// arithmetic is in the comments). The model test compares the engine with this model; these tests
// make sure the model says what the spec says. The streams that the model
// test also replays through the engine (the tests named as the functions of
// edge_cases.h) are in edge_cases.cc, with the arithmetic of their lines.

#include "tests/model/reference_fold.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "loyalty/v1/program.pb.h"
#include "tests/model/edge_cases.h"

namespace loyalty::model {
namespace {

using ::loyalty::v1::Program;

Program ParseProgram(const std::string& text) {
  Program program;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &program)) << text;
  return program;
}

int64_t Ns(const std::string& rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << ": " << error;
  return absl::ToUnixNanos(t);
}

std::vector<std::string> Prefix(const std::vector<std::string>& lines, size_t n) {
  return std::vector<std::string>(lines.begin(), lines.begin() + n);
}

// SPEC §6: available + pending = earned + adjusted − redeemed − expired −
// clawed back.
void ExpectInvariant(const RefMember& m) {
  EXPECT_EQ(m.available_points + m.pending_points, m.lifetime_earned_points + m.adjusted_points -
                                                       m.redeemed_points - m.expired_points -
                                                       m.clawed_back_points)
      << m.program_id << "/" << m.member_id;
}

const RefMember& Member(const RefResult& r, const std::string& member_id,
                        const std::string& program_id = "p") {
  static const RefMember kMissing;
  auto it = r.members.find({program_id, member_id});
  EXPECT_NE(it, r.members.end()) << member_id;
  return it == r.members.end() ? kMissing : it->second;
}

// The outcomes of `member_id` ("" for the ticks' own outcomes) in order, as
// Describe writes them without the leading "program/member ".
std::vector<std::string> OutcomesOf(const RefResult& r, const std::string& member_id) {
  std::vector<std::string> out;
  for (const RefOutcome& o : r.outcomes) {
    if (o.member_id != member_id) continue;
    const std::string text = Describe(o);
    out.push_back(text.substr(text.find(' ') + 1));
  }
  return out;
}

using Lines = std::vector<std::string>;
using Counts = std::map<std::string, int64_t>;

// --- Lots: expiry and release days, shared lots, ids, debt -----------------
// The streams and their arithmetic are in edge_cases.cc.

TEST(ReferenceFoldTest, LotsSpendByExpiryAndExpireAtTheNextLocalDayStart) {
  const EdgeCase c = LotsSpendByExpiryAndExpireAtTheNextLocalDayStart();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    const RefResult r = Fold(Prefix(c.lines, 3), programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(m.pending_points, 20);
    EXPECT_EQ(m.available_points, 10);
    ExpectInvariant(m);
  }
  {
    // Through t1 (02-05T12:00): lot 3 has not expired yet.
    const RefResult r = Fold(Prefix(c.lines, 5), programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(m.available_points, 23);
    EXPECT_EQ(m.pending_points, 0);
    EXPECT_EQ(m.redeemed_points, 7);
    EXPECT_EQ(m.expired_points, 0);
    ExpectInvariant(m);
  }
  {
    const RefResult r = Fold(Prefix(c.lines, 6), programs);
    const RefMember& m = Member(r, "m");
    // Creation-order spending would have taken 7 from lot 1 and expired 10.
    EXPECT_EQ(m.available_points, 20);
    EXPECT_EQ(m.lifetime_earned_points, 30);
    EXPECT_EQ(m.expired_points, 3);
    ExpectInvariant(m);
  }
  const RefResult r = Fold(c.lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.available_points, 0);
  EXPECT_EQ(m.expired_points, 23);  // 3 + 20
  ExpectInvariant(m);
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 7}, {"APPLIED:MATURED", 2}}));
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"e1 APPLIED points 20 EARN#1+20@2024-01-01T00:00:00Z",
                   "e2 APPLIED points 5 ENGAGE#2+5@2024-01-05T00:00:00Z",
                   "e3 APPLIED points 5 ENGAGE#3+5@2024-01-06T00:00:00Z",
                   "e4 APPLIED points -7 RELEASE#1+0@2024-01-12T00:00:00Z",
                   "t2 APPLIED:MATURED points -3 EXPIRE#3-3@2024-02-06T00:00:00Z",
                   "t3 APPLIED:MATURED points -20 EXPIRE#1-20@2024-02-12T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, ""), (Lines{"t1 APPLIED points 0", "t2 APPLIED points 0",
                                      "t3 APPLIED points 0"}));
}

TEST(ReferenceFoldTest, PendingPointsFollowTickTimeAndStaleTicksChangeNothing) {
  const EdgeCase c = PendingPointsFollowTickTimeAndStaleTicksChangeNothing();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    const RefResult r = Fold(Prefix(c.lines, 5), programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(m.pending_points, 5);
    EXPECT_EQ(m.available_points, 0);
    // Purchase dates follow occurred_at, not t.
    EXPECT_EQ(m.first_purchase_at_ns, Ns("2024-03-01T00:00:00Z"));
    EXPECT_EQ(r.outcome_reasons.at("IGNORED:STALE_TICK"), 2);
  }
  const RefResult r = Fold(c.lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.pending_points, 0);
  EXPECT_EQ(m.available_points, 5);
  ExpectInvariant(m);
  EXPECT_EQ(r.outcome_reasons,
            (Counts{{"APPLIED", 4}, {"IGNORED:STALE_TICK", 2}, {"APPLIED:MATURED", 1}}));
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"e1 APPLIED points 5 EARN#1+5@2024-03-10T00:00:00Z",
                   "t5 APPLIED:MATURED points 0 RELEASE#1+0@2024-03-13T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, ""),
            (Lines{"t1 APPLIED points 0", "t2 APPLIED points 0", "t3 IGNORED:STALE_TICK points 0",
                   "t4 IGNORED:STALE_TICK points 0", "t5 APPLIED points 0"}));
}

TEST(ReferenceFoldTest, RoundToMonthEndUsesLocalMonthAcrossDst) {
  const EdgeCase c = RoundToMonthEndUsesLocalMonthAcrossDst();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    const RefResult r = Fold(Prefix(c.lines, 2), programs);
    EXPECT_EQ(Member(r, "m").available_points, 10);
    EXPECT_EQ(Member(r, "m").expired_points, 0);
  }
  const RefResult r = Fold(c.lines, programs);
  EXPECT_EQ(Member(r, "m").available_points, 0);
  EXPECT_EQ(Member(r, "m").expired_points, 10);
  ExpectInvariant(Member(r, "m"));
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"e1 APPLIED points 10 ENGAGE#1+10@2024-01-31T23:30:00Z",
                   "t2 APPLIED:MATURED points -10 EXPIRE#1-10@2024-03-31T22:00:00Z"}));
}

TEST(ReferenceFoldTest, FixedDaysExpireAtLocalDayStartsAcrossDst) {
  const EdgeCase c = FixedDaysExpireAtLocalDayStartsAcrossDst();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    // Through t2 (04-02T21:59:59Z): nothing has expired.
    const RefResult r = Fold(Prefix(c.lines, 5), programs);
    EXPECT_EQ(Member(r, "b").available_points, 20);
    EXPECT_EQ(Member(r, "b").expired_points, 0);
  }
  {
    // Through t4 (04-04T21:59:59Z): b's lot has expired, a's not.
    const RefResult r = Fold(Prefix(c.lines, 7), programs);
    EXPECT_EQ(Member(r, "b").expired_points, 20);
    EXPECT_EQ(Member(r, "a").available_points, 10);
  }
  const RefResult r = Fold(c.lines, programs);
  for (const auto& [member, expired] :
       std::vector<std::pair<std::string, int64_t>>{{"a", 10}, {"b", 20}, {"c", 10}}) {
    EXPECT_EQ(Member(r, member).expired_points, expired) << member;
    EXPECT_EQ(Member(r, member).available_points, 0) << member;
    ExpectInvariant(Member(r, member));
  }
  EXPECT_EQ(OutcomesOf(r, "a"),
            (Lines{"a1 APPLIED points 10 ENGAGE#1+10@2024-03-25T12:00:00Z",
                   "t5 APPLIED:MATURED points -10 EXPIRE#1-10@2024-04-04T22:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "b"),
            (Lines{"b1 APPLIED points 10 ENGAGE#1+10@2024-03-22T22:30:00Z",
                   "b2 APPLIED points 10 ENGAGE#1+10@2024-03-23T10:00:00Z",
                   "t3 APPLIED:MATURED points -20 EXPIRE#1-20@2024-04-02T22:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "c"),
            (Lines{"c1 APPLIED points 10 ENGAGE#1+10@2024-10-20T22:30:00Z",
                   "t7 APPLIED:MATURED points -10 EXPIRE#1-10@2024-10-30T23:00:00Z"}));
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 11}, {"APPLIED:MATURED", 3}}));
}

TEST(ReferenceFoldTest, PendingReleasedAtTheFirstInstantOfTheNextLocalDay) {
  const EdgeCase c = PendingReleasedAtTheFirstInstantOfTheNextLocalDay();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    // Through t3 (09-08T03:59:59Z): n released, m still pending.
    const RefResult r = Fold(Prefix(c.lines, 5), programs);
    EXPECT_EQ(Member(r, "n").available_points, 20);
    EXPECT_EQ(Member(r, "n").pending_points, 0);
    EXPECT_EQ(Member(r, "m").pending_points, 10);
  }
  const RefResult r = Fold(c.lines, programs);
  EXPECT_EQ(Member(r, "n").expired_points, 20);
  EXPECT_EQ(Member(r, "m").expired_points, 10);
  EXPECT_EQ(OutcomesOf(r, "n"),
            (Lines{"n1 APPLIED points 20 EARN#1+20@2024-09-05T03:30:00Z",
                   "t2 APPLIED:MATURED points 0 RELEASE#1+0@2024-09-06T04:00:00Z",
                   "t4 APPLIED:MATURED points -20 EXPIRE#1-20@2024-09-08T04:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"m1 APPLIED points 10 EARN#1+10@2024-09-06T15:00:00Z",
                   "t4 APPLIED:MATURED points 0 RELEASE#1+0@2024-09-08T04:00:00Z",
                   "t6 APPLIED:MATURED points -10 EXPIRE#1-10@2024-09-10T03:00:00Z"}));
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 8}, {"APPLIED:MATURED", 4}}));
}

TEST(ReferenceFoldTest, PurchasesOfOneDayShareOneLot) {
  const EdgeCase c = PurchasesOfOneDayShareOneLot();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    const RefResult r = Fold(Prefix(c.lines, 5), programs);
    EXPECT_EQ(Member(r, "m").pending_points, 5);
    EXPECT_EQ(Member(r, "m").available_points, 47);
  }
  {
    const RefResult r = Fold(Prefix(c.lines, 6), programs);
    EXPECT_EQ(Member(r, "m").pending_points, 0);
    EXPECT_EQ(Member(r, "m").available_points, 52);
  }
  const RefResult r = Fold(c.lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.available_points, 0);
  EXPECT_EQ(m.expired_points, 52);
  EXPECT_EQ(m.lifetime_earned_points, 45);
  EXPECT_EQ(m.adjusted_points, 7);
  ExpectInvariant(m);
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"p1 APPLIED points 10 EARN#1+10@2024-01-10T08:00:00Z",
                   "p2 APPLIED points 20 EARN#1+20@2024-01-10T20:00:00Z",
                   "p3 APPLIED points 5 EARN#2+5@2024-01-11T01:00:00Z",
                   "e4 APPLIED points 10 RELEASE#1+0@2024-01-12T00:00:00Z "
                   "ENGAGE#1+10@2024-01-12T10:00:00Z",
                   "e5 APPLIED points 7 ADJUST#1+7@2024-01-12T11:00:00Z",
                   "t1 APPLIED:MATURED points 0 RELEASE#2+0@2024-01-13T00:00:00Z",
                   "t2 APPLIED:MATURED points -47 EXPIRE#1-47@2024-02-12T00:00:00Z",
                   "t3 APPLIED:MATURED points -5 EXPIRE#2-5@2024-02-13T00:00:00Z"}));
}

// Long on purpose: a member's ledger written out entry by entry, the
// expected lines beside the events that make them.
TEST(ReferenceFoldTest, RefundsClawBackFromThePurchasesLotFirst) {
  const EdgeCase c = RefundsClawBackFromThePurchasesLotFirst();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    // Through a4: 50 from the pending lot.
    const RefResult r = Fold(Prefix(c.lines, 5), programs);
    const RefMember& a = Member(r, "a");
    EXPECT_EQ(a.pending_points, 100);
    EXPECT_EQ(a.available_points, 20);
    EXPECT_EQ(a.clawed_back_points, 50);
    EXPECT_EQ(a.debt_points, 0);
    ExpectInvariant(a);
  }
  {
    // Through t1: a's released 100 merged into lot 3.
    const RefResult r = Fold(Prefix(c.lines, 11), programs);
    EXPECT_EQ(Member(r, "a").available_points, 120);
    EXPECT_EQ(Member(r, "a").pending_points, 0);
    EXPECT_EQ(Member(r, "b").available_points, 10);
    EXPECT_EQ(Member(r, "c").available_points, 30);
  }
  {
    // Through t2: lot 1 expired with its 10 (the refund a5 took from lot 3).
    const RefResult r = Fold(Prefix(c.lines, 16), programs);
    EXPECT_EQ(Member(r, "a").expired_points, 10);
    EXPECT_EQ(Member(r, "a").available_points, 60);
  }
  const RefResult r = Fold(c.lines, programs);
  const RefMember& a = Member(r, "a");
  EXPECT_EQ(a.lifetime_earned_points, 170);
  EXPECT_EQ(a.clawed_back_points, 100);
  EXPECT_EQ(a.expired_points, 70);
  EXPECT_EQ(a.available_points, 0);
  EXPECT_EQ(a.purchase_count, 1);  // B refunded in full
  EXPECT_EQ(a.spend_minor, 5000);  // 15000 − 5000 − 5000
  ExpectInvariant(a);
  const RefMember& b = Member(r, "b");
  EXPECT_EQ(b.lifetime_earned_points, 30);
  EXPECT_EQ(b.clawed_back_points, 20);
  EXPECT_EQ(b.expired_points, 10);
  EXPECT_EQ(b.available_points, 0);
  EXPECT_EQ(b.purchase_count, 1);
  ExpectInvariant(b);
  const RefMember& cm = Member(r, "c");
  EXPECT_EQ(cm.lifetime_earned_points, 40);
  EXPECT_EQ(cm.redeemed_points, 30);
  EXPECT_EQ(cm.clawed_back_points, 10);
  EXPECT_EQ(cm.available_points, 0);
  EXPECT_EQ(cm.debt_points, 0);
  ExpectInvariant(cm);
  EXPECT_EQ(r.rule_hits.at("refund_lot:pending"), 2);  // a4, b2
  EXPECT_EQ(r.rule_hits.at("refund_lot:merged"), 1);   // a5
  EXPECT_EQ(r.rule_hits.at("refund_lot:none"), 1);     // c4
  EXPECT_EQ(r.rule_hits.count("refund_lot:available"), 0);
  EXPECT_EQ(r.rule_hits.at("release:merged"), 2);   // a, c
  EXPECT_EQ(r.rule_hits.at("release:kept_id"), 1);  // b
  EXPECT_EQ(OutcomesOf(r, "a"),
            (Lines{"a0 APPLIED points 10 ENGAGE#1+10@2023-12-05T10:00:00Z",
                   "a1 APPLIED points 100 EARN#2+100@2024-01-10T10:00:00Z",
                   "a2 APPLIED points 50 EARN#2+50@2024-01-10T12:00:00Z",
                   "a3 APPLIED points 10 ENGAGE#3+10@2024-01-10T14:00:00Z",
                   "a4 APPLIED points -50",
                   "t1 APPLIED:MATURED points 0 RELEASE#2+0@2024-01-13T00:00:00Z",
                   "a5 APPLIED points -50",
                   "t2 APPLIED:MATURED points -10 EXPIRE#1-10@2024-02-01T00:00:00Z",
                   "t3 APPLIED:MATURED points -60 EXPIRE#3-60@2024-03-01T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "b"),
            (Lines{"b1 APPLIED points 20 EARN#1+20@2024-01-10T10:00:00Z",
                   "b2 APPLIED points -20",
                   "b3 APPLIED points 10 EARN#2+10@2024-01-10T12:00:00Z",
                   "t1 APPLIED:MATURED points 0 RELEASE#2+0@2024-01-13T00:00:00Z",
                   "t3 APPLIED:MATURED points -10 EXPIRE#2-10@2024-03-01T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "c"),
            (Lines{"c0 APPLIED points 10 ENGAGE#1+10@2024-01-10T10:00:00Z",
                   "c1 APPLIED points 20 EARN#2+20@2024-01-10T11:00:00Z",
                   "t1 APPLIED:MATURED points 0 RELEASE#2+0@2024-01-13T00:00:00Z",
                   "c2 APPLIED points -30",
                   "c3 APPLIED points 10 ENGAGE#3+10@2024-01-14T01:00:00Z",
                   "c4 APPLIED points -10"}));
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 17}, {"APPLIED:MATURED", 6}}));
}

TEST(ReferenceFoldTest, DebtIsPaidByCreditsAndReleases) {
  const EdgeCase c = DebtIsPaidByCreditsAndReleases();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  {
    const RefResult r = Fold(Prefix(c.lines, 4), programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(m.debt_points, 5);
    EXPECT_EQ(m.available_points, -5);
    EXPECT_EQ(m.pending_points, 30);
    EXPECT_EQ(m.adjusted_points, -25);
    EXPECT_EQ(m.lifetime_earned_points, 50);
    ExpectInvariant(m);
  }
  {
    // Through t1: nothing released yet.
    const RefResult r = Fold(Prefix(c.lines, 7), programs);
    EXPECT_EQ(Member(r, "m").pending_points, 30);
    EXPECT_EQ(Member(r, "n").pending_points, 20);
    EXPECT_EQ(Member(r, "n").debt_points, 50);
  }
  {
    const RefResult r = Fold(Prefix(c.lines, 8), programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(m.debt_points, 0);
    EXPECT_EQ(m.available_points, 25);
    EXPECT_EQ(m.pending_points, 0);
    ExpectInvariant(m);  // 25 = 50 − 25
    const RefMember& n = Member(r, "n");
    EXPECT_EQ(n.debt_points, 30);
    EXPECT_EQ(n.available_points, -30);
    EXPECT_EQ(n.pending_points, 0);
    ExpectInvariant(n);  // −30 = 20 − 50
  }
  const RefResult r = Fold(c.lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.available_points, 35);
  EXPECT_EQ(m.lifetime_earned_points, 60);
  ExpectInvariant(m);
  const RefMember& n = Member(r, "n");
  EXPECT_EQ(n.debt_points, 40);
  EXPECT_EQ(n.available_points, -40);
  EXPECT_EQ(n.clawed_back_points, 20);  // all of it debt
  EXPECT_EQ(n.purchase_count, 0);
  ExpectInvariant(n);  // −40 = 30 − 50 − 20
  EXPECT_EQ(r.rule_hits.at("credit:all_to_debt"), 3);  // m2, m4, n3
  EXPECT_EQ(r.rule_hits.at("release:paid_debt"), 1);   // m
  EXPECT_EQ(r.rule_hits.at("release:all_to_debt"), 1);  // n
  EXPECT_EQ(r.rule_hits.at("refund_lot:none"), 1);      // n4
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"m1 APPLIED points -25",
                   "m2 APPLIED points 10 ENGAGE#1+10@2024-05-01T01:00:00Z",
                   "m3 APPLIED points 30 EARN#2+30@2024-05-01T02:00:00Z",
                   "m4 APPLIED points 10 ENGAGE#3+10@2024-05-01T03:00:00Z",
                   "t2 APPLIED:MATURED points 0 RELEASE#2+0@2024-05-04T00:00:00Z",
                   "m5 APPLIED points 10 ENGAGE#2+10@2024-05-04T01:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "n"),
            (Lines{"n1 APPLIED points -50",
                   "n2 APPLIED points 20 EARN#1+20@2024-05-01T01:00:00Z",
                   "t2 APPLIED:MATURED points 0 RELEASE#1+0@2024-05-04T00:00:00Z",
                   "n3 APPLIED points 10 ENGAGE#2+10@2024-05-04T01:00:00Z",
                   "n4 APPLIED points -20"}));
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 11}, {"APPLIED:MATURED", 2}}));
}

TEST(ReferenceFoldTest, SameInstantLotMaturitiesApplyByLotId) {
  const EdgeCase c = SameInstantLotMaturitiesApplyByLotId();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const RefResult r = Fold(c.lines, programs);
  EXPECT_EQ(Member(r, "x").available_points, 10);
  EXPECT_EQ(Member(r, "x").expired_points, 10);
  EXPECT_EQ(Member(r, "y").available_points, 20);
  EXPECT_EQ(Member(r, "y").expired_points, 10);
  EXPECT_EQ(OutcomesOf(r, "x"),
            (Lines{"x1 APPLIED points 10 EARN#1+10@2024-01-20T12:00:00Z",
                   "x2 APPLIED points 10 ENGAGE#2+10@2024-01-25T12:00:00Z",
                   "t1 APPLIED:MATURED points -10 RELEASE#1+0@2024-03-01T00:00:00Z "
                   "EXPIRE#2-10@2024-03-01T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "y"),
            (Lines{"y1 APPLIED points 10 ENGAGE#1+10@2024-01-05T12:00:00Z",
                   "y2 APPLIED points 20 EARN#2+20@2024-01-20T12:00:00Z",
                   "t1 APPLIED:MATURED points -10 EXPIRE#1-10@2024-03-01T00:00:00Z "
                   "RELEASE#2+0@2024-03-01T00:00:00Z"}));
}

TEST(ReferenceFoldTest, TicksReportMaturedMembersAndTierChangesRideInOutcomes) {
  const EdgeCase c = TicksReportMaturedMembersAndTierChangesRideInOutcomes();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const RefResult r = Fold(c.lines, programs);
  const std::string kSilver = "[free_refill]";
  EXPECT_EQ(OutcomesOf(r, "down"),
            (Lines{"down1 APPLIED points 10 tier member>silver:QUALIFIED@2023-12-16T00:00:00Z" +
                       kSilver + " EARN#1+10@2023-12-16T00:00:00Z",
                   "t0 APPLIED:MATURED points 0 RELEASE#1+0@2023-12-18T00:00:00Z",
                   "t1 APPLIED:MATURED points 0 tier silver>member:GRACE_ENDED@"
                   "2024-02-14T00:00:00Z[]"}));
  EXPECT_EQ(OutcomesOf(r, "late"),
            (Lines{"late1 APPLIED points 10 tier member>silver:QUALIFIED@2023-12-20T00:00:00Z" +
                       kSilver + " EARN#1+10@2023-12-20T00:00:00Z",
                   "t0 APPLIED:MATURED points 0 RELEASE#1+0@2023-12-22T00:00:00Z",
                   "late2 APPLIED points 1 tier silver>member:GRACE_ENDED@2024-02-18T00:00:00Z[]"
                   " ADJUST#1+1@2024-03-20T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "mix"),
            (Lines{"mix1 APPLIED points 10 tier member>silver:QUALIFIED@2023-12-20T00:00:00Z" +
                       kSilver + " EARN#1+10@2023-12-20T00:00:00Z",
                   "t0 APPLIED:MATURED points 0 RELEASE#1+0@2023-12-22T00:00:00Z",
                   "mix2 APPLIED points 10 tier silver>member:GRACE_ENDED@2024-02-18T00:00:00Z[]"
                   " tier member>silver:QUALIFIED@2024-03-20T00:00:00Z" +
                       kSilver + " EARN#2+10@2024-03-20T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "ps"),
            (Lines{"ps0 APPLIED points 0 tier member>silver:PLAN_STARTED@2024-01-14T00:00:00Z" +
                       kSilver,
                   "ps1 APPLIED points 10 EARN#1+10@2024-01-20T00:00:00Z",
                   "ps2 APPLIED points 10 tier silver>gold:QUALIFIED@2024-01-20T01:00:00Z"
                   "[lounge,priority] EARN#1+10@2024-01-20T01:00:00Z",
                   "t0 APPLIED:MATURED points 0 RELEASE#1+0@2024-01-22T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "pe"),
            (Lines{"pe1 APPLIED points 0 tier member>gold:PLAN_STARTED@2024-01-15T00:00:00Z"
                   "[lounge,priority]",
                   "t1 APPLIED:MATURED points 0 tier gold>member:PLAN_ENDED@"
                   "2024-02-15T00:00:00Z[]"}));
  EXPECT_EQ(OutcomesOf(r, "rn"),
            (Lines{"rn1 APPLIED points 10 tier member>silver:QUALIFIED@2024-01-16T00:00:00Z" +
                       kSilver + " EARN#1+10@2024-01-16T00:00:00Z",
                   "t0 APPLIED:MATURED points 0 RELEASE#1+0@2024-01-18T00:00:00Z",
                   "t1 APPLIED:MATURED points 0"}));
  EXPECT_EQ(OutcomesOf(r, "idle"),
            (Lines{"idle1 APPLIED points 5 ADJUST#1+5@2024-02-10T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, "rel"),
            (Lines{"rel1 APPLIED points 10 tier member>silver:QUALIFIED@2024-02-13T12:00:00Z" +
                       kSilver + " EARN#1+10@2024-02-13T12:00:00Z",
                   "t1 APPLIED:MATURED points 0 RELEASE#1+0@2024-02-15T00:00:00Z"}));
  EXPECT_EQ(OutcomesOf(r, ""), (Lines{"t0 APPLIED points 0", "t1 APPLIED points 0"}));
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 14}, {"APPLIED:MATURED", 9}}));
  EXPECT_EQ(r.tier_changes, (Counts{{"QUALIFIED", 7},
                                    {"GRACE_ENDED", 3},
                                    {"PLAN_STARTED", 2},
                                    {"PLAN_ENDED", 1}}));
  EXPECT_EQ(Member(r, "down").tier_id, "member");
  EXPECT_EQ(Member(r, "down").tier_held_until_ns, std::nullopt);
  EXPECT_EQ(Member(r, "mix").tier_id, "silver");
  EXPECT_EQ(Member(r, "mix").tier_held_until_ns, Ns("2024-04-19T00:00:00Z"));
  EXPECT_EQ(Member(r, "ps").tier_id, "gold");
  EXPECT_EQ(Member(r, "ps").tier_held_until_ns, Ns("2024-02-19T01:00:00Z"));
  EXPECT_EQ(Member(r, "ps").vip_until_ns, Ns("2024-02-14T00:00:00Z"));
  EXPECT_EQ(Member(r, "pe").tier_id, "member");
  EXPECT_EQ(Member(r, "rn").tier_held_until_ns, Ns("2024-03-16T00:00:00Z"));
  EXPECT_EQ(Member(r, "rel").available_points, 10);
}

// --- Purchase earn ---------------------------------------------------------

TEST(ReferenceFoldTest, PurchaseEarnStagedFloorsAndStats) {
  const std::vector<Program> programs = {ParseProgram(R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    category_multipliers { category: "coffee" multiplier_bp: 20000 }
    category_multipliers { category: "gift_card" multiplier_bp: 0 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 12500 }
    tiers { tier_id: "gold" threshold: 10 earn_multiplier_bp: 20000 }
    first_purchase_reward_id: "welcome"
    rewards { reward_id: "welcome" cost_points: 0 }
  )pb")};
  const std::string items_purchase =
      R"("purchase":{"order_id":"A","amount_minor":"6045","currency":"EUR",)"
      R"("items":[)"
      R"({"sku":"c","category":"coffee","quantity":1,"amount_minor":"345"},)"
      R"({"sku":"p","category":"pastry","quantity":2,"amount_minor":"700"},)"
      R"({"sku":"g","category":"gift_card","quantity":1,)"
      R"("amount_minor":"5000"}]})";
  const std::vector<std::string> lines = {
      // Σ amount × bp = 345×20000 + 700×10000 + 5000×0 = 13,900,000;
      // base = floor(13,900,000 × 1 / (100 × 10000)) = floor(13.9) = 13;
      // first tier: floor(13 × 12500 / 10000) = floor(16.25) = 16.
      // (Unstaged, 13.9 × 1.25 = 17.375 would give 17.)
      Ev("e1", "m", "2024-06-10T12:00:00Z", items_purchase),
      // No items: one item of 999 in category "" (10000):
      // base = floor(9.99) = 9; floor(9 × 1.25) = floor(11.25) = 11.
      // Occurred before e1: first_purchase_at moves back, t stays e1's.
      Ev("e2", "m", "2024-06-01T08:00:00Z", Purchase("B", 999)),
  };
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.available_points, 27);  // 16 + 11
  EXPECT_EQ(m.lifetime_earned_points, 27);
  EXPECT_EQ(m.purchase_count, 2);
  EXPECT_EQ(m.spend_minor, 7044);  // 6045 + 999
  EXPECT_EQ(m.first_purchase_at_ns, Ns("2024-06-01T08:00:00Z"));
  EXPECT_EQ(m.last_purchase_at_ns, Ns("2024-06-10T12:00:00Z"));
  EXPECT_EQ(m.tier_id, "member");  // tiers are not evaluated yet
  EXPECT_EQ(m.rewards_issued, (std::map<std::string, int64_t>{{"welcome", 1}}));
  ExpectInvariant(m);
}

// --- Refunds, debt, write-off ----------------------------------------------

constexpr char kDebtProgram[] = R"pb(
  program_id: "p"
  currency: "EUR"
  earn { points: 1 per_minor: 100 }
  tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
  engagement_rules { action: "like" points: 5 }
  first_purchase_reward_id: "welcome"
  rewards { reward_id: "welcome" cost_points: 0 }
)pb";

std::vector<std::string> ClawbackLines() {
  return {
      // Nothing expires and nothing is pending: every point goes into the
      // one never-expiring available lot, lot 1: 100, then 150.
      Ev("e1", "m", "2024-01-01T10:00:00Z", Purchase("A", 10000)),
      Ev("e2", "m", "2024-01-01T11:00:00Z", Purchase("B", 5000)),
      // Lot 1: 150 -> 70.
      Ev("e3", "m", "2024-01-01T12:00:00Z", RedeemPoints(80)),
      // Full refund: clawback floor(100 × 10000 / 10000) − 0 = 100. A's lot,
      // lot 1, gives its 70 (B's points with them: the lot is shared); no
      // other lot; the other 30 are debt (or written off). Lot 1 is gone.
      Ev("e4", "m", "2024-01-01T13:00:00Z", Refund("A", 10000)),
  };
}

TEST(ReferenceFoldTest, ClawbackLargerThanOrdersRemainingLotBecomesDebt) {
  const std::vector<Program> programs = {ParseProgram(kDebtProgram)};
  std::vector<std::string> lines = ClawbackLines();
  {
    const RefResult r = Fold(lines, programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(m.clawed_back_points, 100);
    EXPECT_EQ(m.debt_points, 30);
    EXPECT_EQ(m.available_points, -30);  // 0 in lots − 30 debt
    EXPECT_EQ(m.purchase_count, 1);      // the full refund removes A
    EXPECT_EQ(m.spend_minor, 5000);      // 15000 − 10000
    ExpectInvariant(m);                  // −30 = 150 − 80 − 100
  }
  // Debt paid back by new points.
  lines.push_back(Ev("e5", "m", "2024-01-02T10:00:00Z", RedeemPoints(1)));
  // 5 points into a new lot, 2 (lot 1 is gone); they pay debt first, all of
  // them: debt 30 -> 25, and lot 2 is gone at once.
  lines.push_back(Ev("e6", "m", "2024-01-02T11:00:00Z", Engage("like")));
  {
    const RefResult r = Fold(lines, programs);
    const RefMember& m = Member(r, "m");
    EXPECT_EQ(r.outcome_reasons.at("REJECTED:INSUFFICIENT_POINTS"), 1);
    EXPECT_EQ(m.debt_points, 25);
    EXPECT_EQ(m.available_points, -25);
    ExpectInvariant(m);
  }
  // 4000 -> 40 points into a new lot, 3; 25 pay the debt, the lot keeps 15.
  lines.push_back(Ev("e7", "m", "2024-01-02T12:00:00Z", Purchase("C", 4000)));
  // Spend 15: only lot 3 holds points, so any leftover debt would show.
  lines.push_back(Ev("e8", "m", "2024-01-02T13:00:00Z", RedeemPoints(15)));
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(OutcomesOf(r, "m"),
            (Lines{"e1 APPLIED points 100 EARN#1+100@2024-01-01T10:00:00Z"
                   " issued FIRST_PURCHASE::welcomex1",
                   "e2 APPLIED points 50 EARN#1+50@2024-01-01T11:00:00Z",
                   "e3 APPLIED points -80", "e4 APPLIED points -100",
                   "e5 REJECTED:INSUFFICIENT_POINTS points 0",
                   "e6 APPLIED points 5 ENGAGE#2+5@2024-01-02T11:00:00Z",
                   "e7 APPLIED points 40 EARN#3+40@2024-01-02T12:00:00Z",
                   "e8 APPLIED points -15"}));
  EXPECT_EQ(m.debt_points, 0);
  EXPECT_EQ(m.available_points, 0);
  EXPECT_EQ(m.lifetime_earned_points, 195);  // 100 + 50 + 5 + 40
  EXPECT_EQ(m.redeemed_points, 95);          // 80 + 15
  // A refund does not make C "first" again.
  EXPECT_EQ(m.rewards_issued.at("welcome"), 1);
  EXPECT_EQ(m.purchase_count, 2);  // B, C
  ExpectInvariant(m);              // 0 = 195 − 95 − 100
}

TEST(ReferenceFoldTest, ClawbackShortfallWrittenOffWithoutNegativeBalance) {
  const std::vector<Program> programs = {
      ParseProgram(absl::StrCat(kDebtProgram, "allow_negative_balance: false"))};
  std::vector<std::string> lines = ClawbackLines();
  // A negative adjustment with nothing to take: all written off.
  lines.push_back(Ev("e5", "m", "2024-01-02T10:00:00Z", Adjust(-10, "fix")));
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.clawed_back_points, 70);  // lot 1's 70 taken; 30 written off
  EXPECT_EQ(m.debt_points, 0);
  EXPECT_EQ(m.available_points, 0);
  EXPECT_EQ(m.adjusted_points, 0);  // nothing taken
  ExpectInvariant(m);               // 0 = 150 − 80 − 70
}

TEST(ReferenceFoldTest, PartialRefundsClawBackByCumulativeFloors) {
  const std::vector<Program> programs = {ParseProgram(kDebtProgram)};
  const std::vector<std::string> lines = {
      Ev("e1", "m", "2024-01-01T10:00:00Z", Purchase("A", 10000)),  // P = 100
      // r 0 -> 3333: floor(100×3333/10000) − 0 = 33.
      Ev("e2", "m", "2024-01-01T11:00:00Z", Refund("A", 3333)),
      // r 3333 -> 6666: 66 − 33 = 33.
      Ev("e3", "m", "2024-01-01T12:00:00Z", Refund("A", 3333)),
      // r 6666 -> min(11666, 10000) = 10000: 100 − 66 = 34.
      Ev("e4", "m", "2024-01-01T13:00:00Z", Refund("A", 5000)),
      Ev("e5", "m", "2024-01-01T14:00:00Z", Refund("A", 1)),
      Ev("e6", "m", "2024-01-01T15:00:00Z", Refund("Z", 1)),
  };
  {
    const RefResult r = Fold(Prefix(lines, 2), programs);
    EXPECT_EQ(Member(r, "m").clawed_back_points, 33);
    EXPECT_EQ(Member(r, "m").available_points, 67);
    EXPECT_EQ(Member(r, "m").spend_minor, 6667);
    EXPECT_EQ(Member(r, "m").purchase_count, 1);
  }
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.clawed_back_points, 100);  // 33 + 33 + 34
  EXPECT_EQ(m.available_points, 0);
  EXPECT_EQ(m.spend_minor, 0);
  EXPECT_EQ(m.purchase_count, 0);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:NOTHING_TO_REFUND"), 1);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:UNKNOWN_ORDER"), 1);
  ExpectInvariant(m);
}

TEST(ReferenceFoldTest, RefundTakesFromOrdersOwnPendingLotFirst) {
  const std::vector<Program> programs = {ParseProgram(R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    pending_days: 1
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
  )pb")};
  const std::vector<std::string> lines = {
      // Lot 1: 100 points; 01-01 + 1 d = 01-02: pending until 01-03T00:00,
      // released before the next event (it becomes the never-expiring
      // available lot, keeping its id).
      Ev("e1", "m", "2024-01-01T00:00:00Z", Purchase("A", 10000)),
      // Lot 2: 50 points, pending until 01-05T00:00.
      Ev("e2", "m", "2024-01-03T00:00:00Z", Purchase("B", 5000)),
      // Half of B: floor(50 × 2500 / 5000) = 25, all from B's pending lot 2
      // (spending by expiry would have taken them from lot 1).
      Ev("e3", "m", "2024-01-03T12:00:00Z", Refund("B", 2500)),
  };
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.available_points, 100);
  EXPECT_EQ(m.pending_points, 25);
  EXPECT_EQ(m.clawed_back_points, 25);
  EXPECT_EQ(m.spend_minor, 12500);  // 15000 − 2500
  EXPECT_EQ(m.purchase_count, 2);   // a partial refund keeps the count
  ExpectInvariant(m);
}

// --- Engagement ------------------------------------------------------------

TEST(ReferenceFoldTest, DailyCapPerLocalDayAcrossMidnightAndDst) {
  const std::vector<Program> programs = {ParseProgram(R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 1 max_per_local_day: 2 }
  )pb")};
  const std::vector<std::string> lines = {
      // Spring forward: 2024-03-31 01:00Z, CET (+1) -> CEST (+2).
      Ev("a1", "m", "2024-03-30T22:30:00Z", Engage("like")),  // 03-30 23:30: 1
      Ev("a2", "m", "2024-03-30T22:50:00Z", Engage("like")),  // 03-30: 2
      Ev("a3", "m", "2024-03-30T22:55:00Z", Engage("like")),  // 03-30: cap
      // 03-31 00:05 CET (still 03-30 in UTC): a new local day.
      Ev("a4", "m", "2024-03-30T23:05:00Z", Engage("like")),  // 03-31: 1
      Ev("a5", "m", "2024-03-31T21:30:00Z", Engage("like")),  // 23:30 CEST: 2
      Ev("a6", "m", "2024-03-31T21:45:00Z", Engage("like")),  // 03-31: cap
      // 04-01 00:15 CEST (a fixed +1 offset would say 03-31 23:15).
      Ev("a7", "m", "2024-03-31T22:15:00Z", Engage("like")),  // 04-01: 1
      // Fall back: 2024-10-27 01:00Z, CEST -> CET; local 10-27 lasts 25 h,
      // [2024-10-26T22:00Z, 2024-10-27T23:00Z).
      Ev("b1", "m", "2024-10-26T22:30:00Z", Engage("like")),  // 00:30 CEST: 1
      Ev("b2", "m", "2024-10-27T22:30:00Z", Engage("like")),  // 23:30 CET: 2
      // 23:59 CET, still 10-27 (a fixed +2 offset would say 10-28 00:59).
      Ev("b3", "m", "2024-10-27T22:59:00Z", Engage("like")),  // cap
      Ev("b4", "m", "2024-10-27T23:00:00Z", Engage("like")),  // 10-28: 1
      // Late event: t is the member clock, but the cap uses the local day of
      // occurred_at, 03-30, which is full.
      Ev("c1", "m", "2024-03-30T22:00:00Z", Engage("like")),  // cap
  };
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(r.outcome_reasons.at("APPLIED"), 8);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:DAILY_CAP"), 4);
  EXPECT_EQ(Member(r, "m").available_points, 8);
  EXPECT_EQ(Member(r, "m").lifetime_earned_points, 8);
}

TEST(ReferenceFoldTest, UniquePerRefAndNoRule) {
  const std::vector<Program> programs = {ParseProgram(R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "review" points: 20 unique_per_ref: true }
  )pb")};
  const std::vector<std::string> lines = {
      Ev("e1", "m", "2024-01-01T10:00:00Z", Engage("review")),       // EMPTY_REF
      Ev("e2", "m", "2024-01-01T11:00:00Z", Engage("review", "x")),  // 20
      Ev("e3", "m", "2024-01-02T11:00:00Z", Engage("review", "x")),  // used
      Ev("e4", "m", "2024-01-02T12:00:00Z", Engage("review", "y")),  // 20
      Ev("e5", "m", "2024-01-02T13:00:00Z", Engage("share", "y")),   // NO_RULE
      // An IGNORED event still creates its member.
      Ev("e6", "n", "2024-01-02T13:00:00Z", Engage("share")),
  };
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:EMPTY_REF"), 1);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:REF_ALREADY_USED"), 1);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:NO_RULE"), 2);
  EXPECT_EQ(r.outcome_reasons.at("APPLIED"), 2);
  EXPECT_EQ(Member(r, "m").available_points, 40);
  EXPECT_EQ(Member(r, "n").available_points, 0);
  EXPECT_EQ(Member(r, "n").tier_id, "member");
}

// --- Redemption, membership ------------------------------------------------

TEST(ReferenceFoldTest, RedemptionRejectionsInOrder) {
  const std::vector<Program> programs = {ParseProgram(R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "gold" threshold: 40 earn_multiplier_bp: 15000 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 12 grace_days: 90 }
    rewards { reward_id: "free-coffee" cost_points: 50 }
    rewards { reward_id: "ten-off" cost_points: 0 }
    rewards { reward_id: "lounge" cost_points: 500 min_tier_id: "gold" }
    rewards { reward_id: "mug" cost_points: 80 min_tier_id: "member" }
  )pb")};
  const std::vector<std::string> lines = {
      Ev("e1", "m", "2024-01-01T10:00:00Z", Adjust(100)),
      Ev("e2", "m", "2024-01-01T10:01:00Z", RedeemReward("nope")),
      Ev("e3", "m", "2024-01-01T10:02:00Z", RedeemReward("ten-off")),
      Ev("e4", "m", "2024-01-01T10:03:00Z", RedeemReward("lounge")),
      Ev("e5", "m", "2024-01-01T10:04:00Z", RedeemPoints(101)),
      Ev("e6", "m", "2024-01-01T10:05:00Z", RedeemReward("free-coffee")),  // 50
      Ev("e7", "m", "2024-01-01T10:06:00Z", RedeemReward("mug")),          // 80 > 50
      Ev("e8", "m", "2024-01-01T10:07:00Z", RedeemPoints(50)),             // 0 left
  };
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:UNKNOWN_REWARD"), 1);
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:NOT_REDEEMABLE"), 1);
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:TIER_TOO_LOW"), 1);
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:INSUFFICIENT_POINTS"), 2);
  EXPECT_EQ(r.outcome_reasons.at("APPLIED"), 3);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.available_points, 0);
  EXPECT_EQ(m.redeemed_points, 100);
  EXPECT_EQ(m.adjusted_points, 100);
  EXPECT_TRUE(m.rewards_issued.empty());  // redemptions are not "issued"
  ExpectInvariant(m);
}

TEST(ReferenceFoldTest, MembershipAddsLocalCivilMonthsClampedToMonthEnd) {
  const EdgeCase c = MembershipAddsLocalCivilMonthsClampedToMonthEnd();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  {
    const RefResult r = Fold(Prefix(lines, 1), programs);
    EXPECT_EQ(Member(r, "m").vip_until_ns, Ns("2024-02-29T10:00:00Z"));
  }
  {
    const RefResult r = Fold(Prefix(lines, 2), programs);
    EXPECT_EQ(Member(r, "m").vip_until_ns, Ns("2024-03-29T10:00:00Z"));
  }
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").vip_until_ns, Ns("2024-04-29T09:00:00Z"));
  EXPECT_EQ(Member(r, "n").vip_until_ns, Ns("2025-02-28T12:00:00Z"));
  // The plans run (t < vip_until): the paid tier "gold" is the effective
  // tier, one PLAN_STARTED each; renewals while a plan runs change nothing.
  EXPECT_EQ(Member(r, "m").tier_id, "gold");
  EXPECT_EQ(Member(r, "n").tier_id, "gold");
  EXPECT_EQ(r.tier_changes, (std::map<std::string, int64_t>{{"PLAN_STARTED", 2}}));
  // The changes ride in the events' own outcomes: no other outcomes.
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 4}}));
  EXPECT_EQ(OutcomesOf(r, "m")[0],
            "e1 APPLIED points 0 tier member>gold:PLAN_STARTED@2024-01-31T10:00:00Z[]");
}

// --- Dedupe ----------------------------------------------------------------

TEST(ReferenceFoldTest, DuplicateSameAndDifferentPayload) {
  const std::vector<Program> programs = {ParseProgram(kDebtProgram)};
  const std::string e1 = Ev("e1", "m", "2024-01-01T10:00:00Z", Purchase("A", 1000));
  const std::vector<std::string> lines = {
      e1,  // 10 points
      e1,  // DUPLICATE
      // Same parsed Event (other key order, unknown field): DUPLICATE.
      R"({"purchase":{"currency":"EUR","amount_minor":1000,"order_id":"A"},)"
      R"("occurred_at":"2024-01-01T11:00:00+01:00","member_id":"m",)"
      R"("program_id":"p","event_id":"e1","newer_field":{"x":1}})",
      // Same key, other payload: DUPLICATE_CONFLICT, nothing changes.
      Ev("e1", "m", "2024-01-01T10:00:00Z", Purchase("A", 2000)),
      // Other event, same (member, order): DUPLICATE_ORDER.
      Ev("e2", "m", "2024-01-01T10:05:00Z", Purchase("A", 1000)),
      // Same event_id for another member: another key, APPLIED (10 points).
      Ev("e1", "n", "2024-01-01T10:00:00Z", Purchase("A", 1000)),
      // A REJECTED event stores its key too: its copy is a DUPLICATE.
      Ev("e3", "m", "2024-01-01T10:10:00Z", RedeemPoints(1000)),
      Ev("e3", "m", "2024-01-01T10:10:00Z", RedeemPoints(1000)),
      // A DLQ'd event stores nothing: a later valid e4 is judged afresh.
      Ev("e4", "m", "2024-01-01T10:20:00Z", Purchase("B", 0)),
      Ev("e4", "m", "2024-01-01T10:20:00Z", Purchase("B", 500)),  // 5 points
  };
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(r.duplicates, 3);
  EXPECT_EQ(r.dlq_by_reason,
            (std::map<std::string, int64_t>{
                {"BAD_AMOUNT", 1}, {"DUPLICATE_CONFLICT", 1}, {"DUPLICATE_ORDER", 1}}));
  EXPECT_EQ(r.outcome_reasons,
            (std::map<std::string, int64_t>{{"APPLIED", 3}, {"REJECTED:INSUFFICIENT_POINTS", 1}}));
  EXPECT_EQ(Member(r, "m").available_points, 15);
  EXPECT_EQ(Member(r, "m").purchase_count, 2);
  EXPECT_EQ(Member(r, "n").available_points, 10);
}

// --- DLQ reasons -----------------------------------------------------------

// Long on purpose: one event per DLQ reason and per ordering between two
// reasons, as a table read top to bottom.
TEST(ReferenceFoldTest, DlqReasonsFirstFailureWins) {
  const std::vector<Program> programs = {ParseProgram(R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    paid_plans { plan_id: "vip" tier_id: "member" months: 1 }
  )pb")};
  const std::string at = "2024-01-01T00:00:00Z";
  std::string items_1001;
  for (int i = 0; i < 1001; ++i) {
    absl::StrAppend(&items_1001, i == 0 ? "" : ",",
                    R"({"sku":"s","quantity":1,"amount_minor":"1"})");
  }
  const std::string huge_source(1100000, 'x');

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "MALFORMED"},
      {"", "MALFORMED"},
      {R"({"event_id":"e","purchase":{"amount_minor":"abc"}})", "MALFORMED"},
      {Ev("e", "m\xff", at, Purchase("A", 100)), "MALFORMED"},  // not UTF-8
      {absl::StrCat(R"({"source":")", huge_source, R"(",)",
                    Ev("e", "m", at, Purchase("A", 100)).substr(1)),
       "OVERSIZED"},
      {Ev("e", "m", at,
          absl::StrCat(R"("purchase":{"order_id":"A","amount_minor":"1001",)"
                       R"("currency":"EUR","items":[)",
                       items_1001, "]}")),
       "OVERSIZED"},
      {R"({"event_id":"e","program_id":"p","member_id":"m",)"
       R"("purchase":{"order_id":"A","amount_minor":"100","currency":"EUR"}})",
       "MISSING_FIELD"},  // no occurred_at
      {R"({"event_id":"e","program_id":"p","member_id":"m",)"
       R"("occurred_at":"2024-01-01T00:00:00Z"})",
       "MISSING_FIELD"},  // no body
      {Ev("e", "", at, Purchase("A", 100)), "MISSING_FIELD"},
      {Ev("e", "m", at, Purchase("", 100)), "MISSING_FIELD"},
      {Ev("e", "m", at, Adjust(5, "")), "MISSING_FIELD"},
      {R"({"event_id":"e","program_id":"p","occurred_at":")" + at + R"(","tick":{}})",
       "MISSING_FIELD"},  // tick without now
      // Missing order_id beats the too-long member_id.
      {Ev("e", std::string(65, 'm'), at, Purchase("", 100)), "MISSING_FIELD"},
      {Ev("e", std::string(65, 'm'), at, Purchase("A", 100)), "BAD_ID"},
      {Ev(std::string(129, 'e'), "m", at, Purchase("A", 100)), "BAD_ID"},
      {Ev("e\\u0001", "m", at, Purchase("A", 100)), "BAD_ID"},
      {Ev("e", "m\\u0085", at, Purchase("A", 100)), "BAD_ID"},  // C1
      {Ev("e", "m", at, Purchase("A\\u007f", 100)), "BAD_ID"},  // DEL
      {Ev("e", "m", at, R"("tick":{"now":"2024-01-01T00:00:00Z"})"),
       "BAD_ID"},  // tick with member_id
      // BAD_ID beats UNKNOWN_PROGRAM.
      {Ev("e\\u0001", "m", at, Purchase("A", 100), "q"), "BAD_ID"},
      {Ev("e", "m", at, Purchase("A", 100), "q"), "UNKNOWN_PROGRAM"},
      // UNKNOWN_PROGRAM beats BAD_TIME.
      {Ev("e", "m", "1999-12-31T23:59:59Z", Purchase("A", 100), "q"), "UNKNOWN_PROGRAM"},
      {Ev("e", "m", "1999-12-31T23:59:59Z", Purchase("A", 100)), "BAD_TIME"},
      {Ev("e", "m", "2100-01-01T00:00:00Z", Purchase("A", 100)), "BAD_TIME"},
      {Tick("e", "2100-01-01T00:00:00Z"), "BAD_TIME"},
      // BAD_TIME beats BAD_AMOUNT.
      {Ev("e", "m", "2100-01-01T00:00:00Z", Purchase("A", 0)), "BAD_TIME"},
      {Ev("e", "m", at, Purchase("A", 0)), "BAD_AMOUNT"},
      {Ev("e", "m", at, Purchase("A", 1000000000001)), "BAD_AMOUNT"},
      {Ev("e", "m", at,
          R"("purchase":{"order_id":"A","amount_minor":"100","currency":"EUR",)"
          R"("items":[{"quantity":1,"amount_minor":"60"},)"
          R"({"quantity":1,"amount_minor":"30"}]})"),
       "BAD_AMOUNT"},  // 60 + 30 != 100
      {Ev("e", "m", at,
          R"("purchase":{"order_id":"A","amount_minor":"100","currency":"EUR",)"
          R"("items":[{"quantity":0,"amount_minor":"100"}]})"),
       "BAD_AMOUNT"},  // quantity < 1
      {Ev("e", "m", at, Refund("A", 0)), "BAD_AMOUNT"},
      {Ev("e", "m", at, Adjust(0)), "BAD_AMOUNT"},
      {Ev("e", "m", at, Adjust(1000000000000001)), "BAD_AMOUNT"},
      {Ev("e", "m", at, R"("redemption":{"reward_id":"r","points":"5"})"), "BAD_AMOUNT"},  // both
      {Ev("e", "m", at, R"("redemption":{})"), "BAD_AMOUNT"},  // neither
      {Ev("e", "m", at, RedeemPoints(-5)), "BAD_AMOUNT"},
      {Ev("e", "m", at, Join("gold")), "BAD_AMOUNT"},  // unknown plan
      // BAD_AMOUNT beats CURRENCY_MISMATCH.
      {Ev("e", "m", at, Purchase("A", 0, "USD")), "BAD_AMOUNT"},
      {Ev("e", "m", at, Purchase("A", 100, "USD")), "CURRENCY_MISMATCH"},
      {Ev("e", "m", at, Purchase("A", 100, "")), "CURRENCY_MISMATCH"},
  };
  for (const auto& [line, reason] : cases) {
    const RefResult r = Fold({line}, programs);
    EXPECT_EQ(r.dlq_by_reason, (std::map<std::string, int64_t>{{reason, 1}}))
        << line.substr(0, 300);
    EXPECT_TRUE(r.members.empty()) << line.substr(0, 300);
    EXPECT_TRUE(r.outcome_reasons.empty()) << line.substr(0, 300);
  }

  // The edges that pass: 2000-01-01T00:00:00Z, 1000 items, 10^12.
  std::string items_1000;
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppend(&items_1000, i == 0 ? "" : ",",
                    R"({"sku":"s","quantity":1,"amount_minor":"1"})");
  }
  const std::vector<std::string> good = {
      Ev("g1", "m", "2000-01-01T00:00:00Z", Purchase("A", 100)),
      Ev("g2", "m", at,
         absl::StrCat(R"("purchase":{"order_id":"B","amount_minor":"1000",)"
                      R"("currency":"EUR","items":[)",
                      items_1000, "]}")),
      Ev("g3", "m", at, Purchase("C", 1000000000000)),
      Tick("g4", "2099-12-31T23:59:59Z"),
  };
  const RefResult r = Fold(good, programs);
  EXPECT_TRUE(r.dlq_by_reason.empty());
  EXPECT_EQ(r.outcome_reasons.at("APPLIED"), 4);
  // 1 + 10 + 10^10 points.
  EXPECT_EQ(Member(r, "m").lifetime_earned_points, 10000000011);
}

// --- Tiers -----------------------------------------------------------------

TEST(ReferenceFoldTest, TiersQualifyHoldAndDowngradeAtGraceReview) {
  const EdgeCase c = TiersQualifyHoldAndDowngradeAtGraceReview();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  {
    const RefResult r = Fold(Prefix(lines, 3), programs);
    EXPECT_EQ(Member(r, "m").tier_id, "gold");
    EXPECT_EQ(Member(r, "m").tier_held_until_ns, Ns("2024-01-25T12:00:00Z"));
    EXPECT_EQ(Member(r, "m").lifetime_earned_points, 35);
  }
  {
    const RefResult r = Fold(Prefix(lines, 7), programs);
    EXPECT_EQ(Member(r, "m").tier_id, "gold");
    EXPECT_EQ(Member(r, "m").tier_held_until_ns, Ns("2024-03-05T12:00:00Z"));
    EXPECT_EQ(Member(r, "k").tier_held_until_ns, Ns("2024-01-20T14:00:00Z"));
  }
  {
    const RefResult r = Fold(Prefix(lines, 8), programs);
    EXPECT_EQ(Member(r, "m").tier_id, "member");
    EXPECT_EQ(Member(r, "m").tier_held_until_ns, std::nullopt);
    EXPECT_EQ(Member(r, "k").tier_id, "gold");
    EXPECT_EQ(Member(r, "k").tier_held_until_ns, Ns("2024-03-10T14:00:00Z"));
  }
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.tier_id, "member");
  EXPECT_EQ(m.lifetime_earned_points, 10 + 10 + 15 + 10);
  const RefMember& k = Member(r, "k");
  EXPECT_EQ(k.tier_id, "silver");
  EXPECT_EQ(k.tier_held_until_ns, Ns("2024-03-22T12:00:00Z"));
  EXPECT_EQ(k.lifetime_earned_points, 10 + 10 + 15 + 20 + 20);
  EXPECT_EQ(r.tier_changes, (std::map<std::string, int64_t>{{"QUALIFIED", 4}, {"GRACE_ENDED", 2}}));
  // 10 member events + the tick; the tick's MATURED outcomes: m (the
  // downgrade) and k (five renewals: tier_held_until changed).
  EXPECT_EQ(r.outcome_reasons, (Counts{{"APPLIED", 11},
                                       {"IGNORED:NO_RULE", 1},
                                       {"APPLIED:MATURED", 2}}));
  // The downgrades ride in the outcomes that applied the reviews.
  const std::vector<std::string> m_outcomes = OutcomesOf(r, "m");
  ASSERT_EQ(m_outcomes.size(), 6u);
  EXPECT_EQ(m_outcomes[4], "t1 APPLIED:MATURED points 0 tier gold>member:GRACE_ENDED@"
                           "2024-03-05T12:00:00Z[]");
  const std::vector<std::string> k_outcomes = OutcomesOf(r, "k");
  ASSERT_EQ(k_outcomes.size(), 7u);
  EXPECT_EQ(k_outcomes[3], "t1 APPLIED:MATURED points 0");
  EXPECT_EQ(k_outcomes[6], "k6 APPLIED points 5 tier gold>silver:GRACE_ENDED@"
                           "2024-03-10T14:00:00Z[] ADJUST#1+5@2024-03-12T12:00:00Z");
}

TEST(ReferenceFoldTest, SpendMetricShrinksWithRefundsInThePurchasesMonth) {
  const EdgeCase c = SpendMetricShrinksWithRefundsInThePurchasesMonth();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  {
    const RefResult r = Fold(Prefix(lines, 5), programs);
    EXPECT_EQ(Member(r, "m").tier_id, "plus");
    EXPECT_EQ(Member(r, "m").tier_held_until_ns, Ns("2024-02-06T10:00:00Z"));
    EXPECT_EQ(Member(r, "m").purchase_count, 2);  // a partial refund keeps the count
    EXPECT_EQ(Member(r, "n").tier_id, "member");
  }
  const RefResult r = Fold(lines, programs);
  // e4 is before held_until (02-03 < 02-06): no review yet; Q = plus = H
  // renews: 02-08T10:00.
  EXPECT_EQ(Member(r, "m").tier_id, "plus");
  EXPECT_EQ(Member(r, "m").tier_held_until_ns, Ns("2024-02-08T10:00:00Z"));
  EXPECT_EQ(r.tier_changes, (std::map<std::string, int64_t>{{"QUALIFIED", 1}}));
}

TEST(ReferenceFoldTest, EarnedPointsMetricCountsEngagementsNotAdjustmentsAndRefundsShrinkIt) {
  const EdgeCase c = EarnedPointsMetricCountsEngagementsNotAdjustmentsAndRefundsShrinkIt();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.tier_id, "member");
  EXPECT_EQ(m.tier_held_until_ns, std::nullopt);
  EXPECT_EQ(m.lifetime_earned_points, 30);
  EXPECT_EQ(m.clawed_back_points, 5);
  EXPECT_EQ(m.available_points, 1);
  ExpectInvariant(m);
  EXPECT_EQ(r.tier_changes, (std::map<std::string, int64_t>{{"QUALIFIED", 1}, {"GRACE_ENDED", 1}}));
}

TEST(ReferenceFoldTest, PaidPlansSetTheEffectiveTierAndEndAfterTheGraceReview) {
  const EdgeCase c = PaidPlansSetTheEffectiveTierAndEndAfterTheGraceReview();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  {
    const RefResult r = Fold(Prefix(lines, 6), programs);
    EXPECT_EQ(Member(r, "m").tier_id, "gold");
    EXPECT_EQ(Member(r, "m").tier_held_until_ns, Ns("2024-02-01T12:00:00Z"));
    EXPECT_EQ(Member(r, "n").tier_id, "gold");
    EXPECT_EQ(Member(r, "n").vip_until_ns, Ns("2025-02-05T00:00:00Z"));
  }
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.tier_id, "member");
  EXPECT_EQ(m.tier_held_until_ns, std::nullopt);
  EXPECT_EQ(m.vip_until_ns, Ns("2024-02-01T12:00:00Z"));  // kept after the end
  EXPECT_EQ(m.lifetime_earned_points, 20);
  EXPECT_EQ(m.redeemed_points, 50);
  EXPECT_EQ(m.available_points, 70);
  EXPECT_EQ(Member(r, "n").tier_id, "member");
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:TIER_TOO_LOW"), 1);
  // m: PLAN_STARTED, PLAN_ENDED; n: member -> silver -> gold -> member.
  EXPECT_EQ(r.tier_changes,
            (std::map<std::string, int64_t>{{"PLAN_STARTED", 3}, {"PLAN_ENDED", 2}}));
  // The tick matured m only (the review, no change, then the plan end).
  EXPECT_EQ(r.outcome_reasons.at("APPLIED:MATURED"), 1);
  EXPECT_EQ(OutcomesOf(r, "m")[4], "t1 APPLIED:MATURED points 0 tier gold>member:PLAN_ENDED@"
                                   "2024-02-01T12:00:00Z[]");
  // n's plan end ran before n3 and rides in its outcome.
  EXPECT_EQ(OutcomesOf(r, "n")[2], "n3 APPLIED points 1 tier gold>member:PLAN_ENDED@"
                                   "2025-02-05T00:00:00Z[] ADJUST#1+1@2025-02-05T00:00:00Z");
}

// --- Promotions ------------------------------------------------------------

TEST(ReferenceFoldTest, PromotionsPastMidnightAcrossDstAndValidityBounds) {
  const EdgeCase c = PromotionsPastMidnightAcrossDstAndValidityBounds();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const std::vector<LateOwlProbe>& owl = LateOwlProbes();
  const std::vector<SpringProbe>& spring = SpringProbes();
  const RefResult r = Fold(lines, programs);
  for (const auto& [member, at, points] : owl) {
    EXPECT_EQ(Member(r, member).lifetime_earned_points, points) << member << " " << at;
  }
  for (const auto& [member, at, category, points] : spring) {
    EXPECT_EQ(Member(r, member).lifetime_earned_points, points) << member << " " << at;
  }
  EXPECT_EQ(r.rule_hits.at("promotion:late-owl"), 6);
  EXPECT_EQ(r.rule_hits.at("promotion:spring"), 2);
  EXPECT_EQ(Member(r, "s2").rewards_issued, (std::map<std::string, int64_t>{{"cake", 1}}));
  EXPECT_EQ(r.issued_rewards, (std::map<std::string, int64_t>{{"PROMOTION:spring:cake", 2}}));
}

TEST(ReferenceFoldTest, PromotionMultipliersFloorStageByStageThenAddBonuses) {
  const EdgeCase c = PromotionMultipliersFloorStageByStageThenAddBonuses();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").lifetime_earned_points, 36);
  EXPECT_EQ(Member(r, "m").rewards_issued, (std::map<std::string, int64_t>{{"mug", 1}}));
  EXPECT_EQ(Member(r, "n").lifetime_earned_points, 23);
}

// --- Punch cards -----------------------------------------------------------

TEST(ReferenceFoldTest, PunchCardsCarryStampsAndFillMoreThanOnce) {
  const EdgeCase c = PunchCardsCarryStampsAndFillMoreThanOnce();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").stamps,
            (std::map<std::string, int64_t>{{"coffee-card", 1}, {"food-card", 0}}));
  EXPECT_EQ(Member(r, "m").rewards_issued,
            (std::map<std::string, int64_t>{{"free-coffee", 2}, {"cake", 1}}));
  EXPECT_TRUE(Member(r, "n").stamps.empty());
  EXPECT_EQ(r.issued_rewards,
            (std::map<std::string, int64_t>{{"PUNCH_CARD:coffee-card:free-coffee", 2},
                                            {"PUNCH_CARD:food-card:cake", 1}}));
}

// --- Random rewards, NPS ---------------------------------------------------

TEST(ReferenceFoldTest, RandomRewardsDrawWithTheSeedAndCapPerLocalDay) {
  const EdgeCase c = RandomRewardsDrawWithTheSeedAndCapPerLocalDay();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  const RefMember& m = Member(r, "m");
  EXPECT_EQ(m.lifetime_earned_points, 40 + 3 * 4 + 1 + 10);
  EXPECT_EQ(m.rewards_issued, (std::map<std::string, int64_t>{{"gift", 3}, {"cup", 1}}));
  ExpectInvariant(m);
  EXPECT_EQ(Member(r, "n").lifetime_earned_points, 1 + 1 + 10);
  EXPECT_EQ(r.rule_hits.at("random_win:r"), 3);
  EXPECT_EQ(r.rule_hits.at("random_capped:r"), 1);
  EXPECT_EQ(r.rule_hits.at("random_win:luck"), 2);
  EXPECT_EQ(r.rule_hits.at("random_win:always"), 1);
  EXPECT_EQ(r.rule_hits.at("bonus_points"), 3 * 4 + 2 * 10);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:DAILY_CAP"), 1);
  EXPECT_EQ(r.issued_rewards,
            (std::map<std::string, int64_t>{{"RANDOM:r:gift", 3}, {"RANDOM:always:cup", 1}}));
}

TEST(ReferenceFoldTest, NpsScoreKeptWhateverTheOutcome) {
  const EdgeCase c = NpsScoreKeptWhateverTheOutcome();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").last_nps_score, 3);
  EXPECT_EQ(Member(r, "k").last_nps_score, 0);
  EXPECT_EQ(Member(r, "z").last_nps_score, std::nullopt);
  EXPECT_EQ(r.outcome_reasons.at("IGNORED:DAILY_CAP"), 1);
}

// --- More edges --------------------------------------------------------------

TEST(ReferenceFoldTest, TierBoundariesAtTheInstantOfTheReviewAndThePlanEnd) {
  const EdgeCase c = TierBoundariesAtTheInstantOfTheReviewAndThePlanEnd();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "a").tier_id, "silver");
  EXPECT_EQ(Member(r, "a").tier_held_until_ns, Ns("2024-02-14T00:00:00Z"));
  EXPECT_EQ(Member(r, "a").lifetime_earned_points, 20);
  EXPECT_EQ(Member(r, "b").tier_id, "silver");
  EXPECT_EQ(Member(r, "b").tier_held_until_ns, Ns("2024-02-20T00:00:00Z"));
  EXPECT_EQ(Member(r, "b").lifetime_earned_points, 10);
  EXPECT_EQ(Member(r, "c").tier_id, "member");
  EXPECT_EQ(Member(r, "c").tier_held_until_ns, std::nullopt);
  EXPECT_EQ(Member(r, "c").available_points, 15);
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:TIER_TOO_LOW"), 1);
  EXPECT_EQ(r.tier_changes,
            (std::map<std::string, int64_t>{
                {"QUALIFIED", 5}, {"GRACE_ENDED", 2}, {"PLAN_STARTED", 1}, {"PLAN_ENDED", 2}}));
  // The tick matured c only: gold -> silver at the review, silver -> member
  // at the plan end, in one outcome.
  EXPECT_EQ(r.outcome_reasons.at("APPLIED:MATURED"), 1);
  EXPECT_EQ(OutcomesOf(r, "c").back(),
            "t1 APPLIED:MATURED points 0 tier gold>silver:GRACE_ENDED@2024-02-09T03:00:00Z[] "
            "tier silver>member:PLAN_ENDED@2024-02-10T02:00:00Z[]");
}

TEST(ReferenceFoldTest, RefundShrinksThePurchasesMonthNotTheRefundsMonth) {
  const EdgeCase c = RefundShrinksThePurchasesMonthNotTheRefundsMonth();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").tier_id, "plus");
  EXPECT_EQ(Member(r, "m").tier_held_until_ns, Ns("2024-03-25T00:00:00Z"));
  EXPECT_EQ(r.tier_changes, (std::map<std::string, int64_t>{{"QUALIFIED", 1}}));
}

TEST(ReferenceFoldTest, PromotionWindowsWithoutDaysAndWithEqualEnds) {
  const EdgeCase c = PromotionWindowsWithoutDaysAndWithEqualEnds();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const std::vector<WindowProbe>& cases = PromotionWindowProbes();
  const RefResult r = Fold(lines, programs);
  for (const auto& [at, points] : cases) {
    EXPECT_EQ(Member(r, at).lifetime_earned_points, points) << at;
  }
}

TEST(ReferenceFoldTest, RandomRewardOnAnyAppliedEngagementEvenWithZeroPoints) {
  const EdgeCase c = RandomRewardOnAnyAppliedEngagementEvenWithZeroPoints();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").lifetime_earned_points, 9);
  EXPECT_EQ(Member(r, "m").last_nps_score, 8);
  EXPECT_EQ(Member(r, "n").lifetime_earned_points, 0);
  EXPECT_EQ(r.rule_hits.at("random_win:any"), 2);
}

TEST(ReferenceFoldTest, MembershipEndingOnSkippedOrRepeatedWallTimes) {
  const EdgeCase c = MembershipEndingOnSkippedOrRepeatedWallTimes();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  {
    const RefResult r = Fold(Prefix(lines, 2), programs);
    EXPECT_EQ(Member(r, "m").vip_until_ns, Ns("2024-03-31T01:00:00Z"));
    EXPECT_EQ(Member(r, "n").vip_until_ns, Ns("2024-10-27T00:30:00Z"));
  }
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "m").tier_id, "member");
  EXPECT_EQ(Member(r, "n").tier_id, "member");
  EXPECT_EQ(r.tier_changes,
            (std::map<std::string, int64_t>{{"PLAN_STARTED", 2}, {"PLAN_ENDED", 2}}));
}

TEST(ReferenceFoldTest, StackedPlansKeepTheHigherTierUntilTheLastEnd) {
  const EdgeCase c = StackedPlansKeepTheHigherTierUntilTheLastEnd();
  const std::vector<Program> programs = {ParseProgram(c.program)};
  const std::vector<std::string>& lines = c.lines;
  {
    const RefResult r = Fold(Prefix(lines, 3), programs);
    EXPECT_EQ(Member(r, "q").tier_id, "gold");
    EXPECT_EQ(Member(r, "q").vip_until_ns, Ns("2025-02-01T00:00:00Z"));
  }
  const RefResult r = Fold(lines, programs);
  EXPECT_EQ(Member(r, "q").tier_id, "member");
  EXPECT_EQ(Member(r, "v").tier_id, "member");
  EXPECT_EQ(Member(r, "v").vip_until_ns, std::nullopt);
  EXPECT_EQ(r.outcome_reasons.at("REJECTED:VIP_UNTIL_LIMIT"), 1);
  EXPECT_EQ(r.tier_changes,
            (std::map<std::string, int64_t>{{"PLAN_STARTED", 1}, {"PLAN_ENDED", 1}}));
}

}  // namespace
}  // namespace loyalty::model
