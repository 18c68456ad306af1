// File: tests/model/edge_cases.h
// The hand-worked edge streams that two tests share: reference_fold_test.cc
// checks the model's results on them against values computed by hand (the
// arithmetic is in the comments of edge_cases.cc and of the tests), and
// tests/model_test.cc replays them through the engine and compares it with
// the model. They are the edges a generated stream reaches only by chance (a
// grace review and a plan end at the same instant, reviews due one after
// another before one event, a refund's clawback partly written off in an
// EARNED_POINTS programme, DST nights inside promotion windows, a random
// reward's daily cap at local midnight, lots that expire or are released at
// a local day's start across DST changes, refunds that follow their
// purchase's lot through its release, credits and releases that pay debt,
// ticks' MATURED and STALE_TICK outcomes). Also the JSON line builders the
// streams are written with.
//
// Like the model, this depends on no engine code.
#ifndef LOYALTY_TESTS_MODEL_EDGE_CASES_H_
#define LOYALTY_TESTS_MODEL_EDGE_CASES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace loyalty::model {

// --- JSON line builders ----------------------------------------------------

std::string Ev(const std::string& event_id, const std::string& member_id, const std::string& at,
               const std::string& body, const std::string& program_id = "p");
std::string Tick(const std::string& event_id, const std::string& now,
                 const std::string& program_id = "p");
std::string Purchase(const std::string& order_id, int64_t amount_minor,
                     const std::string& currency = "EUR");
std::string Engage(const std::string& action, const std::string& ref = "");
std::string RedeemPoints(int64_t points);
std::string RedeemReward(const std::string& reward_id);
std::string Refund(const std::string& order_id, int64_t amount_minor);
std::string Adjust(int64_t points, const std::string& reason = "goodwill");
// A purchase with line items {category, quantity, amount_minor}; the amount is
// their sum.
struct Item {
  std::string category;
  int quantity;
  int64_t amount_minor;
};
std::string PurchaseItems(const std::string& order_id, const std::vector<Item>& items,
                          const std::string& currency = "EUR");
std::string Nps(int score);
std::string Join(const std::string& plan_id);

// --- Edge streams ----------------------------------------------------------

// One programme (text format, program_id "p") and a stream of JSON lines.
struct EdgeCase {
  std::string name;  // the reference_fold_test test that checks it
  std::string program;
  std::vector<std::string> lines;
};

EdgeCase TiersQualifyHoldAndDowngradeAtGraceReview();
EdgeCase SpendMetricShrinksWithRefundsInThePurchasesMonth();
EdgeCase EarnedPointsMetricCountsEngagementsNotAdjustmentsAndRefundsShrinkIt();
EdgeCase PaidPlansSetTheEffectiveTierAndEndAfterTheGraceReview();
EdgeCase PromotionMultipliersFloorStageByStageThenAddBonuses();
EdgeCase PunchCardsCarryStampsAndFillMoreThanOnce();
EdgeCase RandomRewardsDrawWithTheSeedAndCapPerLocalDay();
EdgeCase NpsScoreKeptWhateverTheOutcome();
EdgeCase MembershipAddsLocalCivilMonthsClampedToMonthEnd();
EdgeCase PromotionsPastMidnightAcrossDstAndValidityBounds();
EdgeCase TierBoundariesAtTheInstantOfTheReviewAndThePlanEnd();
EdgeCase RefundShrinksThePurchasesMonthNotTheRefundsMonth();
EdgeCase RandomRewardOnAnyAppliedEngagementEvenWithZeroPoints();
EdgeCase PromotionWindowsWithoutDaysAndWithEqualEnds();
EdgeCase MembershipEndingOnSkippedOrRepeatedWallTimes();
EdgeCase StackedPlansKeepTheHigherTierUntilTheLastEnd();
// Lots (SPEC §6 Lots): expiry and release at local day starts, shared lots,
// lot ids, debt, refunds from the purchase's lot, maturities at one instant,
// ticks' MATURED outcomes and STALE_TICK.
EdgeCase LotsSpendByExpiryAndExpireAtTheNextLocalDayStart();
EdgeCase PendingPointsFollowTickTimeAndStaleTicksChangeNothing();
EdgeCase RoundToMonthEndUsesLocalMonthAcrossDst();
EdgeCase FixedDaysExpireAtLocalDayStartsAcrossDst();
EdgeCase PendingReleasedAtTheFirstInstantOfTheNextLocalDay();
EdgeCase PurchasesOfOneDayShareOneLot();
EdgeCase RefundsClawBackFromThePurchasesLotFirst();
EdgeCase DebtIsPaidByCreditsAndReleases();
EdgeCase SameInstantLotMaturitiesApplyByLotId();
EdgeCase TicksReportMaturedMembersAndTierChangesRideInOutcomes();

// All of the above, in that order.
std::vector<EdgeCase> AllEdgeCases();

// The purchases of PromotionsPastMidnightAcrossDstAndValidityBounds, one
// member each, with the points each earns: 10 base points, doubled in the
// "late-owl" window; +7 (and a cake) for a food item in "spring"'s validity.
struct LateOwlProbe {
  std::string member;
  std::string at;  // occurred_at
  int64_t points;
};
const std::vector<LateOwlProbe>& LateOwlProbes();
struct SpringProbe {
  std::string member;
  std::string at;  // occurred_at
  std::string category;
  int64_t points;
};
const std::vector<SpringProbe>& SpringProbes();

// The purchases of PromotionWindowsWithoutDaysAndWithEqualEnds, one member
// each (named by `at`), with the points each earns.
struct WindowProbe {
  std::string at;  // occurred_at, also the member id
  int64_t points;
};
const std::vector<WindowProbe>& PromotionWindowProbes();

}  // namespace loyalty::model

#endif  // LOYALTY_TESTS_MODEL_EDGE_CASES_H_
