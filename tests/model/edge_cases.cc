#include "tests/model/edge_cases.h"

#include "absl/strings/str_cat.h"

namespace loyalty::model {

// --- JSON line builders ----------------------------------------------------

std::string Ev(const std::string& event_id, const std::string& member_id, const std::string& at,
               const std::string& body, const std::string& program_id) {
  return absl::StrCat(R"({"event_id":")", event_id, R"(","program_id":")", program_id,
                      R"(","member_id":")", member_id, R"(","occurred_at":")", at, R"(",)", body,
                      "}");
}

std::string Tick(const std::string& event_id, const std::string& now,
                 const std::string& program_id) {
  return absl::StrCat(R"({"event_id":")", event_id, R"(","program_id":")", program_id,
                      R"(","occurred_at":")", now, R"(","tick":{"now":")", now, R"("}})");
}

std::string Purchase(const std::string& order_id, int64_t amount_minor,
                     const std::string& currency) {
  return absl::StrCat(R"("purchase":{"order_id":")", order_id, R"(","amount_minor":")",
                      amount_minor, R"(","currency":")", currency, R"("})");
}

std::string Engage(const std::string& action, const std::string& ref) {
  return absl::StrCat(R"("engagement":{"action":")", action, R"(","ref":")", ref, R"("})");
}

std::string RedeemPoints(int64_t points) {
  return absl::StrCat(R"("redemption":{"points":")", points, R"("})");
}

std::string RedeemReward(const std::string& reward_id) {
  return absl::StrCat(R"("redemption":{"reward_id":")", reward_id, R"("})");
}

std::string Refund(const std::string& order_id, int64_t amount_minor) {
  return absl::StrCat(R"("refund":{"order_id":")", order_id, R"(","amount_minor":")", amount_minor,
                      R"("})");
}

std::string Adjust(int64_t points, const std::string& reason) {
  return absl::StrCat(R"("adjustment":{"points":")", points, R"(","reason":")", reason, R"("})");
}

std::string PurchaseItems(const std::string& order_id, const std::vector<Item>& items,
                          const std::string& currency) {
  int64_t amount = 0;
  std::string json;
  for (const Item& item : items) {
    amount += item.amount_minor;
    absl::StrAppend(&json, json.empty() ? "" : ",", R"({"sku":"s","category":")", item.category,
                    R"(","quantity":)", item.quantity, R"(,"amount_minor":")", item.amount_minor,
                    R"("})");
  }
  return absl::StrCat(R"("purchase":{"order_id":")", order_id, R"(","amount_minor":")", amount,
                      R"(","currency":")", currency, R"(","items":[)", json, "]}");
}

std::string Nps(int score) {
  return absl::StrCat(R"("engagement":{"action":"nps","score":)", score, "}");
}

std::string Join(const std::string& plan_id) {
  return absl::StrCat(R"("membership":{"plan_id":")", plan_id, R"("})");
}

// --- Edge streams ----------------------------------------------------------

EdgeCase TiersQualifyHoldAndDowngradeAtGraceReview() {
  EdgeCase c;
  c.name = "TiersQualifyHoldAndDowngradeAtGraceReview";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 2 grace_days: 10 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 2 earn_multiplier_bp: 15000 }
    tiers { tier_id: "gold" threshold: 3 earn_multiplier_bp: 20000 }
  )pb";
  c.lines = {
      // m: 10 points (member), then 2 purchases -> silver (held until
      // 01-21), 10 points at the tier before the event.
      Ev("e1", "m", "2024-01-10T12:00:00Z", Purchase("A", 1000)),
      Ev("e2", "m", "2024-01-11T12:00:00Z", Purchase("B", 1000)),
      // 3 purchases -> gold, held until 01-25T12:00; earned at silver:
      // 10 × 15000 / 10000 = 15.
      Ev("e3", "m", "2024-01-15T12:00:00Z", Purchase("C", 1000)),
      // k: member, silver, gold within the day; held until 01-20T14:00.
      Ev("k1", "k", "2024-01-10T12:00:00Z", Purchase("A", 1000)),  // 10
      Ev("k2", "k", "2024-01-10T13:00:00Z", Purchase("B", 1000)),  // 10
      Ev("k3", "k", "2024-01-10T14:00:00Z", Purchase("C", 1000)),  // 15
      // m's reviews: 01-25 (window Dec–Jan: 3 = gold, renewed to 02-04),
      // 02-04, 02-14, 02-24 (window Jan–Feb: 3) -> held until 03-05T12:00.
      // The event's own evaluation: window Feb–Mar = 0 < gold, but
      // t < held_until: nothing changes. IGNORED (no rule), still evaluated.
      Ev("e4", "m", "2024-03-05T11:00:00Z", Engage("like")),
      // The review due at 03-05T12:00 runs at the tick: window Feb–Mar = 0,
      // t >= held_until: straight down to member, nothing held.
      // k's reviews: 01-20T14:00, 01-30, 02-09, 02-19, 02-29 (window Jan–Feb:
      // 3) -> held until 03-10T14:00, not due yet.
      Tick("t1", "2024-03-05T12:00:00Z"),
      Ev("e5", "m", "2024-03-06T12:00:00Z", Purchase("D", 1000)),  // 10, member
      // k: gold until its review: 2 × 20 points at gold.
      Ev("k4", "k", "2024-03-08T12:00:00Z", Purchase("D", 1000)),
      Ev("k5", "k", "2024-03-09T12:00:00Z", Purchase("E", 1000)),
      // The review at 03-10T14:00: window Feb–Mar = 2 purchases = silver
      // (straight to Q), held until 03-20T14:00; then the event's own
      // evaluation (Q = H) renews it: 03-22T12:00.
      Ev("k6", "k", "2024-03-12T12:00:00Z", Adjust(5)),
  };
  return c;
}

EdgeCase SpendMetricShrinksWithRefundsInThePurchasesMonth() {
  EdgeCase c;
  c.name = "SpendMetricShrinksWithRefundsInThePurchasesMonth";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: SPEND_MINOR window_months: 1 grace_days: 5 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "plus" threshold: 5000 earn_multiplier_bp: 10000 }
  )pb";
  c.lines = {
      // 2024-01-31T23:30Z is 2024-02-01 00:30 in Paris: the February bucket.
      Ev("e1", "m", "2024-01-31T23:30:00Z", Purchase("A", 3000)),
      Ev("e2", "m", "2024-02-01T10:00:00Z", Purchase("B", 2500)),  // 5500: plus
      // Partial refund: February spend 4500 < 5000, held until 02-06T10:00.
      Ev("e3", "m", "2024-02-02T10:00:00Z", Refund("B", 1000)),
      // n: January (local) 3000, February 2500: never 5000 in one month.
      Ev("n1", "n", "2024-01-31T22:30:00Z", Purchase("A", 3000)),  // 23:30 local
      Ev("n2", "n", "2024-02-01T10:00:00Z", Purchase("B", 2500)),
      // The review at 02-06T10:00 downgrades m; this purchase adds 600:
      // 5100 again, plus again, held until 02-08T10:00.
      Ev("e4", "m", "2024-02-03T10:00:00Z", Purchase("C", 600)),
  };
  return c;
}

EdgeCase EarnedPointsMetricCountsEngagementsNotAdjustmentsAndRefundsShrinkIt() {
  EdgeCase c;
  c.name = "EarnedPointsMetricCountsEngagementsNotAdjustmentsAndRefundsShrinkIt";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    allow_negative_balance: false
    tier_qualification { metric: EARNED_POINTS window_months: 1 grace_days: 5 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "plus" threshold: 12 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 5 }
  )pb";
  c.lines = {
      // 20 earned: plus, held until 01-15T10:00.
      Ev("a1", "m", "2024-01-10T10:00:00Z", Purchase("A", 2000)),
      Ev("a2", "m", "2024-01-10T10:01:00Z", Adjust(100)),     // not a metric
      Ev("a3", "m", "2024-01-10T10:02:00Z", Engage("like")),  // 25
      // 30; held until 01-15T10:03.
      Ev("a4", "m", "2024-01-10T10:03:00Z", Purchase("B", 500)),
      // Nothing expires: every point is in one available lot, lot 1 (A 20,
      // adj 100, like 5, B 5 = 130). Redeem 125: 5 are left.
      Ev("a5", "m", "2024-01-10T10:04:00Z", RedeemPoints(125)),
      // Clawback 20: A's lot (lot 1) gives its 5, 15 are written off. The
      // bucket loses the clawback as computed: 30 − 20 = 10.
      Ev("a6", "m", "2024-01-10T10:05:00Z", Refund("A", 2000)),
      // The review at 01-15T10:03: 10 < 12, straight down to member.
      Ev("a7", "m", "2024-01-20T00:00:00Z", Adjust(1)),
  };
  return c;
}

EdgeCase PaidPlansSetTheEffectiveTierAndEndAfterTheGraceReview() {
  EdgeCase c;
  c.name = "PaidPlansSetTheEffectiveTierAndEndAfterTheGraceReview";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 1 grace_days: 31 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 1 earn_multiplier_bp: 12000 }
    tiers { tier_id: "gold" threshold: 100 earn_multiplier_bp: 20000 }
    paid_plans { plan_id: "gold-month" tier_id: "gold" months: 1 }
    paid_plans { plan_id: "silver-year" tier_id: "silver" months: 12 }
    rewards { reward_id: "lounge" cost_points: 50 min_tier_id: "gold" }
  )pb";
  c.lines = {
      // vip_until 02-01T12:00; member -> gold (PLAN_STARTED).
      Ev("j1", "m", "2024-01-01T12:00:00Z", Join("gold-month")),
      // 10 × 20000 / 10000 = 20 at gold. 1 purchase: H = silver, held
      // until 01-01 + 31 days = 02-01T12:00 (the plan's end too). The
      // effective tier stays gold.
      Ev("j2", "m", "2024-01-01T12:00:00Z", Purchase("A", 1000)),
      Ev("j3", "m", "2024-01-01T12:00:00Z", Adjust(100)),
      Ev("j4", "m", "2024-01-01T12:00:00Z", RedeemReward("lounge")),  // gold: ok
      // silver from 01-05, then gold on top: vip_until = 2025-01-05 + 1
      // month = 2025-02-05; the paid tier is the higher one.
      Ev("n1", "n", "2024-01-05T00:00:00Z", Join("silver-year")),
      Ev("n2", "n", "2024-01-06T00:00:00Z", Join("gold-month")),
      // Both due at 02-01T12:00: the grace review first (February: 0
      // purchases, H -> member; the effective tier stays gold: no change),
      // then the plan end: gold -> member, one PLAN_ENDED.
      Tick("t1", "2024-02-01T12:00:00Z"),
      Ev("j5", "m", "2024-02-01T13:00:00Z", RedeemReward("lounge")),
      // The plan end at 2025-02-05T00:00 runs before this event.
      Ev("n3", "n", "2025-02-05T00:00:00Z", Adjust(1)),
  };
  return c;
}

EdgeCase PromotionMultipliersFloorStageByStageThenAddBonuses() {
  EdgeCase c;
  c.name = "PromotionMultipliersFloorStageByStageThenAddBonuses";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 12000 }
    promotions { promotion_id: "a" multiplier_bp: 15000 }
    promotions {
      promotion_id: "b"
      days_of_week: WEDNESDAY
      multiplier_bp: 15000
      bonus_points: 3
      reward_id: "mug"
    }
    promotions { promotion_id: "c" category: "coffee" bonus_points: 1 }
    rewards { reward_id: "mug" cost_points: 0 }
  )pb";
  c.lines = {
      // Wednesday: 13 -> × 1.2 = 15 (15.6) -> a: 22 (22.5) -> b: 33 -> + 3 = 36
      // (one product 13 × 1.2 × 1.5 × 1.5 = 35.1 would give 38).
      Ev("e1", "m", "2024-01-03T10:00:00Z", Purchase("A", 1300)),
      // Thursday, coffee: 13 -> 15 -> a: 22 -> c (multiplier 0 = 1×): 22 -> +1.
      Ev("e2", "n", "2024-01-04T10:00:00Z", PurchaseItems("A", {{"coffee", 1, 1300}})),
  };
  return c;
}

EdgeCase PunchCardsCarryStampsAndFillMoreThanOnce() {
  EdgeCase c;
  c.name = "PunchCardsCarryStampsAndFillMoreThanOnce";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    punch_cards {
      card_id: "coffee-card"
      category: "coffee"
      stamps_required: 3
      reward_id: "free-coffee"
    }
    punch_cards { card_id: "food-card" category: "food" stamps_required: 2 reward_id: "cake" }
    rewards { reward_id: "free-coffee" cost_points: 0 }
    rewards { reward_id: "cake" cost_points: 0 }
  )pb";
  c.lines = {
      // coffee 2, food 1.
      Ev("e1", "m", "2024-01-01T10:00:00Z",
         PurchaseItems("A", {{"coffee", 2, 200}, {"food", 1, 100}})),
      // coffee 2 + 2 + 3 = 7: two free coffees, 1 carried.
      Ev("e2", "m", "2024-01-01T11:00:00Z",
         PurchaseItems("B", {{"coffee", 2, 200}, {"coffee", 3, 300}})),
      Ev("e3", "m", "2024-01-01T12:00:00Z", Purchase("C", 500)),  // no items: no stamps
      // food 2: one cake, 0 left (the card stays listed).
      Ev("e4", "m", "2024-01-01T13:00:00Z", PurchaseItems("D", {{"food", 1, 100}})),
      Ev("e5", "n", "2024-01-01T13:00:00Z", PurchaseItems("A", {{"merch", 4, 100}})),
  };
  return c;
}

EdgeCase RandomRewardsDrawWithTheSeedAndCapPerLocalDay() {
  EdgeCase c;
  c.name = "RandomRewardsDrawWithTheSeedAndCapPerLocalDay";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "America/New_York"
    random_seed: "seed"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 1 max_per_local_day: 1 }
    random_rewards {
      rule_id: "r"
      on: PURCHASE
      probability_ppm: 450000
      reward_id: "gift"
      bonus_points: 4
      max_per_member_per_local_day: 2
    }
    random_rewards {
      rule_id: "luck"
      on: ENGAGEMENT
      category: "like"
      probability_ppm: 500000
      bonus_points: 10
    }
    random_rewards {
      rule_id: "always"
      on: PURCHASE
      category: "coffee"
      probability_ppm: 1000000
      reward_id: "cup"
    }
    rewards { reward_id: "gift" cost_points: 0 }
    rewards { reward_id: "cup" cost_points: 0 }
  )pb";
  // u mod 10^6 of HMAC-SHA256("seed", rule "\0" event_id), computed with
  // `printf 'r\0e1' | openssl dgst -sha256 -hmac seed`:
  //   r:    e1 432442, e2 83546, e3 117951, e8 69582 (< 450000: win)
  //   luck: e2 474409, e3 282173, e4 101444 (< 500000: win), e6 991055
  c.lines = {
      // Local day 2024-01-10 (EST): two paying wins of r: 2 × (gift + 4).
      Ev("e1", "m", "2024-01-10T15:00:00Z", Purchase("A", 1000)),
      Ev("e2", "m", "2024-01-10T20:00:00Z", Purchase("B", 1000)),
      // 23:59 local, still 01-10: r wins but the cap (2) refuses it.
      Ev("e3", "m", "2024-01-11T04:59:00Z", Purchase("C", 1000)),
      // 00:00 local 01-11: like 1 + luck 10.
      Ev("e4", "m", "2024-01-11T05:00:00Z", Engage("like")),
      // 01-11: r pays again (4 + gift); "always" gives a cup (coffee item).
      Ev("e8", "m", "2024-01-11T05:01:00Z", PurchaseItems("D", {{"coffee", 1, 1000}})),
      // n: a like (luck loses), a capped like (luck would win: not drawn),
      // the next day a like that wins luck.
      Ev("e6", "n", "2024-01-10T15:00:00Z", Engage("like")),
      Ev("e3", "n", "2024-01-10T16:00:00Z", Engage("like")),
      Ev("e2", "n", "2024-01-11T15:00:00Z", Engage("like")),
  };
  return c;
}

EdgeCase NpsScoreKeptWhateverTheOutcome() {
  EdgeCase c;
  c.name = "NpsScoreKeptWhateverTheOutcome";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "nps" points: 0 max_per_local_day: 1 }
    engagement_rules { action: "like" points: 1 }
  )pb";
  c.lines = {
      Ev("e1", "m", "2024-01-01T10:00:00Z", Nps(7)),
      Ev("e2", "m", "2024-01-01T11:00:00Z", Nps(3)),  // DAILY_CAP, still kept
      Ev("e3", "k", "2024-01-01T11:00:00Z", R"("engagement":{"action":"nps"})"),  // 0
      Ev("e4", "z", "2024-01-01T11:00:00Z", Engage("like")),
  };
  return c;
}

EdgeCase MembershipAddsLocalCivilMonthsClampedToMonthEnd() {
  EdgeCase c;
  c.name = "MembershipAddsLocalCivilMonthsClampedToMonthEnd";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "gold" threshold: 40 earn_multiplier_bp: 15000 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 12 grace_days: 90 }
    paid_plans { plan_id: "month" tier_id: "gold" months: 1 }
    paid_plans { plan_id: "year" tier_id: "gold" months: 12 }
  )pb";
  c.lines = {
      // 01-31 11:00 CET + 1 month = 02-29 (clamped) 11:00 CET = 10:00Z.
      Ev("e1", "m", "2024-01-31T10:00:00Z", Join("month")),
      // From max(vip_until, t) = 02-29 11:00 CET: 03-29 11:00 CET = 10:00Z.
      Ev("e2", "m", "2024-02-01T00:00:00Z", Join("month")),
      // 03-29 11:00 CET + 1 month = 04-29 11:00 CEST = 09:00Z (wall time
      // kept across the DST change).
      Ev("e3", "m", "2024-02-02T00:00:00Z", Join("month")),
      // 2024-02-29 13:00 CET + 12 months = 2025-02-28 13:00 CET = 12:00Z.
      Ev("e4", "n", "2024-02-29T12:00:00Z", Join("year")),
  };
  return c;
}

EdgeCase TierBoundariesAtTheInstantOfTheReviewAndThePlanEnd() {
  EdgeCase c;
  c.name = "TierBoundariesAtTheInstantOfTheReviewAndThePlanEnd";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 1 grace_days: 10 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 1 earn_multiplier_bp: 15000 }
    tiers { tier_id: "gold" threshold: 2 earn_multiplier_bp: 20000 }
    paid_plans { plan_id: "silver-month" tier_id: "silver" months: 1 }
    paid_plans { plan_id: "gold-month" tier_id: "gold" months: 1 }
    rewards { reward_id: "lounge" cost_points: 10 min_tier_id: "gold" }
  )pb";
  c.lines = {
      // a: silver, held until 02-04T00:00.
      Ev("a1", "a", "2024-01-25T00:00:00Z", Purchase("A", 1000)),  // 10
      // At exactly held_until: the review runs first (February: 0 ->
      // member), so the purchase earns at member: 10; then 1 purchase in
      // February: silver again, held until 02-14.
      Ev("a2", "a", "2024-02-04T00:00:00Z", Purchase("B", 1000)),
      // b: gold by plan until 02-10T00:00.
      Ev("b1", "b", "2024-01-10T00:00:00Z", Join("gold-month")),
      Ev("b2", "b", "2024-01-11T00:00:00Z", Adjust(100)),
      // At exactly vip_until: the plan has ended (t < vip_until no longer
      // holds): earn at member, 10; then silver by qualification, held until
      // 02-20.
      Ev("b3", "b", "2024-02-10T00:00:00Z", Purchase("A", 1000)),
      Ev("b4", "b", "2024-02-10T00:00:00Z", RedeemReward("lounge")),  // silver: refused
      // c: gold by 2 purchases (10 at member, 15 at silver), held until
      // 01-20T01:00; a silver plan below it changes nothing (H = Q: held
      // until 01-20T02:00, then 01-20T03:00 after c4).
      Ev("c1", "c", "2024-01-10T00:00:00Z", Purchase("A", 1000)),
      Ev("c2", "c", "2024-01-10T01:00:00Z", Purchase("B", 1000)),
      Ev("c3", "c", "2024-01-10T02:00:00Z", Join("silver-month")),    // until 02-10T02:00
      Ev("c4", "c", "2024-01-10T03:00:00Z", RedeemReward("lounge")),  // gold: 25 - 10
      // c's reviews: 01-20T03:00 and 01-30T03:00 renew (January: 2), the one
      // at 02-09T03:00 downgrades H to member: effective gold -> silver (the
      // plan), GRACE_ENDED; the plan end at 02-10T02:00: silver -> member.
      // All in one MATURED outcome of the tick.
      Tick("t1", "2024-02-10T02:00:00Z"),
  };
  return c;
}

EdgeCase RefundShrinksThePurchasesMonthNotTheRefundsMonth() {
  EdgeCase c;
  c.name = "RefundShrinksThePurchasesMonthNotTheRefundsMonth";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: SPEND_MINOR window_months: 2 grace_days: 5 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "plus" threshold: 1000 earn_multiplier_bp: 10000 }
  )pb";
  c.lines = {
      Ev("r1", "m", "2024-01-10T00:00:00Z", Purchase("A", 1000)),  // January 1000: plus
      // Reviews every 5 days renew (Jan–Feb: 1000); the event: 2200.
      Ev("r2", "m", "2024-02-20T00:00:00Z", Purchase("B", 1200)),
      // January's bucket loses A: Jan 0 + Feb 1200 = 1200, held until 02-26.
      Ev("r3", "m", "2024-02-21T00:00:00Z", Refund("A", 1000)),
      // Reviews in March see Feb–Mar = 1200 (had the refund been taken from
      // February, 200: a downgrade at 03-02).
      Ev("r4", "m", "2024-03-20T00:00:00Z", Adjust(1)),
  };
  return c;
}

EdgeCase RandomRewardOnAnyAppliedEngagementEvenWithZeroPoints() {
  EdgeCase c;
  c.name = "RandomRewardOnAnyAppliedEngagementEvenWithZeroPoints";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    random_seed: "seed"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "nps" points: 0 }
    engagement_rules { action: "like" points: 1 max_per_local_day: 1 }
    random_rewards { rule_id: "any" on: ENGAGEMENT probability_ppm: 600000 bonus_points: 4 }
  )pb";
  // u mod 10^6 for rule "any": e1 465837, e3 596562, e5 508814 (< 600000:
  // win), e2 771948, e4 821128.
  c.lines = {
      Ev("e1", "m", "2024-01-01T10:00:00Z", Nps(8)),           // 0 points, wins 4
      Ev("e3", "m", "2024-01-01T11:00:00Z", Engage("like")),   // 1, wins 4
      Ev("e5", "m", "2024-01-01T12:00:00Z", Engage("like")),   // DAILY_CAP: no draw
      Ev("e1", "n", "2024-01-01T10:00:00Z", Engage("share")),  // NO_RULE: no draw
      Ev("e3", "n", "2024-01-01T10:00:00Z", Engage("share")),
  };
  return c;
}

EdgeCase MembershipEndingOnSkippedOrRepeatedWallTimes() {
  EdgeCase c;
  c.name = "MembershipEndingOnSkippedOrRepeatedWallTimes";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 1 grace_days: 10 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "gold" threshold: 100 earn_multiplier_bp: 15000 }
    paid_plans { plan_id: "one" tier_id: "gold" months: 1 }
    paid_plans { plan_id: "two" tier_id: "gold" months: 2 }
  )pb";
  c.lines = {
      // 01-31 02:30 CET + 2 months = 03-31 02:30, skipped that night: as
      // absl::FromCivil maps it, the transition, 01:00Z (03:00 CEST).
      Ev("e1", "m", "2024-01-31T01:30:00Z", Join("two")),
      // 09-27 02:30 CEST + 1 month = 10-27 02:30, which happens twice: the
      // first one, 00:30Z (CEST).
      Ev("e2", "n", "2024-09-27T00:30:00Z", Join("one")),
      // Both plans end by these events.
      Ev("e3", "m", "2024-03-31T01:00:00Z", Adjust(1)),
      Ev("e4", "n", "2024-10-27T00:30:00Z", Adjust(1)),
  };
  return c;
}

EdgeCase StackedPlansKeepTheHigherTierUntilTheLastEnd() {
  EdgeCase c;
  c.name = "StackedPlansKeepTheHigherTierUntilTheLastEnd";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 1 grace_days: 10 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 100 earn_multiplier_bp: 15000 }
    tiers { tier_id: "gold" threshold: 200 earn_multiplier_bp: 20000 }
    paid_plans { plan_id: "gold-month" tier_id: "gold" months: 1 }
    paid_plans { plan_id: "silver-year" tier_id: "silver" months: 12 }
  )pb";
  c.lines = {
      Ev("q1", "q", "2024-01-01T00:00:00Z", Join("gold-month")),  // gold until 02-01
      // A cheaper plan while the gold one runs: vip_until = 02-01 + 12 months
      // = 2025-02-01, and the paid tier "stays the higher one": gold.
      Ev("q2", "q", "2024-01-15T00:00:00Z", Join("silver-year")),
      Ev("q3", "q", "2024-06-01T00:00:00Z", Adjust(1)),
      Ev("q4", "q", "2025-02-01T00:00:00Z", Adjust(1)),  // the plan has ended
      // 2099-06-01 + 12 months >= 2100-01-01: refused, nothing changes.
      Ev("v1", "v", "2099-06-01T00:00:00Z", Join("silver-year")),
  };
  return c;
}

// --- Lots (SPEC §6 Lots) -----------------------------------------------------
// Expiry days: a lot available at a expires at the first instant of the local
// day after the one containing a + days × 86400 s; pending purchase points
// become available at the first instant of the local day after the one
// containing t + pending_days × 86400 s.

EdgeCase LotsSpendByExpiryAndExpireAtTheNextLocalDayStart() {
  EdgeCase c;
  c.name = "LotsSpendByExpiryAndExpireAtTheNextLocalDayStart";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    pending_days: 10
    expiration { mode: FIXED_DAYS days: 30 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 5 }
  )pb";
  c.lines = {
      // Lot 1: 2000 × 10000 × 1 / (100 × 10000) = 20 points. 01-01 + 10 d =
      // 01-11T00:00 -> pending until the next day's start, 01-12T00:00;
      // 01-12 + 30 d = 02-11T00:00 -> expires 02-12T00:00.
      Ev("e1", "m", "2024-01-01T00:00:00Z", Purchase("A", 2000)),
      // Lot 2: 5 points, available at once; 01-05 + 30 d = 02-04 -> expires
      // 02-05T00:00.
      Ev("e2", "m", "2024-01-05T00:00:00Z", Engage("like")),
      // Lot 3: 5 points, expires 02-06T00:00.
      Ev("e3", "m", "2024-01-06T00:00:00Z", Engage("like")),
      // Lot 1 is released at 01-12T00:00 first (no available lot expires on
      // 02-12: it becomes that lot, id 1). Spend 7 by expires_at: lot 2
      // (02-05) 5 -> 0, gone; lot 3 (02-06) 5 -> 3; lot 1 (02-12, created
      // first) untouched: 20.
      Ev("e4", "m", "2024-01-12T00:00:00Z", RedeemPoints(7)),
      // Nothing is due: lot 3 expires at 02-06T00:00, not at 01-06 + 30 d =
      // 02-05T00:00. No MATURED outcome.
      Tick("t1", "2024-02-05T12:00:00Z"),
      // Lot 3 expires: 3. Lot 1 expires at 02-12: 20.
      Tick("t2", "2024-02-06T00:00:00Z"),
      Tick("t3", "2024-02-12T00:00:00Z"),
  };
  return c;
}

EdgeCase PendingPointsFollowTickTimeAndStaleTicksChangeNothing() {
  EdgeCase c;
  c.name = "PendingPointsFollowTickTimeAndStaleTicksChangeNothing";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    pending_days: 2
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
  )pb";
  c.lines = {
      Tick("t1", "2024-03-10T00:00:00Z"),
      // Occurred 03-01 but t = max(03-01, tick_time 03-10) = 03-10: 5 points;
      // 03-10 + 2 d = 03-12T00:00 -> pending until 03-13T00:00 (not 03-03).
      Ev("e1", "m", "2024-03-01T00:00:00Z", Purchase("A", 500)),
      // Not due (t + 2 d exactly would be): APPLIED, no MATURED outcome.
      Tick("t2", "2024-03-12T00:00:00Z"),
      // now < tick_time and now = tick_time: IGNORED:STALE_TICK.
      Tick("t3", "2024-03-11T00:00:00Z"),
      Tick("t4", "2024-03-12T00:00:00Z"),
      // The release: one MATURED outcome for m, 0 points, RELEASE of lot 1.
      Tick("t5", "2024-03-13T00:00:00Z"),
  };
  return c;
}

EdgeCase RoundToMonthEndUsesLocalMonthAcrossDst() {
  EdgeCase c;
  c.name = "RoundToMonthEndUsesLocalMonthAcrossDst";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    expiration { mode: FIXED_DAYS days: 30 round_to_month_end: true }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 10 }
  )pb";
  c.lines = {
      // a = 2024-01-31T23:30Z (Feb 1 00:30 CET). a + 30 d = 2024-03-01T23:30Z
      // = Mar 2 00:30 CET, in local March, so the lot expires at the first
      // instant of local April: 2024-04-01T00:00 CEST = 2024-03-31T22:00Z.
      // (In UTC it would be 2024-04-01T00:00Z.)
      Ev("e1", "m", "2024-01-31T23:30:00Z", Engage("like")),
      Tick("t1", "2024-03-31T21:59:59Z"),
      Tick("t2", "2024-03-31T22:00:00Z"),
  };
  return c;
}

EdgeCase FixedDaysExpireAtLocalDayStartsAcrossDst() {
  EdgeCase c;
  c.name = "FixedDaysExpireAtLocalDayStartsAcrossDst";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    expiration { mode: FIXED_DAYS days: 10 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 10 }
  )pb";
  // Paris: CET (+1) until 2024-03-31T01:00Z, CEST (+2) until
  // 2024-10-27T01:00Z, then CET.
  c.lines = {
      // a: 03-25 13:00 CET; + 10 × 86400 s = 04-04T12:00Z = 04-04 14:00 CEST:
      // expires at 04-05 00:00 CEST = 2024-04-04T22:00Z.
      Ev("a1", "a", "2024-03-25T12:00:00Z", Engage("like")),
      // b: 03-22 23:30 CET; + 10 × 86400 s = 04-01T22:30Z = 04-02 00:30 CEST
      // (the hour lost pushes it past midnight): expires at 04-03 00:00 CEST
      // = 2024-04-02T22:00Z. (Ten calendar days, 04-01 23:30, would give
      // 04-01T22:00Z.) Lot 1.
      Ev("b1", "b", "2024-03-22T22:30:00Z", Engage("like")),
      // b: 03-23 11:00 CET, another local day; + 10 d = 04-02T10:00Z = 04-02
      // 12:00 CEST: the same expiry, 04-02T22:00Z, so the same lot 1: 20.
      Ev("b2", "b", "2024-03-23T10:00:00Z", Engage("like")),
      Tick("t1", "2024-04-01T22:00:00Z"),  // nothing
      Tick("t2", "2024-04-02T21:59:59Z"),  // nothing
      Tick("t3", "2024-04-02T22:00:00Z"),  // b's lot 1: 20
      Tick("t4", "2024-04-04T21:59:59Z"),  // nothing (a + 10 d was 12:00Z)
      Tick("t5", "2024-04-04T22:00:00Z"),  // a's lot 1: 10
      // c: 10-21 00:30 CEST; + 10 × 86400 s = 10-30T22:30Z = 10-30 23:30 CET
      // (the hour gained keeps it before midnight): expires at 10-31 00:00
      // CET = 2024-10-30T23:00Z. (Ten calendar days: 10-31T23:00Z.)
      Ev("c1", "c", "2024-10-20T22:30:00Z", Engage("like")),
      Tick("t6", "2024-10-30T22:59:59Z"),  // nothing
      Tick("t7", "2024-10-30T23:00:00Z"),  // c's lot 1: 10
  };
  return c;
}

EdgeCase PendingReleasedAtTheFirstInstantOfTheNextLocalDay() {
  EdgeCase c;
  c.name = "PendingReleasedAtTheFirstInstantOfTheNextLocalDay";
  c.program = R"pb(
    program_id: "p"
    currency: "CLP"
    timezone: "America/Santiago"
    earn { points: 1 per_minor: 100 }
    pending_days: 1
    expiration { mode: FIXED_DAYS days: 1 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
  )pb";
  // Santiago: -04 until 2024-09-08T04:00Z, when local midnight is skipped
  // (09-07 23:59:59 -04 is followed by 09-08 01:00 -03): the first instant of
  // local 09-08 is 2024-09-08T04:00Z.
  c.lines = {
      // n: 09-04 23:30 -04, 20 points. t + 1 d = 09-05 23:30 -04: pending until
      // 09-06 00:00 -04 = 2024-09-06T04:00Z (not the UTC midnight). Then
      // a + 1 d = 09-07 00:00 -04, local 09-07: expires at the first instant
      // of 09-08, 2024-09-08T04:00Z.
      Ev("n1", "n", "2024-09-05T03:30:00Z", Purchase("B", 2000, "CLP")),
      // m: 09-06 11:00 -04, 10 points. t + 1 d = 09-07 11:00 -04: pending
      // until the first instant of 09-08, 2024-09-08T04:00Z (01:00 -03).
      // Then a + 1 d = 09-09T04:00Z = 09-09 01:00 -03: expires at 09-10 00:00
      // -03 = 2024-09-10T03:00Z.
      Ev("m1", "m", "2024-09-06T15:00:00Z", Purchase("A", 1000, "CLP")),
      Tick("t1", "2024-09-06T03:59:59Z"),  // nothing
      Tick("t2", "2024-09-06T04:00:00Z"),  // n released
      Tick("t3", "2024-09-08T03:59:59Z"),  // nothing
      Tick("t4", "2024-09-08T04:00:00Z"),  // m released; n's lot expires: 20
      Tick("t5", "2024-09-10T02:59:59Z"),  // nothing
      Tick("t6", "2024-09-10T03:00:00Z"),  // m's lot expires: 10
  };
  return c;
}

EdgeCase PurchasesOfOneDayShareOneLot() {
  EdgeCase c;
  c.name = "PurchasesOfOneDayShareOneLot";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    pending_days: 1
    expiration { mode: FIXED_DAYS days: 30 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 10 }
  )pb";
  c.lines = {
      // 01-10 + 1 d = 01-11: pending until 01-12T00:00; 01-12 + 30 d = 02-11:
      // expires 02-12T00:00. Lot 1: 10, then 20 more (the same key): 30.
      Ev("p1", "m", "2024-01-10T08:00:00Z", Purchase("A", 1000)),
      Ev("p2", "m", "2024-01-10T20:00:00Z", Purchase("B", 2000)),
      // 01-11T01:00 + 1 d = 01-12T01:00: pending until 01-13T00:00, expires
      // 02-13T00:00. Lot 2: 5.
      Ev("p3", "m", "2024-01-11T01:00:00Z", Purchase("C", 500)),
      // Lot 1 is released at 01-12T00:00 (it becomes the available lot of
      // 02-12). The like: 01-12T10:00 + 30 d = 02-11T10:00, expires
      // 02-12T00:00: into lot 1, 40.
      Ev("e4", "m", "2024-01-12T10:00:00Z", Engage("like")),
      // A positive adjustment: into lot 1 too, 47.
      Ev("e5", "m", "2024-01-12T11:00:00Z", Adjust(7)),
      Tick("t1", "2024-01-13T00:00:00Z"),  // lot 2 released: available 52
      Tick("t2", "2024-02-12T00:00:00Z"),  // lot 1 expires: 47
      Tick("t3", "2024-02-13T00:00:00Z"),  // lot 2 expires: 5
  };
  return c;
}

EdgeCase RefundsClawBackFromThePurchasesLotFirst() {
  EdgeCase c;
  c.name = "RefundsClawBackFromThePurchasesLotFirst";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    pending_days: 2
    expiration { mode: FIXED_DAYS days: 30 round_to_month_end: true }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 10 }
  )pb";
  // Purchases of 01-10: + 2 d = 01-12 -> pending until 01-13T00:00;
  // 01-13 + 30 d = 02-12, in February -> expire 03-01T00:00. Likes of
  // 2023-12-05: + 30 d = 01-04 -> expire 02-01T00:00; likes of 01-10 to
  // 01-14: + 30 d in February -> expire 03-01T00:00.
  c.lines = {
      // a: lot 1 (available, 02-01): 10.
      Ev("a0", "a", "2023-12-05T10:00:00Z", Engage("like")),
      // a: lot 2 (pending, 01-13, 03-01): A 100, then B 50 (the same lot).
      Ev("a1", "a", "2024-01-10T10:00:00Z", Purchase("A", 10000)),
      Ev("a2", "a", "2024-01-10T12:00:00Z", Purchase("B", 5000)),
      // a: lot 3 (available, 03-01): 10.
      Ev("a3", "a", "2024-01-10T14:00:00Z", Engage("like")),
      // Half of A: floor(100 × 5000 / 10000) = 50, from A's lot, pending lot
      // 2: 150 -> 100 (by expiry it would have taken lots 1 and 3 and 30 of
      // debt). Pending 100, available 20.
      Ev("a4", "a", "2024-01-11T00:00:00Z", Refund("A", 5000)),
      // b: lot 1 (pending, 01-13, 03-01): 20. All of A: 20 from lot 1, which
      // disappears without a RELEASE. C, the same day: the same key, but a
      // new lot, 2: 10.
      Ev("b1", "b", "2024-01-10T10:00:00Z", Purchase("A", 2000)),
      Ev("b2", "b", "2024-01-10T11:00:00Z", Refund("A", 2000)),
      Ev("b3", "b", "2024-01-10T12:00:00Z", Purchase("C", 1000)),
      // c: lot 1 (available, 03-01): 10; lot 2 (pending, 01-13, 03-01): A 20.
      Ev("c0", "c", "2024-01-10T10:00:00Z", Engage("like")),
      Ev("c1", "c", "2024-01-10T11:00:00Z", Purchase("A", 2000)),
      // Releases: a's lot 2 (100) merges into lot 3, the available lot of
      // 03-01, which keeps its id: 110. b's lot 2 becomes the available lot
      // of 03-01 (none yet), keeping its id. c's lot 2 merges into lot 1:
      // 30. Each a MATURED outcome of 0 points with one RELEASE.
      Tick("t1", "2024-01-13T00:00:00Z"),
      // c: spend 30: lot 1 is empty and disappears. A like: expires 03-01, a
      // new lot 3 (the same key as lot 1): 10.
      Ev("c2", "c", "2024-01-14T00:00:00Z", RedeemPoints(30)),
      Ev("c3", "c", "2024-01-14T01:00:00Z", Engage("like")),
      // Half of A: 10. A's lot 2 merged into lot 1, which is gone: no
      // purchase's lot step (lot 3 has the same key, but another id); by
      // expiry: lot 3 -> 0. (Lot 3 is also the first by expiry, so the
      // numbers would be the same with it as A's lot: the model's
      // rule_hits say which rule it used.)
      Ev("c4", "c", "2024-01-14T02:00:00Z", Refund("A", 1000)),
      // a: all of B: 50. B's lot 2 merged into lot 3, which exists: 110 -> 60
      // (by expiry it would have taken lot 1's 10 first).
      Ev("a5", "a", "2024-01-20T00:00:00Z", Refund("B", 5000)),
      // a's lot 1 expires with 10 (0 had the refund taken it by expiry).
      Tick("t2", "2024-02-01T00:00:00Z"),
      // a's lot 3 expires with 60, b's lot 2 with 10.
      Tick("t3", "2024-03-01T00:00:00Z"),
  };
  return c;
}

EdgeCase DebtIsPaidByCreditsAndReleases() {
  EdgeCase c;
  c.name = "DebtIsPaidByCreditsAndReleases";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    pending_days: 2
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 10 }
  )pb";
  // Nothing expires: every available point is in the one never-expiring
  // available lot, when one holds points.
  c.lines = {
      // Nothing to take: debt 25 (adjusted −25: debt counts as taken).
      Ev("m1", "m", "2024-05-01T00:00:00Z", Adjust(-25)),
      // 10 points into a new lot, 1; the debt takes all of them: lot 1 holds
      // 0 and is gone. Debt 15.
      Ev("m2", "m", "2024-05-01T01:00:00Z", Engage("like")),
      // 30 points pending until 05-04T00:00 (05-01T02:00 + 2 d = 05-03):
      // lot 2. A pending lot pays no debt.
      Ev("m3", "m", "2024-05-01T02:00:00Z", Purchase("A", 3000)),
      // A new lot, 3 (lot 1 is gone): the debt takes all 10. Debt 5.
      Ev("m4", "m", "2024-05-01T03:00:00Z", Engage("like")),
      // n: debt 50; 20 points pending until 05-04T00:00, lot 1.
      Ev("n1", "n", "2024-05-01T00:00:00Z", Adjust(-50)),
      Ev("n2", "n", "2024-05-01T01:00:00Z", Purchase("A", 2000)),
      // Not due (t + 2 d exactly would be).
      Tick("t1", "2024-05-03T02:00:00Z"),
      // m's lot 2: 5 pay the debt, 25 stay; it becomes the available lot,
      // keeping id 2. n's lot 1: the debt takes all 20 (debt 30); a RELEASE
      // all the same, and the lot is gone.
      Tick("t2", "2024-05-04T00:00:00Z"),
      // m: into lot 2: 35.
      Ev("m5", "m", "2024-05-04T01:00:00Z", Engage("like")),
      // n: a new lot, 2; the debt takes all 10: debt 20.
      Ev("n3", "n", "2024-05-04T01:00:00Z", Engage("like")),
      // n: all of A, 20: A's lot 1 is gone (the debt took it at its release,
      // nothing merged): nothing to take anywhere, debt 40.
      Ev("n4", "n", "2024-05-04T02:00:00Z", Refund("A", 2000)),
  };
  return c;
}

EdgeCase SameInstantLotMaturitiesApplyByLotId() {
  EdgeCase c;
  c.name = "SameInstantLotMaturitiesApplyByLotId";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    pending_days: 40
    expiration { mode: FIXED_DAYS days: 30 round_to_month_end: true }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    engagement_rules { action: "like" points: 10 }
  )pb";
  // Purchases of 01-20: + 40 d = 02-29 -> pending until 03-01T00:00;
  // 03-01 + 30 d = 03-31, in March -> expire 04-01T00:00. Likes of 01-05 and
  // 01-25: + 30 d in February -> expire 03-01T00:00.
  c.lines = {
      // x: the pending lot first (1), then the available one (2).
      Ev("x1", "x", "2024-01-20T12:00:00Z", Purchase("A", 1000)),
      Ev("x2", "x", "2024-01-25T12:00:00Z", Engage("like")),
      // y: the available lot first (1), then the pending one (2).
      Ev("y1", "y", "2024-01-05T12:00:00Z", Engage("like")),
      Ev("y2", "y", "2024-01-20T12:00:00Z", Purchase("A", 2000)),
      // Both due at 03-01T00:00, by lot id: x: RELEASE of 1 (it becomes the
      // available lot of 04-01), then EXPIRE of 2 (10); y: EXPIRE of 1 (10),
      // then RELEASE of 2.
      Tick("t1", "2024-03-01T00:00:00Z"),
  };
  return c;
}

EdgeCase TicksReportMaturedMembersAndTierChangesRideInOutcomes() {
  EdgeCase c;
  c.name = "TicksReportMaturedMembersAndTierChangesRideInOutcomes";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    pending_days: 1
    tier_qualification { metric: PURCHASE_COUNT window_months: 2 grace_days: 30 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 1 earn_multiplier_bp: 10000 perks: "free_refill" }
    tiers {
      tier_id: "gold"
      threshold: 2
      earn_multiplier_bp: 10000
      perks: "lounge"
      perks: "priority"
    }
    paid_plans { plan_id: "silver-month" tier_id: "silver" months: 1 }
    paid_plans { plan_id: "gold-month" tier_id: "gold" months: 1 }
  )pb";
  // Every purchase earns 10 points, pending until the start of the day after
  // the next. One purchase in the window (this month and the one before)
  // holds silver, two gold, for 30 days after the evaluation.
  c.lines = {
      // down: silver (QUALIFIED in this outcome), held until 01-15.
      Ev("down1", "down", "2023-12-16T00:00:00Z", Purchase("A", 1000)),
      // late, mix: silver, held until 01-19.
      Ev("late1", "late", "2023-12-20T00:00:00Z", Purchase("A", 1000)),
      Ev("mix1", "mix", "2023-12-20T00:00:00Z", Purchase("A", 1000)),
      // ps: silver by plan until 02-14T00:00 (PLAN_STARTED).
      Ev("ps0", "ps", "2024-01-14T00:00:00Z", Join("silver-month")),
      // pe: gold by plan until 02-15T00:00 (PLAN_STARTED).
      Ev("pe1", "pe", "2024-01-15T00:00:00Z", Join("gold-month")),
      // rn: silver, held until 02-15T00:00.
      Ev("rn1", "rn", "2024-01-16T00:00:00Z", Purchase("A", 1000)),
      // ps: one purchase: H = silver (no change: the plan's tier already);
      // two: gold (QUALIFIED), held until 02-19T01:00. Both into lot 1
      // (pending until 01-22).
      Ev("ps1", "ps", "2024-01-20T00:00:00Z", Purchase("A", 1000)),
      Ev("ps2", "ps", "2024-01-20T01:00:00Z", Purchase("B", 1000)),
      // MATURED: down (RELEASE 12-18; review 01-15: Dec–Jan = 1, renewed to
      // 02-14), late and mix (RELEASE 12-22; review 01-19 renewed to 02-18),
      // ps (RELEASE 01-22), rn (RELEASE 01-18). pe: nothing due.
      Tick("t0", "2024-02-01T00:00:00Z"),
      // idle: 5 points that never expire; nothing will be due.
      Ev("idle1", "idle", "2024-02-10T00:00:00Z", Adjust(5)),
      // rel: silver (QUALIFIED), held until 03-14T12:00; pending until
      // 02-15T00:00.
      Ev("rel1", "rel", "2024-02-13T12:00:00Z", Purchase("A", 1000)),
      // MATURED: down (review 02-14: Jan–Feb = 0: silver -> member,
      // GRACE_ENDED at 02-14), pe (plan end: gold -> member, PLAN_ENDED),
      // rel (RELEASE 02-15), rn (review 02-15: Jan–Feb = 1, renewed to
      // 03-16: no tier change, but tier_held_until changed). Not ps: its plan
      // ends at 02-14, but it holds gold, so nothing public changes. Not
      // idle, late, mix: nothing due.
      Tick("t1", "2024-02-15T00:00:00Z"),
      // late: the review at 02-18 (Jan–Feb = 0: GRACE_ENDED at 02-18) rides
      // in this event's outcome; 1 point into lot 1 (released at t0, never
      // expiring).
      Ev("late2", "late", "2024-03-20T00:00:00Z", Adjust(1)),
      // mix: the same downgrade, then the purchase (10 points, a new pending
      // lot 2) qualifies silver again (Feb–Mar = 1): both changes in this
      // outcome, the maturity's first. Held until 04-19.
      Ev("mix2", "mix", "2024-03-20T00:00:00Z", Purchase("B", 1000)),
  };
  return c;
}

const std::vector<LateOwlProbe>& LateOwlProbes() {
  // (member, occurred_at, points).
  static const auto* const kProbes = new std::vector<LateOwlProbe>{
      {"a", "2024-03-30T21:59:00Z", 10},   // Sat 22:59 CET
      {"b", "2024-03-30T22:00:00Z", 20},   // Sat 23:00 CET
      {"c", "2024-03-31T00:59:59Z", 20},   // Sun 01:59:59 CET, the day after Sat
      {"d", "2024-03-31T01:00:00Z", 10},   // Sun 03:00 CEST (02:00–03:00 skipped)
      {"e", "2024-03-29T22:30:00Z", 10},   // Fri 23:30: Friday not listed
      {"f", "2024-03-30T00:30:00Z", 10},   // Sat 01:30: the day before is Friday
      {"g", "2024-03-31T21:30:00Z", 10},   // Sun 23:30 CEST
      {"h", "2024-10-27T00:30:00Z", 20},   // Sun 02:30 CEST
      {"i", "2024-10-27T01:30:00Z", 20},   // Sun 02:30 CET (the repeated hour)
      {"j", "2024-10-27T01:59:59Z", 20},   // Sun 02:59:59 CET
      {"k", "2024-10-27T02:00:00Z", 10},   // Sun 03:00 CET
      {"l", "2024-10-26T21:00:00Z", 20},   // Sat 23:00 CEST
      {"l0", "2024-10-26T20:59:00Z", 10},  // Sat 22:59 CEST
  };
  return *kProbes;
}

const std::vector<SpringProbe>& SpringProbes() {
  // spring: food, [2024-02-29T23:00Z, 2024-03-01T23:00Z), +7 and a cake.
  static const auto* const kProbes = new std::vector<SpringProbe>{
      {"s1", "2024-02-29T22:59:59Z", "food", 10},   {"s2", "2024-02-29T23:00:00Z", "food", 17},
      {"s3", "2024-03-01T22:59:59Z", "food", 17},   {"s4", "2024-03-01T23:00:00Z", "food", 10},
      {"s5", "2024-03-01T12:00:00Z", "coffee", 10},  // no food item
  };
  return *kProbes;
}

EdgeCase PromotionsPastMidnightAcrossDstAndValidityBounds() {
  EdgeCase c;
  c.name = "PromotionsPastMidnightAcrossDstAndValidityBounds";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "Europe/Paris"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    promotions {
      promotion_id: "late-owl"
      days_of_week: SATURDAY
      start_local: "23:00"
      end_local: "03:00"
      multiplier_bp: 20000
    }
    promotions {
      promotion_id: "spring"
      category: "food"
      valid_from: "2024-03-01T00:00:00+01:00"
      valid_until: "2024-03-02T00:00:00+01:00"
      bonus_points: 7
      reward_id: "cake"
    }
    rewards { reward_id: "cake" cost_points: 0 }
  )pb";
  // One member per purchase of 10 base points.
  for (const auto& [member, at, points] : LateOwlProbes()) {
    c.lines.push_back(Ev("e-" + member, member, at, Purchase("A", 1000)));
  }
  for (const auto& [member, at, category, points] : SpringProbes()) {
    c.lines.push_back(Ev("e-" + member, member, at, PurchaseItems("A", {{category, 1, 1000}})));
  }
  return c;
}

const std::vector<WindowProbe>& PromotionWindowProbes() {
  // 2024-01-01 is a Monday. "night": every day 22:00–02:00; "monday-noon":
  // end = start, so it runs 24 h, Monday 12:00 to Tuesday 12:00.
  static const auto* const kProbes = new std::vector<WindowProbe>{
      {"2024-01-01T11:59:00Z", 10}, {"2024-01-01T12:00:00Z", 20}, {"2024-01-01T23:00:00Z", 21},
      {"2024-01-02T01:59:00Z", 21}, {"2024-01-02T02:00:00Z", 20}, {"2024-01-02T11:59:00Z", 20},
      {"2024-01-02T12:00:00Z", 10},
  };
  return *kProbes;
}

EdgeCase PromotionWindowsWithoutDaysAndWithEqualEnds() {
  EdgeCase c;
  c.name = "PromotionWindowsWithoutDaysAndWithEqualEnds";
  c.program = R"pb(
    program_id: "p"
    currency: "EUR"
    timezone: "UTC"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    promotions { promotion_id: "night" start_local: "22:00" end_local: "02:00" bonus_points: 1 }
    promotions {
      promotion_id: "monday-noon"
      days_of_week: MONDAY
      start_local: "12:00"
      end_local: "12:00"
      bonus_points: 10
    }
  )pb";
  for (const auto& [at, points] : PromotionWindowProbes()) {
    c.lines.push_back(Ev("e", at, at, Purchase("A", 1000)));
  }
  return c;
}

std::vector<EdgeCase> AllEdgeCases() {
  return {
      TiersQualifyHoldAndDowngradeAtGraceReview(),
      SpendMetricShrinksWithRefundsInThePurchasesMonth(),
      EarnedPointsMetricCountsEngagementsNotAdjustmentsAndRefundsShrinkIt(),
      PaidPlansSetTheEffectiveTierAndEndAfterTheGraceReview(),
      PromotionMultipliersFloorStageByStageThenAddBonuses(),
      PunchCardsCarryStampsAndFillMoreThanOnce(),
      RandomRewardsDrawWithTheSeedAndCapPerLocalDay(),
      NpsScoreKeptWhateverTheOutcome(),
      MembershipAddsLocalCivilMonthsClampedToMonthEnd(),
      PromotionsPastMidnightAcrossDstAndValidityBounds(),
      TierBoundariesAtTheInstantOfTheReviewAndThePlanEnd(),
      RefundShrinksThePurchasesMonthNotTheRefundsMonth(),
      RandomRewardOnAnyAppliedEngagementEvenWithZeroPoints(),
      PromotionWindowsWithoutDaysAndWithEqualEnds(),
      MembershipEndingOnSkippedOrRepeatedWallTimes(),
      StackedPlansKeepTheHigherTierUntilTheLastEnd(),
      LotsSpendByExpiryAndExpireAtTheNextLocalDayStart(),
      PendingPointsFollowTickTimeAndStaleTicksChangeNothing(),
      RoundToMonthEndUsesLocalMonthAcrossDst(),
      FixedDaysExpireAtLocalDayStartsAcrossDst(),
      PendingReleasedAtTheFirstInstantOfTheNextLocalDay(),
      PurchasesOfOneDayShareOneLot(),
      RefundsClawBackFromThePurchasesLotFirst(),
      DebtIsPaidByCreditsAndReleases(),
      SameInstantLotMaturitiesApplyByLotId(),
      TicksReportMaturedMembersAndTierChangesRideInOutcomes(),
  };
}

}  // namespace loyalty::model
