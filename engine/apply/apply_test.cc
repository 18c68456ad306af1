// Unit tests of the apply path with an in-memory ApplyContext: lots, FIFO,
// debt, maturities, earn arithmetic, engagement caps, redemptions, refunds.
#include "engine/apply/apply.h"

#include <map>

#include "engine/base/time.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using loyalty::v1::Event;
using loyalty::v1::LedgerEntry;
using loyalty::v1::MemberRecord;
using loyalty::v1::Outcome;

class MapContext : public ApplyContext {
 public:
  absl::StatusOr<std::optional<loyalty::v1::OrderRecord>> GetOrder(
      const MemberRecord& m, absl::string_view order_id) override {
    auto it = orders_.find(m.state().member_id() + "/" + std::string(order_id));
    if (it == orders_.end()) return std::optional<loyalty::v1::OrderRecord>();
    return std::optional<loyalty::v1::OrderRecord>(it->second);
  }
  void PutOrder(const MemberRecord& m, absl::string_view order_id,
                const loyalty::v1::OrderRecord& o) override {
    orders_[m.state().member_id() + "/" + std::string(order_id)] = o;
  }
  absl::StatusOr<int64_t> GetCounter(const MemberRecord& m, absl::string_view name) override {
    auto it = counters_.find(m.state().member_id() + "/" + std::string(name));
    return it == counters_.end() ? 0 : it->second;
  }
  void PutCounter(const MemberRecord& m, absl::string_view name, int64_t v) override {
    counters_[m.state().member_id() + "/" + std::string(name)] = v;
  }

 private:
  std::map<std::string, loyalty::v1::OrderRecord> orders_;
  std::map<std::string, int64_t> counters_;
};

constexpr char kBase[] = R"pb(
  program_id: "p"
  currency: "EUR"
  timezone: "Europe/Paris"
  random_seed: "s"
  earn { points: 1 per_minor: 100 }
  category_multipliers { category: "coffee" multiplier_bp: 20000 }
  category_multipliers { category: "gift" multiplier_bp: 0 }
  tiers { tier_id: "base" threshold: 0 earn_multiplier_bp: 12500 }
  tiers { tier_id: "gold" threshold: 10 earn_multiplier_bp: 15000 }
  tier_qualification { metric: PURCHASE_COUNT window_months: 12 }
  paid_plans { plan_id: "vip" tier_id: "gold" months: 1 }
  paid_plans { plan_id: "fifty-years" tier_id: "gold" months: 600 }
  engagement_rules { action: "like" points: 1 max_per_local_day: 2 }
  engagement_rules { action: "review" points: 20 unique_per_ref: true }
  rewards { reward_id: "coffee" cost_points: 50 }
  rewards { reward_id: "voucher" cost_points: 0 }
  rewards { reward_id: "lounge" cost_points: 5 min_tier_id: "gold" }
)pb";

class ApplyTest : public ::testing::Test {
 protected:
  void Load(const std::string& extra) {
    auto p = ParseProgramText(std::string(kBase) + extra, "test");
    ASSERT_TRUE(p.ok()) << p.status();
    program_ = std::move(*p);
    rec_ = NewMemberRecord(*program_, "m");
  }
  void SetUp() override { Load(""); }

  // Applies a JSON event body at `when` (RFC 3339), with the partition's
  // tick time `tick`; returns the outcome.
  Outcome Apply(const std::string& body, const std::string& when, UnixNanos tick = 0) {
    Event e;
    std::string json = "{\"event_id\":\"e" + std::to_string(++seq_) +
                       "\",\"program_id\":\"p\",\"member_id\":\"m\",\"occurred_at\":\"" + when +
                       "\"," + body + "}";
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &e).ok()) << json;
    MemberDelta delta;
    UnixNanos t = EffectiveTime(e, rec_, tick);
    EXPECT_TRUE(ApplyMemberEvent(*program_, e, t, &rec_, &ctx_, &delta).ok());
    last_entries_ = delta.entries;
    return delta.outcome;
  }
  Outcome Buy(int64_t amount, const std::string& when, const std::string& order = "",
              const std::string& category = "") {
    std::string id = order.empty() ? "o" + std::to_string(seq_ + 1) : order;
    std::string items = category.empty()
                            ? ""
                            : ",\"items\":[{\"category\":\"" + category +
                                  "\",\"quantity\":1,\"amount_minor\":" + std::to_string(amount) +
                                  "}]";
    return Apply("\"purchase\":{\"order_id\":\"" + id + "\",\"amount_minor\":" +
                     std::to_string(amount) + ",\"currency\":\"EUR\"" + items + "}",
                 when);
  }
  Outcome Adjust(int64_t points, const std::string& when) {
    return Apply("\"adjustment\":{\"points\":" + std::to_string(points) + ",\"reason\":\"r\"}",
                 when);
  }
  const loyalty::v1::MemberState& st() const { return rec_.state(); }
  void ExpectInvariant() {
    EXPECT_EQ(st().available_points() + st().pending_points(),
              st().lifetime_earned_points() + st().adjusted_points() - st().redeemed_points() -
                  st().expired_points() - st().clawed_back_points());
  }

  std::unique_ptr<CompiledProgram> program_;
  MemberRecord rec_;
  MapContext ctx_;
  int seq_ = 0;
  std::vector<LedgerEntry> last_entries_;
};

UnixNanos At(const char* s) { return *ParseRfc3339(s); }

TEST_F(ApplyTest, EarnUsesStagedFloorsCategoryAndTierMultipliers) {
  // coffee 333 minor: 333 * 20000 * 1 / (100 * 10000) = 6.66 -> 6; tier 6 * 1.25 = 7.5 -> 7.
  Outcome o = Buy(333, "2024-01-10T10:00:00Z", "o1", "coffee");
  EXPECT_EQ(o.status(), Outcome::APPLIED);
  EXPECT_EQ(o.points(), 7);
  // gift cards earn nothing, but the purchase still counts.
  EXPECT_EQ(Buy(10'000, "2024-01-10T11:00:00Z", "o2", "gift").points(), 0);
  EXPECT_EQ(st().purchase_count(), 2);
  EXPECT_EQ(st().spend_minor(), 10'333);
  EXPECT_EQ(st().available_points(), 7);
  EXPECT_EQ(st().version(), 2);
  ExpectInvariant();
}

TEST_F(ApplyTest, EarnOfTheLargestPurchaseStaysExactIn128Bits) {
  // 10^12 * 20000 overflows int64 before the division; the result must not.
  Outcome o = Buy(1'000'000'000'000, "2024-01-10T10:00:00Z", "big", "coffee");
  EXPECT_EQ(o.points(), 25'000'000'000);  // 2e10 * 1.25
}

TEST_F(ApplyTest, SpendingIsFifoByExpiryThenCreation) {
  Load("expiration { mode: FIXED_DAYS days: 30 }");
  Adjust(10, "2024-01-01T00:00:00Z");  // lot 1 expires 01-31
  Adjust(10, "2024-01-05T00:00:00Z");  // lot 2 expires 02-04
  Adjust(10, "2024-01-03T00:00:00Z");  // late: t = member clock 01-05, lot 3 expires 02-04
  Apply("\"redemption\":{\"points\":15}", "2024-01-06T00:00:00Z");
  // lot 1 emptied, lot 2 down to 5, lot 3 untouched.
  ASSERT_EQ(rec_.lots_size(), 2);
  EXPECT_EQ(rec_.lots(0).lot_id(), 2);
  EXPECT_EQ(rec_.lots(0).remaining_points(), 5);
  EXPECT_EQ(rec_.lots(1).remaining_points(), 10);
  // On 02-04 both remaining lots expire: 15 points.
  Apply("\"engagement\":{\"action\":\"nothing\"}", "2024-02-04T00:00:00Z");
  EXPECT_EQ(st().expired_points(), 15);
  EXPECT_EQ(st().available_points(), 0);
  ExpectInvariant();
}

TEST_F(ApplyTest, NeverExpiringLotsAreSpentLast) {
  Adjust(10, "2024-01-01T00:00:00Z");  // lot 1 never expires (no expiration)
  MemberRecord keep = rec_;
  Load("expiration { mode: FIXED_DAYS days: 30 }");  // the program changes
  rec_ = keep;
  Adjust(10, "2024-01-02T00:00:00Z");  // lot 2 expires 02-01
  Apply("\"redemption\":{\"points\":15}", "2024-01-03T00:00:00Z");
  ASSERT_EQ(rec_.lots_size(), 1);
  EXPECT_EQ(rec_.lots(0).lot_id(), 1);
  EXPECT_EQ(rec_.lots(0).remaining_points(), 5);
}

TEST_F(ApplyTest, RoundToMonthEndExpiresAtTheNextLocalMonth) {
  Load("expiration { mode: FIXED_DAYS days: 365 round_to_month_end: true }");
  Buy(1000, "2024-03-10T10:00:00Z", "o1");
  ASSERT_EQ(rec_.lots_size(), 1);
  // 2024-03-10 + 365 days = 2025-03-10; first instant of April 2025 in Paris.
  EXPECT_EQ(rec_.lots(0).expires_at_ns(), At("2025-04-01T00:00:00+02:00"));
  Apply("\"engagement\":{\"action\":\"x\"}", "2025-03-31T21:59:59Z");
  EXPECT_EQ(st().expired_points(), 0);
  Apply("\"engagement\":{\"action\":\"x\"}", "2025-03-31T22:00:00Z");
  EXPECT_EQ(st().expired_points(), 12);  // 1000 minor = 10 points * 1.25
}

TEST_F(ApplyTest, PendingLotsReleaseAtTheirDueTimeAndPayDebt) {
  Load("pending_days: 7");
  Buy(8000, "2024-01-01T00:00:00Z", "o1");  // 80 * 1.25 = 100, pending until 01-08
  EXPECT_EQ(st().pending_points(), 100);
  EXPECT_EQ(st().available_points(), 0);
  Adjust(-30, "2024-01-02T00:00:00Z");  // nothing available: debt 30
  EXPECT_EQ(st().debt_points(), 30);
  EXPECT_EQ(st().available_points(), -30);
  EXPECT_EQ(Apply("\"redemption\":{\"points\":1}", "2024-01-03T00:00:00Z").reason(),
            "INSUFFICIENT_POINTS");
  // The release on 01-08 pays the debt first; the entry is stamped at the due time.
  Apply("\"engagement\":{\"action\":\"x\"}", "2024-01-09T00:00:00Z");
  EXPECT_EQ(st().debt_points(), 0);
  EXPECT_EQ(st().pending_points(), 0);
  EXPECT_EQ(st().available_points(), 70);
  ASSERT_FALSE(last_entries_.empty());
  EXPECT_EQ(last_entries_[0].type(), LedgerEntry::RELEASE);
  EXPECT_EQ(*TimestampToNanos(last_entries_[0].effective_at()), At("2024-01-08T00:00:00Z"));
  ExpectInvariant();
}

TEST_F(ApplyTest, DebtIsPaidBackByNewPoints) {
  Adjust(-40, "2024-01-01T00:00:00Z");
  EXPECT_EQ(st().debt_points(), 40);
  EXPECT_EQ(st().adjusted_points(), -40);
  Adjust(25, "2024-01-02T00:00:00Z");
  EXPECT_EQ(st().debt_points(), 15);
  EXPECT_EQ(st().available_points(), -15);
  EXPECT_EQ(rec_.lots_size(), 0);
  Buy(2000, "2024-01-03T00:00:00Z", "o1");  // 25 points: 15 pay the debt
  EXPECT_EQ(st().debt_points(), 0);
  EXPECT_EQ(st().available_points(), 10);
  ExpectInvariant();
}

TEST_F(ApplyTest, ShortfallIsWrittenOffWithoutNegativeBalances) {
  Load("allow_negative_balance: false");
  Adjust(10, "2024-01-01T00:00:00Z");
  Outcome o = Adjust(-25, "2024-01-02T00:00:00Z");
  EXPECT_EQ(o.points(), -10);
  EXPECT_EQ(st().debt_points(), 0);
  EXPECT_EQ(st().adjusted_points(), 0);  // +10 - 10 taken; 15 written off
  ASSERT_EQ(last_entries_.size(), 1u);
  EXPECT_EQ(last_entries_[0].written_off_points(), 15);
  ExpectInvariant();
}

TEST_F(ApplyTest, ClawbackLargerThanTheOrdersRemainingLot) {
  Buy(8000, "2024-01-01T00:00:00Z", "o1");  // 100 points in lot 1
  Adjust(30, "2024-01-01T01:00:00Z");       // lot 2
  Apply("\"redemption\":{\"points\":90}", "2024-01-01T02:00:00Z");
  // Lot 1 (same expiry: never; created first) gave 90: it holds 10, lot 2 holds 30.
  Outcome half =
      Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":4000}", "2024-01-02T00:00:00Z");
  // floor(100 * 4000 / 8000) - 0 = 50: 10 from the order's lot, 30 from lot 2, 10 debt.
  EXPECT_EQ(half.points(), -50);
  EXPECT_EQ(st().debt_points(), 10);
  EXPECT_EQ(st().available_points(), -10);
  EXPECT_EQ(st().spend_minor(), 4000);
  EXPECT_EQ(st().purchase_count(), 1);
  // Refunding more than is left caps at the order: the other 50.
  Outcome rest =
      Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":9999}", "2024-01-03T00:00:00Z");
  EXPECT_EQ(rest.points(), -50);
  EXPECT_EQ(st().debt_points(), 60);
  EXPECT_EQ(st().purchase_count(), 0);
  EXPECT_EQ(st().clawed_back_points(), 100);
  EXPECT_EQ(
      Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":1}", "2024-01-04T00:00:00Z").reason(),
      "NOTHING_TO_REFUND");
  EXPECT_EQ(
      Apply("\"refund\":{\"order_id\":\"o9\",\"amount_minor\":1}", "2024-01-04T00:00:00Z").reason(),
      "UNKNOWN_ORDER");
  ExpectInvariant();
}

TEST_F(ApplyTest, PartialRefundsClawBackWithCumulativeFloors) {
  Buy(300, "2024-01-01T00:00:00Z", "o1");  // 3 * 1.25 = 3 points
  // floor(3*100/300) - 0 = 1; floor(3*200/300) - 1 = 1; floor(3*300/300) - 2 = 1.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":100}", "2024-01-02T00:00:00Z")
                  .points(),
              -1);
  }
  EXPECT_EQ(st().available_points(), 0);
}

TEST_F(ApplyTest, DailyCapCountsPerLocalDayAcrossMidnightAndDst) {
  // Paris is UTC+1 in winter: 22:59Z is 23:59 local, 23:00Z is the next day.
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T22:00:00Z").status(),
            Outcome::APPLIED);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T22:59:00Z").status(),
            Outcome::APPLIED);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T22:59:59Z").reason(),
            "DAILY_CAP");
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T23:00:00Z").status(),
            Outcome::APPLIED);
  // On 31 March 2024 clocks jump at 01:00Z; that day is 23 hours long, from
  // 30 March 23:00Z to 31 March 22:00Z.
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-03-30T23:00:00Z").status(),
            Outcome::APPLIED);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-03-31T21:59:00Z").status(),
            Outcome::APPLIED);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-03-31T21:59:59Z").reason(),
            "DAILY_CAP");
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-03-31T22:00:00Z").status(),
            Outcome::APPLIED);
  EXPECT_EQ(st().lifetime_earned_points(), 6);
}

TEST_F(ApplyTest, UniquePerRef) {
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"review\",\"ref\":\"a\"}", "2024-01-01T00:00:00Z")
                .points(),
            20);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"review\",\"ref\":\"a\"}", "2024-01-02T00:00:00Z")
                .reason(),
            "REF_ALREADY_USED");
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"review\"}", "2024-01-02T00:00:00Z").reason(),
            "EMPTY_REF");
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"review\",\"ref\":\"b\"}", "2024-01-02T00:00:00Z")
                .points(),
            20);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"dance\"}", "2024-01-02T00:00:00Z").reason(),
            "NO_RULE");
}

TEST_F(ApplyTest, RedemptionRefusalsAndVoucher) {
  Adjust(60, "2024-01-01T00:00:00Z");
  EXPECT_EQ(Apply("\"redemption\":{\"reward_id\":\"nope\"}", "2024-01-01T01:00:00Z").reason(),
            "UNKNOWN_REWARD");
  EXPECT_EQ(Apply("\"redemption\":{\"reward_id\":\"voucher\"}", "2024-01-01T01:00:00Z").reason(),
            "NOT_REDEEMABLE");
  EXPECT_EQ(Apply("\"redemption\":{\"reward_id\":\"lounge\"}", "2024-01-01T01:00:00Z").reason(),
            "TIER_TOO_LOW");
  EXPECT_EQ(Apply("\"redemption\":{\"points\":61}", "2024-01-01T01:00:00Z").reason(),
            "INSUFFICIENT_POINTS");
  EXPECT_EQ(st().version(), 1);  // refusals change nothing, so no version bump
  Outcome ok = Apply("\"redemption\":{\"reward_id\":\"coffee\"}", "2024-01-01T02:00:00Z");
  EXPECT_EQ(ok.status(), Outcome::APPLIED);
  EXPECT_EQ(ok.points(), -50);
  EXPECT_EQ(ok.voucher_code().size(), 16u);
  EXPECT_EQ(ok.voucher_code(), VoucherCode(*program_, "m", ok.event_id()));
  EXPECT_NE(ok.voucher_code(), VoucherCode(*program_, "m", "other"));
  EXPECT_EQ(st().redeemed_points(), 50);
  ExpectInvariant();
}

TEST_F(ApplyTest, MembershipExtendsFromTheLaterOfNowAndVipUntil) {
  Apply("\"membership\":{\"plan_id\":\"vip\"}", "2024-01-31T10:00:00Z");
  EXPECT_EQ(*TimestampToNanos(st().vip_until()), At("2024-02-29T10:00:00Z"));
  Apply("\"membership\":{\"plan_id\":\"vip\"}", "2024-02-01T10:00:00Z");
  EXPECT_EQ(*TimestampToNanos(st().vip_until()), At("2024-03-29T10:00:00Z"));
}

TEST_F(ApplyTest, VipUntilStaysBefore2100) {
  EXPECT_EQ(Apply("\"membership\":{\"plan_id\":\"fifty-years\"}", "2024-01-01T00:00:00Z").status(),
            Outcome::APPLIED);
  EXPECT_EQ(*TimestampToNanos(st().vip_until()), At("2074-01-01T00:00:00Z"));
  const int64_t version = st().version();
  Outcome o = Apply("\"membership\":{\"plan_id\":\"fifty-years\"}", "2024-01-02T00:00:00Z");
  EXPECT_EQ(o.status(), Outcome::REJECTED);
  EXPECT_EQ(o.reason(), "VIP_UNTIL_LIMIT");
  EXPECT_EQ(*TimestampToNanos(st().vip_until()), At("2074-01-01T00:00:00Z"));
  EXPECT_EQ(st().version(), version);
}

TEST_F(ApplyTest, CountersNearTheInt64LimitRefuseInsteadOfOverflowing) {
  // Maximal negative adjustments pile up debt: about 9,200 of them reach the
  // limit. The partition must refuse, never crash.
  int rejected_at = -1;
  for (int i = 0; i < 9300 && rejected_at < 0; ++i) {
    Outcome o = Adjust(-kPointsPerEventMax, "2024-01-01T00:00:00Z");
    if (o.status() == Outcome::REJECTED) {
      EXPECT_EQ(o.reason(), "COUNTER_LIMIT");
      rejected_at = i;
    }
  }
  ASSERT_GT(rejected_at, 9000);
  const int64_t debt = st().debt_points();
  EXPECT_GT(debt, INT64_MAX - 10 * kPointsPerEventMax);
  // Further growth is refused; the state does not move.
  EXPECT_EQ(Buy(1000, "2024-01-02T00:00:00Z", "late").reason(), "COUNTER_LIMIT");
  EXPECT_EQ(st().debt_points(), debt);
  ExpectInvariant();
}

TEST_F(ApplyTest, EffectiveTimeNeverGoesBack) {
  Buy(100, "2024-05-01T00:00:00Z", "o1");
  Outcome late = Buy(100, "2024-04-01T00:00:00Z", "o2");
  EXPECT_EQ(*TimestampToNanos(late.effective_at()), At("2024-05-01T00:00:00Z"));
  // occurred_at still decides the purchase dates.
  EXPECT_EQ(*TimestampToNanos(st().first_purchase_at()), At("2024-04-01T00:00:00Z"));
  EXPECT_EQ(*TimestampToNanos(st().last_purchase_at()), At("2024-05-01T00:00:00Z"));
  // A tick time ahead of both wins.
  Outcome ticked = Apply("\"engagement\":{\"action\":\"like\"}", "2024-05-01T00:00:00Z",
                         At("2024-06-01T00:00:00Z"));
  EXPECT_EQ(*TimestampToNanos(ticked.effective_at()), At("2024-06-01T00:00:00Z"));
}

}  // namespace
}  // namespace loyalty
