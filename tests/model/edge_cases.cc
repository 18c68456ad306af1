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
      // Lots (no expiry, creation order): A 20, adj 100, like 5, B 5.
      // Redeem 125: A, adj, like; B's 5 is left.
      Ev("a5", "m", "2024-01-10T10:04:00Z", RedeemPoints(125)),
      // Clawback 20: A's own lot is empty, FIFO takes B's 5, 15 written
      // off. The bucket loses the clawback as computed: 30 − 20 = 10.
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
      // 01-20T01:00; a silver plan below it changes nothing.
      Ev("c1", "c", "2024-01-10T00:00:00Z", Purchase("A", 1000)),
      Ev("c2", "c", "2024-01-10T01:00:00Z", Purchase("B", 1000)),
      Ev("c3", "c", "2024-01-10T02:00:00Z", Join("silver-month")),    // until 02-10T02:00
      Ev("c4", "c", "2024-01-10T03:00:00Z", RedeemReward("lounge")),  // gold: 25 - 10
      // c's reviews: 01-20T01:00 and 01-30T01:00 renew (January: 2), the one
      // at 02-09T01:00 downgrades H to member: effective gold -> silver (the
      // plan), GRACE_ENDED; the plan end at 02-10T02:00: silver -> member.
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
  };
}

}  // namespace loyalty::model
