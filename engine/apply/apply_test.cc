// Unit tests of the apply path with an in-memory ApplyContext: lots, FIFO,
// debt, maturities, earn arithmetic, engagement caps, redemptions, refunds.
#include "engine/apply/apply.h"

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/base/time.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

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
  tiers { tier_id: "gold" threshold: 10 earn_multiplier_bp: 15000 perks: "lounge-access" }
  tier_qualification { metric: PURCHASE_COUNT window_months: 12 grace_days: 30 }
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
  void Load(const std::string& extra) { LoadOnly(std::string(kBase) + extra); }
  void SetUp() override { Load(""); }
  // A program of its own, without kBase.
  // With versions, program_ is the base version.
  void LoadOnly(const std::string& text) {
    auto p = ParseProgramFile(text, "test");
    ASSERT_TRUE(p.ok()) << p.status();
    history_ = std::move(*p);
    program_ = &history_->base();
    rec_ = NewMemberRecord(*program_, "m");
  }

  // Applies a JSON event body at `when` (RFC 3339), with the partition's
  // tick time `tick`; returns the outcome.
  Outcome Apply(const std::string& body, const std::string& when, UnixNanos tick = 0) {
    Event e;
    std::string json = "{\"event_id\":\"e" + std::to_string(++seq_) +
                       "\",\"program_id\":\"p\",\"member_id\":\"m\",\"occurred_at\":\"" + when +
                       "\"," + body + "}";
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &e).ok()) << json;
    Outcome outcome;
    MemberDelta delta{&outcome};
    UnixNanos t = EffectiveTime(e, rec_, tick);
    EXPECT_TRUE(ApplyMemberEvent(*history_, e, t, &rec_, &ctx_, &delta).ok());
    Record(outcome);
    EXPECT_TRUE(CheckMemberRecord(rec_).ok()) << CheckMemberRecord(rec_);
    return outcome;
  }
  // Maturities of the member at `when`, as a tick would apply them; the
  // MATURED outcome (empty if nothing changed).
  Outcome Mature(const std::string& when) {
    Outcome outcome;
    MemberDelta delta{&outcome};
    ApplyMaturities(*history_, *ParseRfc3339(when), &rec_, &delta);
    Record(outcome);
    EXPECT_TRUE(CheckMemberRecord(rec_).ok()) << CheckMemberRecord(rec_);
    return outcome;
  }
  void Record(const Outcome& o) {
    last_entries_.assign(o.entries().begin(), o.entries().end());
    last_tier_changes_.assign(o.tier_changes().begin(), o.tier_changes().end());
  }
  // A purchase with one line item of `quantity` x `category`.
  Outcome BuyItems(int64_t amount, const std::string& category, int quantity,
                   const std::string& when, const std::string& extra = "") {
    return Apply("\"purchase\":{\"order_id\":\"o" + std::to_string(seq_ + 1) +
                     "\",\"amount_minor\":" + std::to_string(amount) +
                     ",\"currency\":\"EUR\",\"items\":[{\"category\":\"" + category +
                     "\",\"quantity\":" + std::to_string(quantity) +
                     ",\"amount_minor\":" + std::to_string(amount) + "}]" + extra + "}",
                 when);
  }
  // The single tier change of the last application.
  loyalty::v1::TierChange OnlyTierChange() {
    EXPECT_EQ(last_tier_changes_.size(), 1u);
    if (last_tier_changes_.empty()) return {};
    return last_tier_changes_[0];
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

  std::unique_ptr<ProgramHistory> history_;
  const CompiledProgram* program_ = nullptr;  // history_'s base version
  MemberRecord rec_;
  MapContext ctx_;
  int seq_ = 0;
  std::vector<LedgerEntry> last_entries_;
  std::vector<loyalty::v1::TierChange> last_tier_changes_;
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

// A stored timestamp out of range is a broken record, named by its field,
// before apply reads it.
TEST_F(ApplyTest, CheckMemberRecordNamesABadStoredTimestamp) {
  Buy(333, "2024-01-10T10:00:00Z", "o1", "coffee");
  ASSERT_TRUE(CheckMemberRecord(rec_).ok());
  ASSERT_TRUE(st().has_last_purchase_at());
  rec_.mutable_state()->mutable_last_purchase_at()->set_nanos(1'000'000'000);
  const absl::Status s = CheckMemberRecord(rec_);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "last_purchase_at: nanos out of range")) << s;
}

TEST_F(ApplyTest, EarnOfTheLargestPurchaseStaysExactIn128Bits) {
  // 10^12 * 20000 overflows int64 before the division; the result must not.
  Outcome o = Buy(1'000'000'000'000, "2024-01-10T10:00:00Z", "big", "coffee");
  EXPECT_EQ(o.points(), 25'000'000'000);  // 2e10 * 1.25
}

TEST_F(ApplyTest, PointsOfOneExpiryDayShareALotSpentEarliestFirst) {
  Load("expiration { mode: FIXED_DAYS days: 30 }");
  // Paris is UTC+1 in January: 00:00Z is 01:00 local.
  Adjust(10, "2024-01-01T00:00:00Z");  // + 30 days: 01-31, expires at local 02-01 00:00
  Adjust(10, "2024-01-05T00:00:00Z");  // expires at local 02-05 00:00: lot 2
  Adjust(10, "2024-01-03T00:00:00Z");  // late: t = the member's clock 01-05, lot 2 again
  ASSERT_EQ(rec_.lots_size(), 2);
  EXPECT_EQ(rec_.lots(0).expires_at_ns(), At("2024-01-31T23:00:00Z"));
  EXPECT_EQ(rec_.lots(1).expires_at_ns(), At("2024-02-04T23:00:00Z"));
  EXPECT_EQ(rec_.lots(1).remaining_points(), 20);
  EXPECT_EQ(last_entries_.back().lot_id(), 2);  // the credit names its lot
  Apply("\"redemption\":{\"points\":15}", "2024-01-06T00:00:00Z");
  // Lot 1 emptied (gone), lot 2 down to 15.
  ASSERT_EQ(rec_.lots_size(), 1);
  EXPECT_EQ(rec_.lots(0).lot_id(), 2);
  EXPECT_EQ(rec_.lots(0).remaining_points(), 15);
  EXPECT_EQ(rec_.next_lot_id(), 3);
  Apply("\"engagement\":{\"action\":\"nothing\"}", "2024-02-04T22:59:59Z");
  EXPECT_EQ(st().expired_points(), 0);
  Apply("\"engagement\":{\"action\":\"nothing\"}", "2024-02-04T23:00:00Z");
  EXPECT_EQ(st().expired_points(), 15);
  EXPECT_EQ(st().available_points(), 0);
  ASSERT_EQ(last_entries_.size(), 1u);
  EXPECT_EQ(last_entries_[0].type(), LedgerEntry::EXPIRE);
  EXPECT_EQ(last_entries_[0].lot_id(), 2);
  EXPECT_EQ(*TimestampToNanos(last_entries_[0].effective_at()), At("2024-02-04T23:00:00Z"));
  ExpectInvariant();
}

TEST_F(ApplyTest, DayRoundedExpiryFollowsTheLocalCalendarAcrossDst) {
  Load("expiration { mode: FIXED_DAYS days: 30 }");
  // 03-01 12:00Z + 30 days = 03-31 12:00Z, 14:00 in Paris after the spring
  // switch: the next local midnight is 04-01 00:00 CEST = 03-31 22:00Z.
  Adjust(1, "2024-03-01T12:00:00Z");
  // 09-26 12:00Z + 30 days = 10-26 12:00Z (CEST): 10-27 00:00 CEST = 10-26 22:00Z,
  // the night before the autumn switch.
  Adjust(1, "2024-09-26T12:00:00Z");
  ASSERT_EQ(rec_.lots_size(), 1);  // the first expired before the second came
  EXPECT_EQ(st().expired_points(), 1);
  EXPECT_EQ(rec_.lots(0).expires_at_ns(), At("2024-10-26T22:00:00Z"));
  EXPECT_EQ(LotExpiry(*program_, At("2024-03-01T12:00:00Z")), At("2024-03-31T22:00:00Z"));
}

TEST_F(ApplyTest, NeverExpiringLotsAreSpentLast) {
  Adjust(10, "2024-01-01T00:00:00Z");  // lot 1 never expires (no expiration)
  MemberRecord keep = rec_;
  Load("expiration { mode: FIXED_DAYS days: 30 }");  // the program changes
  rec_ = keep;
  Adjust(10, "2024-01-02T00:00:00Z");  // lot 2 expires 02-01: sorted before lot 1
  ASSERT_EQ(rec_.lots_size(), 2);
  EXPECT_EQ(rec_.lots(0).lot_id(), 2);
  Apply("\"redemption\":{\"points\":15}", "2024-01-03T00:00:00Z");
  ASSERT_EQ(rec_.lots_size(), 1);
  EXPECT_EQ(rec_.lots(0).lot_id(), 1);
  EXPECT_EQ(rec_.lots(0).remaining_points(), 5);
}

// A seeded walk of credits and spends over two years against a plain
// reference: points by expiry instant, spent earliest first, expired when
// their instant comes. The lots must hold exactly that, one per expiry, in
// order, with ids that ascend with the expiry (credits come in time order).
TEST_F(ApplyTest, LotsByExpiryMatchAPlainReferenceOverARandomWalk) {
  Load("expiration { mode: FIXED_DAYS days: 30 }");
  const uint32_t seed = static_cast<uint32_t>(loyalty::testing::TestSeed(20261204));
  SCOPED_TRACE(loyalty::testing::Seeded(seed));
  std::mt19937 rng(seed);
  std::map<UnixNanos, int64_t> reference;  // expires_at -> points
  int64_t expired = 0;
  UnixNanos t = At("2024-01-01T00:00:00Z");
  for (int i = 0; i < 3000; ++i) {
    t += static_cast<int64_t>(rng() % (7 * 3600)) * kNanosPerSecond;
    while (!reference.empty() && reference.begin()->first <= t) {
      expired += reference.begin()->second;
      reference.erase(reference.begin());
    }
    int64_t available = 0;
    for (const auto& [at, points] : reference) available += points;
    const std::string when = FormatRfc3339(t);
    if (rng() % 4 != 0 || available == 0) {
      const int64_t points = 1 + static_cast<int64_t>(rng() % 50);
      Adjust(points, when);
      reference[LotExpiry(*program_, t)] += points;
    } else {
      int64_t spend = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(available));
      Adjust(-spend, when);
      for (auto it = reference.begin(); spend > 0;) {
        const int64_t take = std::min(spend, it->second);
        it->second -= take;
        spend -= take;
        it = it->second == 0 ? reference.erase(it) : std::next(it);
      }
    }
    ASSERT_EQ(rec_.lots_size(), static_cast<int>(reference.size())) << "event " << i;
    int k = 0;
    for (const auto& [at, points] : reference) {
      EXPECT_EQ(rec_.lots(k).expires_at_ns(), at) << "event " << i << " lot " << k;
      EXPECT_EQ(rec_.lots(k).remaining_points(), points) << "event " << i << " lot " << k;
      if (k > 0) {
        EXPECT_LT(rec_.lots(k - 1).lot_id(), rec_.lots(k).lot_id());
      }
      ++k;
    }
    ASSERT_EQ(st().expired_points(), expired) << "event " << i;
    ASSERT_FALSE(HasFailure()) << "event " << i;
  }
  ExpectInvariant();
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

TEST_F(ApplyTest, PendingLotsReleaseAtTheNextLocalMidnightAndPayDebt) {
  Load("pending_days: 7");
  // 01-01 00:00Z (01:00 in Paris) + 7 days: released at local 01-09 00:00.
  Buy(8000, "2024-01-01T00:00:00Z", "o1");  // 80 * 1.25 = 100
  Buy(800, "2024-01-01T20:00:00Z", "o2");   // 10 more, the same local day: the same lot
  EXPECT_EQ(st().pending_points(), 110);
  ASSERT_EQ(rec_.pending_lots_size(), 1);
  EXPECT_EQ(rec_.pending_lots(0).available_at_ns(), At("2024-01-08T23:00:00Z"));
  EXPECT_EQ(st().available_points(), 0);
  Adjust(-30, "2024-01-02T00:00:00Z");  // nothing available: debt 30
  EXPECT_EQ(st().debt_points(), 30);
  EXPECT_EQ(st().available_points(), -30);
  EXPECT_EQ(Apply("\"redemption\":{\"points\":1}", "2024-01-03T00:00:00Z").reason(),
            "INSUFFICIENT_POINTS");
  Mature("2024-01-08T22:59:59Z");
  EXPECT_EQ(st().pending_points(), 110);
  // The release pays the debt first; the entry is stamped at the due time.
  Outcome matured = Mature("2024-01-08T23:00:00Z");
  EXPECT_EQ(matured.reason(), "MATURED");
  EXPECT_EQ(st().debt_points(), 0);
  EXPECT_EQ(st().pending_points(), 0);
  EXPECT_EQ(st().available_points(), 80);
  ASSERT_EQ(last_entries_.size(), 1u);
  EXPECT_EQ(last_entries_[0].type(), LedgerEntry::RELEASE);
  EXPECT_EQ(last_entries_[0].lot_id(), 1);
  EXPECT_EQ(*TimestampToNanos(last_entries_[0].effective_at()), At("2024-01-08T23:00:00Z"));
  // The released lot became the available lot of its expiry, keeping its id.
  ASSERT_EQ(rec_.lots_size(), 1);
  EXPECT_EQ(rec_.lots(0).lot_id(), 1);
  ExpectInvariant();
}

TEST_F(ApplyTest, APendingLotEmptiedByARefundDisappearsWithoutARelease) {
  Load("pending_days: 7");
  Buy(8000, "2024-01-01T00:00:00Z", "o1");
  Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":8000}", "2024-01-02T00:00:00Z");
  EXPECT_EQ(rec_.pending_lots_size(), 0);
  EXPECT_EQ(st().pending_points(), 0);
  EXPECT_EQ(st().clawed_back_points(), 100);
  EXPECT_EQ(NextDue(rec_), 0);
  EXPECT_EQ(Mature("2024-01-10T00:00:00Z").entries_size(), 0);
}

TEST_F(ApplyTest, RefundsTakeFromTheLotThePurchaseWentIntoThroughItsRelease) {
  Load("pending_days: 1 expiration { mode: FIXED_DAYS days: 30 round_to_month_end: true }");
  // Lot 1: 50 available, 02-20 + 30 days = 03-21: expires at local 04-01.
  Adjust(50, "2024-02-20T10:00:00Z");
  // Lot 2: o1, released at local 03-06 00:00, + 30 days = 04-05: expires at local 05-01.
  Buy(8000, "2024-03-04T10:00:00Z", "o1");
  // Lot 3: o2, released at local 03-07 00:00, also expiring at local 05-01.
  Buy(8000, "2024-03-05T10:00:00Z", "o2");
  ASSERT_EQ(rec_.pending_lots_size(), 2);
  // Both releases: lot 2 becomes the available lot of 05-01, lot 3 joins it.
  Apply("\"engagement\":{\"action\":\"x\"}", "2024-03-07T12:00:00Z");
  ASSERT_EQ(rec_.lots_size(), 2);
  EXPECT_EQ(rec_.lots(1).lot_id(), 2);
  EXPECT_EQ(rec_.lots(1).remaining_points(), 200);
  ASSERT_EQ(rec_.lots(1).merged_lot_ids_size(), 1);
  EXPECT_EQ(rec_.lots(1).merged_lot_ids(0), 3);
  // o2's points went into lot 3, now part of lot 2: the clawback takes them
  // there, not from lot 1, which expires first.
  Outcome refund =
      Apply("\"refund\":{\"order_id\":\"o2\",\"amount_minor\":8000}", "2024-03-08T10:00:00Z");
  EXPECT_EQ(refund.points(), -100);
  EXPECT_EQ(rec_.lots(0).remaining_points(), 50);
  EXPECT_EQ(rec_.lots(1).remaining_points(), 100);
  // A spend empties lot 1 and takes 50 of lot 2; half of o1 empties lot 2.
  Apply("\"redemption\":{\"points\":100}", "2024-03-08T11:00:00Z");
  Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":4000}", "2024-03-08T12:00:00Z");
  EXPECT_EQ(rec_.lots_size(), 0);
  // A new lot of the same expiry (lot 4) is not o1's: the rest of o1 takes
  // it in expiry order, then debt.
  Adjust(20, "2024-03-08T13:00:00Z");
  ASSERT_EQ(rec_.lots_size(), 1);
  EXPECT_EQ(rec_.lots(0).lot_id(), 4);
  Outcome rest =
      Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":4000}", "2024-03-08T14:00:00Z");
  EXPECT_EQ(rest.points(), -50);
  EXPECT_EQ(st().debt_points(), 30);
  EXPECT_EQ(st().available_points(), -30);
  ExpectInvariant();
}

TEST_F(ApplyTest, LotMaturitiesAtOneInstantGoByLotId) {
  LoadOnly(R"pb(program_id: "p" currency: "EUR" timezone: "UTC" earn { points: 1 per_minor: 100 }
                pending_days: 1 expiration { mode: FIXED_DAYS days: 2 })pb");
  Adjust(10, "2024-01-01T10:00:00Z");        // lot 1: + 2 days = 01-03 10:00, expires 01-04
  Buy(1000, "2024-01-02T10:00:00Z", "o1");   // lot 2: + 1 day = 01-03 10:00, released 01-04
  Outcome matured = Mature("2024-01-04T00:00:00Z");
  ASSERT_EQ(matured.entries_size(), 2);
  EXPECT_EQ(matured.entries(0).type(), LedgerEntry::EXPIRE);
  EXPECT_EQ(matured.entries(0).lot_id(), 1);
  EXPECT_EQ(matured.entries(1).type(), LedgerEntry::RELEASE);
  EXPECT_EQ(matured.entries(1).lot_id(), 2);
  EXPECT_EQ(matured.points(), -10);
  EXPECT_EQ(st().available_points(), 10);
}

TEST_F(ApplyTest, DebtIsPaidBackByNewPoints) {
  Adjust(-40, "2024-01-01T00:00:00Z");
  EXPECT_EQ(st().debt_points(), 40);
  EXPECT_EQ(st().adjusted_points(), -40);
  // The credit names lot 1, which the debt takes whole: the lot is gone.
  Adjust(25, "2024-01-02T00:00:00Z");
  EXPECT_EQ(last_entries_.back().lot_id(), 1);
  EXPECT_EQ(st().debt_points(), 15);
  EXPECT_EQ(st().available_points(), -15);
  EXPECT_EQ(rec_.lots_size(), 0);
  Buy(2000, "2024-01-03T00:00:00Z", "o1");  // 25 points into lot 2: 15 pay the debt
  EXPECT_EQ(last_entries_.back().lot_id(), 2);
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
  // Without expiration every available point shares one lot.
  Buy(8000, "2024-01-01T00:00:00Z", "o1");  // 100 points in lot 1
  Adjust(30, "2024-01-01T01:00:00Z");       // lot 1 again: 130
  ASSERT_EQ(rec_.lots_size(), 1);
  Apply("\"redemption\":{\"points\":90}", "2024-01-01T02:00:00Z");
  Outcome half =
      Apply("\"refund\":{\"order_id\":\"o1\",\"amount_minor\":4000}", "2024-01-02T00:00:00Z");
  // floor(100 * 4000 / 8000) - 0 = 50: 40 from the order's lot, 10 debt.
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
  EXPECT_EQ(ok.voucher_code(), VoucherCode(*program_, MemberId("m"), ok.event_id()));
  EXPECT_NE(ok.voucher_code(), VoucherCode(*program_, MemberId("m"), "other"));
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

// --- Programme rules (docs/semantics.md "Programme rules") ------------------

TEST_F(ApplyTest, TierUpgradesAtOnceAndItsMultiplierAppliesFromTheNextPurchase) {
  // gold at 10 purchases in 12 months; base earns 1.25x, gold 1.5x.
  for (int i = 0; i < 9; ++i) Buy(1000, "2024-01-10T10:00:00Z");  // 10 * 1.25 = 12.5 -> 12
  EXPECT_EQ(st().tier_id(), "base");
  EXPECT_FALSE(st().has_tier_held_until());
  Outcome tenth = Buy(1000, "2024-01-10T10:09:00Z");
  EXPECT_EQ(tenth.points(), 12);  // the tier before the event
  EXPECT_EQ(st().tier_id(), "gold");
  auto change = OnlyTierChange();
  EXPECT_EQ(change.from_tier_id(), "base");
  EXPECT_EQ(change.to_tier_id(), "gold");
  EXPECT_EQ(change.cause(), "QUALIFIED");
  ASSERT_EQ(change.perks_size(), 1);
  EXPECT_EQ(change.perks(0), "lounge-access");
  EXPECT_EQ(st().version(), st().version());
  // held_until = t + 30 days.
  EXPECT_EQ(*TimestampToNanos(st().tier_held_until()), At("2024-02-09T10:09:00Z"));
  EXPECT_EQ(Buy(1000, "2024-01-11T10:00:00Z").points(), 15);  // 10 * 1.5
  EXPECT_EQ(*TimestampToNanos(st().tier_held_until()), At("2024-02-10T10:00:00Z"));
  EXPECT_TRUE(last_tier_changes_.empty());
}

TEST_F(ApplyTest, DowngradeHappensExactlyAtTheEndOfGrace) {
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-01-10T10:00:00Z", "o" + std::to_string(i));
  ASSERT_EQ(st().tier_id(), "gold");
  // A full refund takes the purchase out of January's count: 9 < 10, but the
  // tier is held until 2024-02-09T10:00:00Z.
  Apply("\"refund\":{\"order_id\":\"o0\",\"amount_minor\":1000}", "2024-01-20T00:00:00Z");
  EXPECT_EQ(st().purchase_count(), 9);
  EXPECT_EQ(st().tier_id(), "gold");
  Adjust(1, "2024-02-09T10:00:00Z");  // t == held_until: t >= held_until downgrades
  EXPECT_EQ(st().tier_id(), "base");
  EXPECT_EQ(OnlyTierChange().cause(), "GRACE_ENDED");
  EXPECT_FALSE(st().has_tier_held_until());  // nothing held in the first tier
}

TEST_F(ApplyTest, OneSecondBeforeTheEndOfGraceTheTierIsKept) {
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-01-10T10:00:00Z", "o" + std::to_string(i));
  Apply("\"refund\":{\"order_id\":\"o0\",\"amount_minor\":1000}", "2024-01-20T00:00:00Z");
  Adjust(1, "2024-02-09T09:59:59Z");
  EXPECT_EQ(st().tier_id(), "gold");
  EXPECT_TRUE(last_tier_changes_.empty());
}

TEST_F(ApplyTest, GraceReviewsRunAsMaturitiesUntilTheWindowEmpties) {
  // 10 purchases on 2024-01-10 keep gold through December 2024 (12-month
  // window). Reviews every 30 days from 2024-02-09T10:09Z: the 11th is on
  // 2024-12-05 (still 10 in the window), the 12th on 2025-01-04T10:09:00Z,
  // in January 2025, whose window holds no purchase: downgrade.
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-01-10T10:0" + std::to_string(i) + ":00Z");
  ASSERT_EQ(st().tier_id(), "gold");
  EXPECT_EQ(NextDue(rec_), At("2024-02-09T10:09:00Z"));
  Mature("2025-01-04T10:08:59Z");
  EXPECT_EQ(st().tier_id(), "gold");
  EXPECT_EQ(*TimestampToNanos(st().tier_held_until()), At("2025-01-04T10:09:00Z"));
  Mature("2025-01-04T10:09:00Z");
  EXPECT_EQ(st().tier_id(), "base");
  auto change = OnlyTierChange();
  EXPECT_EQ(change.cause(), "GRACE_ENDED");
  EXPECT_EQ(*TimestampToNanos(last_tier_changes_[0].effective_at()), At("2025-01-04T10:09:00Z"));
  EXPECT_EQ(NextDue(rec_), 0);  // nothing left to review
}

TEST_F(ApplyTest, PaidPlanOutlastsTheQualifiedTier) {
  Load("paid_plans { plan_id: \"year\" tier_id: \"gold\" months: 12 }");
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-01-10T10:0" + std::to_string(i) + ":00Z");
  ASSERT_EQ(st().tier_id(), "gold");
  // 2024-06-01T00:00Z is 02:00 in Paris; + 12 local months = 2025-06-01 02:00
  // CEST = 2025-06-01T00:00:00Z. Already gold: no tier change.
  Apply("\"membership\":{\"plan_id\":\"year\"}", "2024-06-01T00:00:00Z");
  EXPECT_TRUE(last_tier_changes_.empty());
  EXPECT_EQ(*TimestampToNanos(st().vip_until()), At("2025-06-01T00:00:00Z"));
  // The membership was a member event too: gold re-qualified and held until
  // 2024-07-01T00:00Z; reviews every 30 days: 2024-12-28 (December, 10 in the
  // window) then 2025-01-27T00:00Z, when the window is empty. The qualified
  // tier ends there; the paid plan keeps gold.
  Mature("2025-01-26T23:59:59Z");
  EXPECT_EQ(*TimestampToNanos(st().tier_held_until()), At("2025-01-27T00:00:00Z"));
  Mature("2025-01-27T00:00:00Z");
  EXPECT_EQ(rec_.qualified_tier(), 0);
  EXPECT_EQ(st().tier_id(), "gold");
  EXPECT_FALSE(st().has_tier_held_until());
  EXPECT_TRUE(last_tier_changes_.empty());
  EXPECT_EQ(Adjust(1, "2025-02-01T00:00:00Z").status(), Outcome::APPLIED);
  EXPECT_EQ(Apply("\"redemption\":{\"reward_id\":\"lounge\"}", "2025-02-01T00:00:01Z").status(),
            Outcome::APPLIED);  // min_tier_id gold: the paid tier counts
  EXPECT_EQ(NextDue(rec_), At("2025-06-01T00:00:00Z"));
  Mature("2025-05-31T23:59:59Z");
  EXPECT_EQ(st().tier_id(), "gold");
  Mature("2025-06-01T00:00:00Z");
  EXPECT_EQ(st().tier_id(), "base");
  EXPECT_EQ(OnlyTierChange().cause(), "PLAN_ENDED");
}

TEST_F(ApplyTest, MembershipRaisesTheTierAtOnce) {
  Apply("\"membership\":{\"plan_id\":\"vip\"}", "2024-01-31T12:00:00Z");
  EXPECT_EQ(st().tier_id(), "gold");
  EXPECT_EQ(OnlyTierChange().cause(), "PLAN_STARTED");
  // Jan 31 + 1 month is clamped to Feb 29 (2024), same wall time.
  EXPECT_EQ(*TimestampToNanos(st().vip_until()), At("2024-02-29T12:00:00Z"));
  EXPECT_EQ(Buy(1000, "2024-02-01T00:00:00Z").points(), 15);  // gold's 1.5x
}

TEST_F(ApplyTest, EarnedPointsMetricCountsPurchaseEngagementAndShrinksWithClawbacks) {
  LoadOnly(R"pb(
    program_id: "p"
    currency: "EUR"
    earn { points: 1 per_minor: 100 }
    tiers { tier_id: "base" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 100 earn_multiplier_bp: 10000 }
    tier_qualification { metric: EARNED_POINTS window_months: 1 grace_days: 10 }
    engagement_rules { action: "review" points: 30 }
  )pb");
  EXPECT_EQ(Buy(8000, "2024-03-05T10:00:00Z", "a").points(), 80);  // 80 < 100
  EXPECT_EQ(st().tier_id(), "base");
  Apply("\"engagement\":{\"action\":\"review\"}", "2024-03-06T10:00:00Z");  // 80 + 30 = 110
  EXPECT_EQ(st().tier_id(), "silver");
  // Refund 2000 of 8000: clawback floor(80 * 2000 / 8000) = 20; 110 - 20 = 90
  // < 100, held until 2024-03-16T10:00Z (the engagement's t + 10 days).
  EXPECT_EQ(Apply("\"refund\":{\"order_id\":\"a\",\"amount_minor\":2000}", "2024-03-07T10:00:00Z")
                .points(),
            -20);
  EXPECT_EQ(st().tier_id(), "silver");
  Adjust(5, "2024-03-16T10:00:00Z");  // adjustments do not count
  EXPECT_EQ(st().tier_id(), "base");
  ASSERT_EQ(rec_.months_size(), 1);
  EXPECT_EQ(rec_.months(0).earned_points(), 90);
  EXPECT_EQ(rec_.months(0).spend_minor(), 6000);
  EXPECT_EQ(rec_.months(0).purchase_count(), 1);
  // April: March leaves the 1-month window and is dropped.
  Adjust(5, "2024-04-01T00:00:00Z");
  EXPECT_EQ(rec_.months_size(), 0);
}

TEST_F(ApplyTest, PromotionWindowRunsPastMidnight) {
  // Wednesday 21:00 -> 02:00 in Paris (CET, UTC+1 in January).
  Load(R"pb(promotions {
              promotion_id: "late"
              days_of_week: WEDNESDAY
              start_local: "21:00"
              end_local: "02:00"
              bonus_points: 100
            })pb");
  // 1000 minor -> 10 * 1.25 = 12 (base tier); +100 inside the window.
  EXPECT_EQ(Buy(1000, "2024-01-10T19:59:00Z").points(), 12);   // Wed 20:59
  EXPECT_EQ(Buy(1000, "2024-01-10T20:00:00Z").points(), 112);  // Wed 21:00
  EXPECT_EQ(Buy(1000, "2024-01-10T23:30:00Z").points(), 112);  // Thu 00:30, Wed's window
  EXPECT_EQ(Buy(1000, "2024-01-11T00:59:59Z").points(), 112);  // Thu 01:59:59
  EXPECT_EQ(Buy(1000, "2024-01-11T01:00:00Z").points(), 12);   // Thu 02:00: ended
  EXPECT_EQ(Buy(1000, "2024-01-11T20:30:00Z").points(), 12);   // Thu 21:30: not listed
  EXPECT_EQ(Buy(1000, "2024-01-09T23:30:00Z").points(), 12);   // Wed 00:30: Tue not listed
}

TEST_F(ApplyTest, PromotionWindowAcrossDstSwitchesFollowsTheWallClock) {
  // Saturday 23:00 -> 03:00 in Paris, doubling the earn.
  Load(R"pb(promotions {
              promotion_id: "night"
              days_of_week: SATURDAY
              start_local: "23:00"
              end_local: "03:00"
              multiplier_bp: 20000
            })pb");
  // Spring forward, Sunday 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC):
  // the window is 22:00Z .. 01:00Z, three hours.
  EXPECT_EQ(Buy(1000, "2026-03-28T21:59:59Z").points(), 12);  // Sat 22:59:59 CET
  EXPECT_EQ(Buy(1000, "2026-03-28T22:00:00Z").points(), 24);  // Sat 23:00 CET: 12 * 2
  EXPECT_EQ(Buy(1000, "2026-03-29T00:59:59Z").points(), 24);  // Sun 01:59:59 CET
  EXPECT_EQ(Buy(1000, "2026-03-29T01:00:00Z").points(), 12);  // Sun 03:00 CEST: ended
  // Fall back, Sunday 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC): the
  // window is 21:00Z .. 02:00Z, five hours; 02:00-03:00 local happens twice.
  EXPECT_EQ(Buy(1000, "2026-10-24T20:59:59Z").points(), 12);  // Sat 22:59:59 CEST
  EXPECT_EQ(Buy(1000, "2026-10-24T21:00:00Z").points(), 24);  // Sat 23:00 CEST
  EXPECT_EQ(Buy(1000, "2026-10-25T00:30:00Z").points(), 24);  // Sun 02:30 CEST
  EXPECT_EQ(Buy(1000, "2026-10-25T01:30:00Z").points(), 24);  // Sun 02:30 CET (again)
  EXPECT_EQ(Buy(1000, "2026-10-25T02:00:00Z").points(), 12);  // Sun 03:00 CET: ended
}

TEST_F(ApplyTest, PromotionsApplyInFileOrderWithDatesCategoryAndRewards) {
  Load(R"pb(
    promotions {
      promotion_id: "x3"
      category: "coffee"
      multiplier_bp: 30000
      valid_from: "2024-01-01T00:00:00+01:00"
      valid_until: "2024-02-01T00:00:00+01:00"
    }
    promotions { promotion_id: "half" multiplier_bp: 5000 bonus_points: 7 reward_id: "voucher" }
  )pb");
  // coffee 999: base floor(999 * 2 / 100) = 19; tier 19 * 1.25 = 23.75 -> 23;
  // x3 -> 69; half -> 34.5 -> 34; + 7 = 41.
  Outcome o = BuyItems(999, "coffee", 1, "2024-01-31T22:59:59Z");  // Jan 31 23:59:59 local
  EXPECT_EQ(o.points(), 41);
  ASSERT_EQ(o.issued_rewards_size(), 1);
  EXPECT_EQ(o.issued_rewards(0).reward_id(), "voucher");
  EXPECT_EQ(o.issued_rewards(0).source(), loyalty::v1::IssuedReward::PROMOTION);
  EXPECT_EQ(o.issued_rewards(0).rule_id(), "half");
  EXPECT_EQ(o.issued_rewards(0).voucher_code(),
            VoucherCode(*program_, MemberId("m"), o.event_id(), "promotion:half"));
  EXPECT_EQ(st().rewards_issued().at("voucher"), 1);
  // valid_until is exclusive: from Feb 1 00:00 local only "half" applies:
  // 23 -> 11 + 7 = 18.
  EXPECT_EQ(BuyItems(999, "coffee", 1, "2024-01-31T23:00:00Z").points(), 18);
  // Not coffee: 999 -> 9 -> 11 (x1.25) -> 5 + 7 = 12.
  EXPECT_EQ(BuyItems(999, "tea", 1, "2024-01-15T12:00:00Z").points(), 12);
}

TEST_F(ApplyTest, PunchCardStampsByQuantityAndCarriesTheRemainder) {
  Load(R"pb(punch_cards {
              card_id: "card"
              category: "coffee"
              stamps_required: 10
              reward_id: "voucher"
            })pb");
  EXPECT_EQ(BuyItems(700, "coffee", 7, "2024-01-10T10:00:00Z").issued_rewards_size(), 0);
  EXPECT_EQ(st().stamps().at("card"), 7);
  BuyItems(100, "tea", 3, "2024-01-10T10:01:00Z");  // another category: no stamp
  EXPECT_EQ(st().stamps().at("card"), 7);
  Outcome o = BuyItems(500, "coffee", 5, "2024-01-10T10:02:00Z");  // 12: one reward, 2 left
  ASSERT_EQ(o.issued_rewards_size(), 1);
  EXPECT_EQ(o.issued_rewards(0).count(), 1);
  EXPECT_EQ(o.issued_rewards(0).source(), loyalty::v1::IssuedReward::PUNCH_CARD);
  EXPECT_EQ(st().stamps().at("card"), 2);
  o = BuyItems(1800, "coffee", 18, "2024-01-10T10:03:00Z");  // 20: two rewards, 0 left
  ASSERT_EQ(o.issued_rewards_size(), 1);
  EXPECT_EQ(o.issued_rewards(0).count(), 2);
  EXPECT_EQ(st().stamps().at("card"), 0);
  EXPECT_EQ(st().rewards_issued().at("voucher"), 3);
}

TEST_F(ApplyTest, RandomRuleAtZeroPpmNeverWinsAndAtOneMillionAlwaysWinsUpToItsDailyCap) {
  Load(R"pb(
    random_rewards { rule_id: "never" on: PURCHASE probability_ppm: 0 reward_id: "voucher" }
    random_rewards { rule_id: "always" on: PURCHASE probability_ppm: 1000000 bonus_points: 3 }
    random_rewards {
      rule_id: "capped"
      on: PURCHASE
      probability_ppm: 1000000
      reward_id: "coffee"
      max_per_member_per_local_day: 2
    }
  )pb");
  int64_t capped_wins = 0;
  for (int i = 0; i < 50; ++i) {
    // 10 purchases per local day (Paris), 5 days; 1000 minor = 12 points.
    const std::string when =
        "2024-01-1" + std::to_string(i / 10) + "T10:0" + std::to_string(i % 10) + ":00Z";
    Outcome o = Buy(1000, when);
    // "always" adds its bonus lot every time; from the 11th purchase on the
    // member is gold (1.5x: 15 points instead of 12).
    EXPECT_EQ(o.points(), (i < 10 ? 12 : 15) + 3) << when;
    for (const auto& r : o.issued_rewards()) {
      EXPECT_NE(r.rule_id(), "never");
      if (r.rule_id() == "capped") ++capped_wins;
    }
    EXPECT_EQ(last_entries_.back().type(), LedgerEntry::BONUS);
    EXPECT_EQ(last_entries_.back().rule_id(), "always");
  }
  EXPECT_EQ(capped_wins, 2 * 5);
  EXPECT_EQ(st().rewards_issued().count("voucher"), 0u);
  EXPECT_EQ(st().lifetime_earned_points(), 10 * 15 + 40 * 18);
  ExpectInvariant();
}

TEST_F(ApplyTest, RandomDrawIsTheSpecHmac) {
  // python3: hmac.new(b"s", b"surprise\x00e1", sha256).digest()[:8] as a
  // big-endian integer, mod 1e6.
  EXPECT_EQ(RandomDraw(*program_, "surprise", "e1"), 295963);
  EXPECT_EQ(RandomDraw(*program_, "surprise", "e2"), 513225);
}

TEST_F(ApplyTest, RandomRuleAt10000PpmWinsOnePercentWithinThreeSigma) {
  // Over n = 10^6 event ids the wins are binomial(n, 0.01): mean 10,000,
  // sigma = sqrt(n p (1 - p)) = 99.5, so 3 sigma = 298. (Python's hmac over
  // the same ids counts 9,857 wins: -1.4 sigma.)
  int64_t wins = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    if (RandomDraw(*program_, "surprise", "event-" + std::to_string(i)) < 10'000) ++wins;
  }
  EXPECT_LE(std::abs(wins - 10'000), 298) << wins;
  EXPECT_EQ(wins, 9'857);  // the same draws, counted independently
}

TEST_F(ApplyTest, EngagementRandomRewardsFireOnlyForAppliedEngagements) {
  Load(R"pb(random_rewards {
              rule_id: "lucky"
              on: ENGAGEMENT
              category: "like"
              probability_ppm: 1000000
              bonus_points: 10
            })pb");
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T10:00:00Z").points(), 11);
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T10:01:00Z").points(), 11);
  // The third like of the day is capped (max 2): IGNORED, and no draw.
  Outcome capped = Apply("\"engagement\":{\"action\":\"like\"}", "2024-01-10T10:02:00Z");
  EXPECT_EQ(capped.status(), Outcome::IGNORED);
  EXPECT_EQ(capped.points(), 0);
  // "review" is not the rule's category.
  EXPECT_EQ(Apply("\"engagement\":{\"action\":\"review\",\"ref\":\"r1\"}", "2024-01-10T10:03:00Z")
                .points(),
            20);
  EXPECT_EQ(st().lifetime_earned_points(), 42);
}

TEST_F(ApplyTest, FirstPurchaseRewardPartnerAndNpsAreRecorded) {
  Load("first_purchase_reward_id: \"voucher\"");
  Outcome o = Apply(
      "\"purchase\":{\"order_id\":\"a\",\"amount_minor\":1000,\"currency\":\"EUR\","
      "\"partner_id\":\"acme\"}",
      "2024-01-10T10:00:00Z");
  ASSERT_EQ(o.issued_rewards_size(), 1);
  EXPECT_EQ(o.issued_rewards(0).source(), loyalty::v1::IssuedReward::FIRST_PURCHASE);
  EXPECT_EQ(o.issued_rewards(0).voucher_code(),
            VoucherCode(*program_, MemberId("m"), o.event_id(), "first_purchase"));
  EXPECT_EQ(o.reward_id(), "");  // redemptions only
  ASSERT_EQ(last_entries_.size(), 1u);
  EXPECT_EQ(last_entries_[0].partner_id(), "acme");
  EXPECT_EQ(Buy(1000, "2024-01-11T10:00:00Z").issued_rewards_size(), 0);
  EXPECT_FALSE(st().has_last_nps_score());
  // No "nps" rule: IGNORED, and the answer is kept anyway.
  EXPECT_EQ(
      Apply("\"engagement\":{\"action\":\"nps\",\"score\":9}", "2024-01-12T10:00:00Z").status(),
      Outcome::IGNORED);
  EXPECT_EQ(st().last_nps_score(), 9);
}

TEST_F(ApplyTest, NoVersionBumpWithoutAPublicChange) {
  // A plan end that leaves the tier as it was: gold qualified until its
  // review, the gold plan ends before (2024-02-10T10:00Z + 1 month).
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-01-10T10:00:00Z", "o" + std::to_string(i));
  Apply("\"membership\":{\"plan_id\":\"vip\"}", "2024-01-10T11:00:00Z");
  ASSERT_EQ(st().tier_id(), "gold");
  const int64_t version = st().version();
  // The membership re-evaluated the tier: held until 11:00 + 30 days; the
  // review comes before the plan end (2024-02-10T11:00Z).
  EXPECT_EQ(NextDue(rec_), At("2024-02-09T11:00:00Z"));
  Mature("2024-02-09T10:59:59Z");
  EXPECT_EQ(st().version(), version);
  // The review keeps gold (held until 2024-03-10T11:00Z): a public change.
  Mature("2024-02-09T11:00:00Z");
  EXPECT_EQ(st().version(), version + 1);
  EXPECT_EQ(rec_.paid_tier_plus1(), 2);
  Mature("2024-02-10T11:00:00Z");  // the plan ends; still gold by qualification
  EXPECT_EQ(rec_.paid_tier_plus1(), 0);
  EXPECT_EQ(st().tier_id(), "gold");
  EXPECT_EQ(st().version(), version + 1);
  EXPECT_TRUE(last_tier_changes_.empty());
  // The same NPS answer twice at one t (so tier_held_until stays): the
  // second changes nothing.
  Apply("\"engagement\":{\"action\":\"nps\",\"score\":7}", "2024-02-11T10:00:00Z");
  const int64_t after_first = st().version();
  Apply("\"engagement\":{\"action\":\"nps\",\"score\":7}", "2024-02-11T10:00:00Z");
  EXPECT_EQ(st().version(), after_first);
  Apply("\"engagement\":{\"action\":\"nps\",\"score\":3}", "2024-02-11T10:00:00Z");
  EXPECT_EQ(st().version(), after_first + 1);
}

// --- Program versions (SPEC §10, docs/semantics.md "Program versions") ------

// kBase, and from `from` on a version "2" that earns 2 points per euro and
// puts gold at 1000 purchases.
std::string Versioned(const std::string& from) {
  const std::string v2 = absl::StrReplaceAll(
      kBase, {{"earn { points: 1 per_minor: 100 }", "earn { points: 2 per_minor: 100 }"},
              {"\"gold\" threshold: 10", "\"gold\" threshold: 1000"}});
  return absl::StrCat(kBase, "versions { version: \"2\" effective_from: \"", from, "\" program { ",
                      v2, " } }\n");
}

TEST_F(ApplyTest, AnEventIsAppliedUnderTheVersionInForceAtItsEffectiveTime) {
  // Version 2 from midnight, Paris time, on 2025-01-01 (23:00 UTC).
  LoadOnly(Versioned("2025-01-01T00:00:00+01:00"));
  // 10 EUR at the base tier's 1.25x: 12 points under version 1, 25 under 2.
  EXPECT_EQ(Buy(1000, "2024-12-31T22:59:59Z").points(), 12);
  EXPECT_EQ(Buy(1000, "2024-12-31T23:00:00Z").points(), 25);
  // Late: occurred in version 1's time, but t (the member's clock) is in
  // version 2's.
  Outcome late = Buy(1000, "2024-12-31T22:00:00Z");
  EXPECT_EQ(*TimestampToNanos(late.effective_at()), At("2024-12-31T23:00:00Z"));
  EXPECT_EQ(late.points(), 25);
}

TEST_F(ApplyTest, TheTickTimePutsAnEventUnderTheLaterVersion) {
  LoadOnly(Versioned("2025-01-01T00:00:00+01:00"));
  // A first event of a member, occurred before the version, after a tick
  // at the boundary: t = the tick time.
  Outcome out =
      Apply("\"purchase\":{\"order_id\":\"o1\",\"amount_minor\":1000,\"currency\":\"EUR\"}",
            "2024-12-31T12:00:00Z", At("2024-12-31T23:00:00Z"));
  EXPECT_EQ(out.points(), 25);
}

TEST_F(ApplyTest, AMaturityIsAppliedUnderTheVersionInForceAtItsDueTime) {
  // Gold at the 10th purchase (version 1: threshold 10), held until
  // 2024-12-01T10:09:00Z, reviewed then. Version 2 (gold at 1000) comes
  // before that review: the review downgrades.
  LoadOnly(Versioned("2024-11-15T00:00:00Z"));
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-11-01T10:0" + std::to_string(i) + ":00Z");
  ASSERT_EQ(st().tier_id(), "gold");
  EXPECT_EQ(NextDue(rec_), At("2024-12-01T10:09:00Z"));
  Mature("2024-12-01T10:09:00Z");
  EXPECT_EQ(st().tier_id(), "base");
  EXPECT_EQ(OnlyTierChange().cause(), "GRACE_ENDED");
}

TEST_F(ApplyTest, MaturitiesBeforeAndAfterTheBoundaryEachUseTheirOwnVersion) {
  // Version 2 from 2024-12-15: the review of 2024-12-01 (version 1) keeps
  // gold for 30 more days; the one of 2024-12-31 (version 2) downgrades.
  // Both are applied by one purchase in January, itself under version 2.
  LoadOnly(Versioned("2024-12-15T00:00:00Z"));
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-11-01T10:0" + std::to_string(i) + ":00Z");
  ASSERT_EQ(st().tier_id(), "gold");
  Outcome out = Buy(1000, "2025-01-05T12:00:00Z");
  ASSERT_EQ(last_tier_changes_.size(), 1u);
  EXPECT_EQ(last_tier_changes_[0].cause(), "GRACE_ENDED");
  EXPECT_EQ(*TimestampToNanos(last_tier_changes_[0].effective_at()), At("2024-12-31T10:09:00Z"));
  EXPECT_EQ(st().tier_id(), "base");
  EXPECT_EQ(out.points(), 25);  // version 2's earn, at the base tier
  // Without the version, both reviews keep gold (10 purchases in the
  // window) and the purchase earns gold's 1.5x of 10: 15.
  Load("");
  for (int i = 0; i < 10; ++i) Buy(1000, "2024-11-01T10:0" + std::to_string(i) + ":00Z");
  EXPECT_EQ(Buy(1000, "2025-01-05T12:00:00Z").points(), 15);
  EXPECT_EQ(st().tier_id(), "gold");
}

}  // namespace
}  // namespace loyalty
