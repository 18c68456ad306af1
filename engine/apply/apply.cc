#include "engine/apply/apply.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "engine/base/crypto.h"
#include "engine/base/status.h"

namespace loyalty {
namespace {

using loyalty::v1::Event;
using loyalty::v1::LedgerEntry;
using loyalty::v1::Lot;
using loyalty::v1::MemberRecord;
using loyalty::v1::MemberState;
using loyalty::v1::Outcome;
using i128 = __int128;

constexpr UnixNanos kNever = INT64_MAX;

// Counters never wrap: an overflow is a broken invariant (events are bounded
// by kPointsPerEventMax, so reaching it takes ~9,000 maximal events).
int64_t CheckedAdd(int64_t a, int64_t b) {
  int64_t out;
  LOYALTY_CHECK(!__builtin_add_overflow(a, b, &out)) << a << " + " << b;
  return out;
}

void Add(MemberState* s, int64_t (MemberState::*get)() const, void (MemberState::*set)(int64_t),
         int64_t v) {
  (s->*set)(CheckedAdd((s->*get)(), v));
}

// Mutations of one member record within one application. Every mutation marks
// the delta changed; ledger entries get the member's next sequence number.
class MemberOps {
 public:
  MemberOps(const CompiledProgram& program, MemberRecord* rec, MemberDelta* delta)
      : program_(program), rec_(rec), st_(rec->mutable_state()), delta_(delta) {}

  MemberState* state() { return st_; }
  MemberRecord* record() { return rec_; }

  LedgerEntry* Entry(LedgerEntry::Type type, int64_t points, UnixNanos at) {
    LedgerEntry& e = delta_->entries.emplace_back();
    e.set_program_id(st_->program_id());
    e.set_member_id(st_->member_id());
    e.set_seq(rec_->next_entry_seq());
    rec_->set_next_entry_seq(rec_->next_entry_seq() + 1);
    e.set_type(type);
    e.set_points(points);
    *e.mutable_effective_at() = NanosToTimestamp(at);
    Touch();
    return &e;
  }

  // When a lot that becomes available at `available_at` expires; 0 = never.
  UnixNanos ExpiryFor(UnixNanos available_at) const {
    const auto& exp = program_.proto().expiration();
    if (exp.mode() != loyalty::v1::Expiration::FIXED_DAYS) return 0;
    UnixNanos at = available_at + exp.days() * kNanosPerDay;
    if (exp.round_to_month_end()) at = StartOfNextLocalMonth(at, program_.time_zone());
    return at;
  }

  // A new lot of `points`; pending until `available_at` if that is after `t`.
  // An available lot pays debt first. Returns the lot id.
  int64_t AddLot(int64_t points, UnixNanos t, UnixNanos available_at, absl::string_view order_id) {
    LOYALTY_CHECK(points > 0) << points;
    Lot* lot = rec_->add_lots();
    lot->set_lot_id(rec_->next_lot_id());
    rec_->set_next_lot_id(rec_->next_lot_id() + 1);
    lot->set_remaining_points(points);
    lot->set_available_at_ns(available_at);
    lot->set_expires_at_ns(ExpiryFor(available_at));
    lot->set_pending(available_at > t);
    lot->set_order_id(std::string(order_id));
    if (!lot->pending()) PayDebt(lot);
    Touch();
    return lot->lot_id();
  }

  // Takes up to `amount` from lot `lot_id` (pending or available). Returns
  // what was taken.
  int64_t TakeFromLot(int64_t lot_id, int64_t amount) {
    for (Lot& lot : *rec_->mutable_lots()) {
      if (lot.lot_id() != lot_id) continue;
      int64_t take = std::min(amount, lot.remaining_points());
      lot.set_remaining_points(lot.remaining_points() - take);
      if (take > 0) Touch();
      return take;
    }
    return 0;
  }

  // Consumes up to `amount` from available lots: earliest expiry first
  // (never-expiring last), then creation order. Returns what was taken.
  //
  // A member may hold thousands of lots while a spend takes a few of them:
  // a heap (O(lots + taken × log lots)) rather than a sort of all of them.
  int64_t ConsumeAvailable(int64_t amount) {
    if (amount <= 0) return 0;
    struct Candidate {
      UnixNanos expires;  // kNever for a lot that never expires
      int64_t lot_id;
      Lot* lot;
    };
    // std::*_heap keep the largest first; this puts the earliest first.
    auto later = [](const Candidate& a, const Candidate& b) {
      return std::tie(a.expires, a.lot_id) > std::tie(b.expires, b.lot_id);
    };
    std::vector<Candidate> heap;
    heap.reserve(static_cast<size_t>(rec_->lots_size()));
    for (Lot& lot : *rec_->mutable_lots()) {
      if (lot.pending() || lot.remaining_points() <= 0) continue;
      heap.push_back({lot.expires_at_ns() == 0 ? kNever : lot.expires_at_ns(), lot.lot_id(), &lot});
    }
    std::make_heap(heap.begin(), heap.end(), later);
    int64_t taken = 0;
    while (taken < amount && !heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      Lot* lot = heap.back().lot;
      heap.pop_back();
      int64_t take = std::min(amount - taken, lot->remaining_points());
      lot->set_remaining_points(lot->remaining_points() - take);
      taken += take;
    }
    if (taken > 0) Touch();
    return taken;
  }

  // A shortfall becomes debt when the program allows negative balances;
  // otherwise it is written off. Returns the part that became debt.
  int64_t ShortfallToDebt(int64_t shortfall) {
    if (shortfall <= 0 || !program_.allow_negative_balance()) return 0;
    st_->set_debt_points(CheckedAdd(st_->debt_points(), shortfall));
    Touch();
    return shortfall;
  }

  void PayDebt(Lot* lot) {
    int64_t pay = std::min(st_->debt_points(), lot->remaining_points());
    if (pay <= 0) return;
    lot->set_remaining_points(lot->remaining_points() - pay);
    st_->set_debt_points(st_->debt_points() - pay);
    Touch();
  }

  // Drops empty lots (keeping creation order) and recomputes
  // available/pending from lots and debt, in one pass.
  void Settle() {
    auto* lots = rec_->mutable_lots();
    int keep = 0;
    int64_t available = 0;
    int64_t pending = 0;
    for (int i = 0; i < lots->size(); ++i) {
      const Lot& lot = lots->Get(i);
      if (lot.remaining_points() <= 0) continue;
      if (lot.pending()) {
        pending = CheckedAdd(pending, lot.remaining_points());
      } else {
        available = CheckedAdd(available, lot.remaining_points());
      }
      if (keep != i) lots->SwapElements(keep, i);
      ++keep;
    }
    while (lots->size() > keep) lots->RemoveLast();
    LOYALTY_CHECK(st_->debt_points() == 0 || available == 0)
        << "member " << st_->member_id() << " owes " << st_->debt_points() << " while holding "
        << available << " available points";
    st_->set_available_points(available - st_->debt_points());
    st_->set_pending_points(pending);
  }

  void Touch() { delta_->changed = true; }

  // The local calendar month of `at` as year * 12 + (month - 1). The last
  // answer is kept: one application asks for the month of its t twice
  // (bucket, then evaluation).
  int32_t MonthIndex(UnixNanos at) {
    if (at != month_of_) {
      const int64_t yyyymm = LocalMonthKey(at, program_.time_zone());
      month_ = static_cast<int32_t>(yyyymm / 100 * 12 + yyyymm % 100 - 1);
      month_of_ = at;
    }
    return month_;
  }

  const CompiledProgram& program() const { return program_; }

 private:
  const CompiledProgram& program_;
  MemberRecord* rec_;
  MemberState* st_;
  MemberDelta* delta_;
  UnixNanos month_of_ = INT64_MIN;  // MonthIndex's last question and answer
  int32_t month_ = 0;
};

// Counters may grow by at most kPointsPerEventMax (or 10^12 minor units) per
// event; a member whose counters come within kCounterHeadroom of the int64
// limit gets no more growing events (REJECTED COUNTER_LIMIT) instead of an
// overflow. Only adversarial input gets there (about 9,000 maximal events).
constexpr int64_t kCounterHeadroom = 10 * kPointsPerEventMax;

bool NearCounterLimit(const MemberState& st) {
  const int64_t limit = INT64_MAX - kCounterHeadroom;
  for (int64_t v :
       {st.lifetime_earned_points(), st.adjusted_points(), st.debt_points(), st.redeemed_points(),
        st.expired_points(), st.clawed_back_points(), st.spend_minor(), st.purchase_count()}) {
    if (v > limit || v < -limit) return true;
  }
  return false;
}

void BumpVersion(MemberRecord* rec, MemberDelta* delta, bool was_changed) {
  if (delta->changed && !was_changed) {
    rec->mutable_state()->set_version(rec->state().version() + 1);
  }
}

// --- Tiers (SPEC §6 Tiers, docs/semantics.md "Programme rules") -----------

// Adds to the tier metric bucket of the local month of `at`. `current`: `at`
// is the member's t, so its month is created if missing (t never goes back:
// it is the last); otherwise (refunds) a missing month was dropped with its
// window and nothing changes. A no-op for programs without qualification.
void AddToBucket(MemberOps& ops, UnixNanos at, bool current, int64_t spend_minor, int64_t purchases,
                 int64_t points) {
  if (!ops.program().has_tier_qualification()) return;
  const int32_t month = ops.MonthIndex(at);
  auto* months = ops.record()->mutable_months();
  int i = 0;
  while (i < months->size() && months->Get(i).month() < month) ++i;
  if (i == months->size() || months->Get(i).month() != month) {
    if (!current) return;
    LOYALTY_CHECK(i == months->size()) << "month bucket " << month << " before the last";
    months->Add()->set_month(month);
  }
  loyalty::v1::MonthBucket* b = months->Mutable(i);
  b->set_spend_minor(CheckedAdd(b->spend_minor(), spend_minor));
  b->set_purchase_count(CheckedAdd(b->purchase_count(), purchases));
  b->set_earned_points(CheckedAdd(b->earned_points(), points));
}

// Drops the buckets before the window that ends with the month of `t` and
// returns the metric summed over the window.
int64_t WindowMetric(MemberOps& ops, UnixNanos t) {
  const auto& q = ops.program().proto().tier_qualification();
  const int32_t first = ops.MonthIndex(t) - q.window_months() + 1;
  auto* months = ops.record()->mutable_months();
  int drop = 0;
  while (drop < months->size() && months->Get(drop).month() < first) ++drop;
  if (drop > 0) months->DeleteSubrange(0, drop);
  int64_t metric = 0;
  for (const auto& b : *months) {
    switch (q.metric()) {
      case loyalty::v1::TierQualification::SPEND_MINOR:
        metric = CheckedAdd(metric, b.spend_minor());
        break;
      case loyalty::v1::TierQualification::PURCHASE_COUNT:
        metric = CheckedAdd(metric, b.purchase_count());
        break;
      default:
        metric = CheckedAdd(metric, b.earned_points());
        break;
    }
  }
  return metric;
}

// Sets tier_id to the effective tier, max(held, paid), and records a tier
// change outcome if it moved.
void UpdateEffectiveTier(MemberOps& ops, UnixNanos at, absl::string_view cause,
                         MemberDelta* delta) {
  const CompiledProgram& program = ops.program();
  if (program.proto().tiers_size() == 0) return;
  MemberRecord* rec = ops.record();
  int effective = rec->qualified_tier();
  if (rec->paid_tier_plus1() > 0) effective = std::max(effective, rec->paid_tier_plus1() - 1);
  const std::string& to = program.proto().tiers(effective).tier_id();
  MemberState* st = ops.state();
  if (st->tier_id() == to) return;
  Outcome& o = delta->tier_outcomes.emplace_back();
  o.set_program_id(st->program_id());
  o.set_member_id(st->member_id());
  o.set_status(Outcome::APPLIED);
  o.set_reason("TIER_CHANGED");
  *o.mutable_effective_at() = NanosToTimestamp(at);
  o.mutable_tier_change()->set_from_tier_id(st->tier_id());
  o.mutable_tier_change()->set_to_tier_id(to);
  o.mutable_tier_change()->set_cause(std::string(cause));
  *o.mutable_tier_change()->mutable_perks() = program.proto().tiers(effective).perks();
  st->set_tier_id(to);
  ops.Touch();
}

// The tier evaluation at `t` (after a member event, or a grace review due at
// `t`).
void EvaluateTier(MemberOps& ops, UnixNanos t, MemberDelta* delta) {
  const CompiledProgram& program = ops.program();
  MemberRecord* rec = ops.record();
  MemberState* st = ops.state();
  if (!program.has_tier_qualification()) {
    // A program edited to drop its qualification holds no tier.
    if (rec->qualified_tier() == 0) return;
    rec->set_qualified_tier(0);
    rec->clear_months();
    st->clear_tier_held_until();
    ops.Touch();
    UpdateEffectiveTier(ops, t, "GRACE_ENDED", delta);
    return;
  }
  const int64_t metric = WindowMetric(ops, t);
  int q = 0;
  for (int i = 0; i < program.proto().tiers_size(); ++i) {
    if (program.proto().tiers(i).threshold() <= metric) q = i;
  }
  const int held = rec->qualified_tier();
  const UnixNanos held_until =
      st->has_tier_held_until() ? *TimestampToNanos(st->tier_held_until()) : 0;
  if (q < held && t < held_until) return;
  const char* cause = q > held ? "QUALIFIED" : "GRACE_ENDED";
  const UnixNanos until =
      q == 0 ? 0 : t + int64_t{program.proto().tier_qualification().grace_days()} * kNanosPerDay;
  if (q == held && until == held_until) return;
  rec->set_qualified_tier(q);
  if (until == 0) {
    st->clear_tier_held_until();
  } else {
    *st->mutable_tier_held_until() = NanosToTimestamp(until);
  }
  ops.Touch();
  UpdateEffectiveTier(ops, t, cause, delta);
}

// The next tier maturity: the grace review (at tier_held_until while a tier
// above the first is held) or the paid plan's end (at vip_until), or kNever.
// `review` tells which; the review comes first at equal times.
UnixNanos NextTierDue(const MemberRecord& rec, bool* review) {
  UnixNanos next = kNever;
  *review = false;
  if (rec.qualified_tier() > 0 && rec.state().has_tier_held_until()) {
    next = *TimestampToNanos(rec.state().tier_held_until());
    *review = true;
  }
  if (rec.paid_tier_plus1() > 0) {
    const UnixNanos end = *TimestampToNanos(rec.state().vip_until());
    if (end < next) {
      next = end;
      *review = false;
    }
  }
  return next;
}

// Grace reviews and plan ends due at or before `t`, in time order. A review
// that keeps the tier schedules the next one grace_days later (>= 1 day), so
// the loop ends.
void ApplyTierMaturities(MemberOps& ops, UnixNanos t, MemberDelta* delta) {
  UnixNanos last_due = INT64_MIN;
  bool last_review = false;
  for (;;) {
    bool review = false;
    const UnixNanos due = NextTierDue(*ops.record(), &review);
    if (due > t) return;
    // Each step moves on: a review reschedules >= 1 day later or ends the
    // hold, a plan end clears the plan.
    LOYALTY_CHECK(due > last_due || (due == last_due && last_review && !review))
        << "member " << ops.state()->member_id() << ": tier maturity at " << due << " repeats";
    last_due = due;
    last_review = review;
    if (review) {
      EvaluateTier(ops, due, delta);
    } else {
      // Internal only: a change of the public state (the tier) touches.
      ops.record()->set_paid_tier_plus1(0);
      UpdateEffectiveTier(ops, due, "PLAN_ENDED", delta);
    }
  }
}

// One maturity: a pending lot's release or a lot's expiry.
struct Maturity {
  UnixNanos due;
  int64_t lot_id;
  int kind;   // 0 = release, 1 = expiry (created in this order with the lot)
  int index;  // the lot's place in the record; lots stay put until Settle()
  bool operator<(const Maturity& o) const {
    return std::tie(due, lot_id, kind) < std::tie(o.due, o.lot_id, o.kind);
  }
};

void ApplyLotMaturities(MemberOps& ops, UnixNanos t);

void ApplyMaturitiesInner(MemberOps& ops, UnixNanos t, MemberDelta* delta) {
  // Lots and tiers do not affect each other: lot maturities first, then the
  // tier ones, each in time order.
  ApplyLotMaturities(ops, t);
  ApplyTierMaturities(ops, t, delta);
}

void ApplyLotMaturities(MemberOps& ops, UnixNanos t) {
  MemberRecord* rec = ops.record();
  std::vector<Maturity> due;
  for (int i = 0; i < rec->lots_size(); ++i) {
    const Lot& lot = rec->lots(i);
    if (lot.pending() && lot.available_at_ns() <= t) {
      due.push_back({lot.available_at_ns(), lot.lot_id(), 0, i});
    }
    if (lot.expires_at_ns() != 0 && lot.expires_at_ns() <= t) {
      due.push_back({lot.expires_at_ns(), lot.lot_id(), 1, i});
    }
  }
  if (due.empty()) return;
  std::sort(due.begin(), due.end());
  for (const Maturity& m : due) {
    Lot* lot = rec->mutable_lots(m.index);
    LOYALTY_CHECK(lot->lot_id() == m.lot_id) << "lot " << m.lot_id << " moved";
    if (lot->remaining_points() == 0) continue;
    if (m.kind == 0) {
      lot->set_pending(false);
      ops.PayDebt(lot);
      LedgerEntry* e = ops.Entry(LedgerEntry::RELEASE, 0, m.due);
      e->set_lot_id(m.lot_id);
      e->set_debt_points_after(ops.state()->debt_points());
    } else {
      int64_t expired = lot->remaining_points();
      lot->set_remaining_points(0);
      Add(ops.state(), &MemberState::expired_points, &MemberState::set_expired_points, expired);
      LedgerEntry* e = ops.Entry(LedgerEntry::EXPIRE, -expired, m.due);
      e->set_lot_id(m.lot_id);
      e->set_debt_points_after(ops.state()->debt_points());
    }
  }
  ops.Settle();
}

// Spends `amount` from available lots; a shortfall becomes debt or is written
// off. Returns {taken (incl. debt), written off}.
std::pair<int64_t, int64_t> Spend(MemberOps& ops, int64_t amount, int64_t own_lot_id) {
  int64_t taken = 0;
  if (own_lot_id != 0) taken += ops.TakeFromLot(own_lot_id, amount);
  taken += ops.ConsumeAvailable(amount - taken);
  int64_t shortfall = amount - taken;
  int64_t debt = ops.ShortfallToDebt(shortfall);
  return {taken + debt, shortfall - debt};
}

bool HasItemOf(const loyalty::v1::Purchase& p, absl::string_view category) {
  return std::any_of(p.items().begin(), p.items().end(),
                     [&](const auto& item) { return item.category() == category; });
}

// Local wall-clock time of occurred_at, computed once per purchase for all its
// promotions.
struct LocalTime {
  LocalTime(UnixNanos occurred, const absl::TimeZone& tz) {
    const absl::CivilSecond local = absl::ToCivilSecond(NanosToTime(occurred), tz);
    day = static_cast<int>(absl::GetWeekday(local)) + 1;  // 1 = Monday .. 7 = Sunday
    minute = local.hour() * 60 + local.minute();
  }
  int day;
  int minute;  // of the day
};

// Whether a promotion's window, dates and category match a purchase. The
// window is in local wall-clock time of occurred_at (docs/semantics.md).
bool PromotionMatches(const CompiledPromotion& promo, const loyalty::v1::Purchase& p,
                      UnixNanos occurred, const LocalTime& local) {
  if (occurred < promo.valid_from_ns || occurred >= promo.valid_until_ns) return false;
  const std::string& category = promo.proto->category();
  if (!category.empty() && !HasItemOf(p, category)) return false;
  auto listed = [&](int d) { return promo.day_mask == 0 || (promo.day_mask & (1u << d)) != 0; };
  const int yesterday = local.day == 1 ? 7 : local.day - 1;
  if (promo.end_minute > promo.start_minute) {
    return listed(local.day) && local.minute >= promo.start_minute &&
           local.minute < promo.end_minute;
  }
  // Past midnight: [start, 24:00) on a listed day, [00:00, end) the day after.
  return (listed(local.day) && local.minute >= promo.start_minute) ||
         (listed(yesterday) && local.minute < promo.end_minute);
}

// A reward given by a rule: in the outcome, counted in rewards_issued.
void IssueReward(MemberOps& ops, const Event& e, const std::string& reward_id,
                 loyalty::v1::IssuedReward::Source source, const std::string& rule_id,
                 int64_t count, Outcome* out) {
  static constexpr const char* kTagPrefix[] = {"", "first_purchase",
                                               "card:", "promotion:", "random:"};
  MemberState* st = ops.state();
  auto& issued = (*st->mutable_rewards_issued())[reward_id];
  issued = CheckedAdd(issued, count);
  loyalty::v1::IssuedReward* r = out->add_issued_rewards();
  r->set_reward_id(reward_id);
  r->set_source(source);
  r->set_rule_id(rule_id);
  r->set_count(count);
  const std::string tag = absl::StrCat(kTagPrefix[source], rule_id);
  r->set_voucher_code(VoucherCode(ops.program(), st->member_id(), e.event_id(), tag));
  ops.Touch();
}

// The random rewards of event `e` (docs/semantics.md). Returns the bonus
// points granted.
absl::Status ApplyRandomRewards(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                                Outcome* out, int64_t* bonus_total) {
  const CompiledProgram& program = ops.program();
  *bonus_total = 0;
  for (const auto& rule : program.proto().random_rewards()) {
    if (!RandomRuleApplies(rule, e)) continue;
    if (RandomDraw(program, rule.rule_id(), e.event_id()) >= rule.probability_ppm()) continue;
    if (rule.max_per_member_per_local_day() > 0) {
      const UnixNanos occurred = *TimestampToNanos(e.occurred_at());
      const std::string counter =
          RandomWinsCounter(rule.rule_id(), LocalDayKey(occurred, program.time_zone()));
      LOYALTY_ASSIGN_OR_RETURN(int64_t wins, ctx->GetCounter(*ops.record(), counter));
      if (wins >= rule.max_per_member_per_local_day()) continue;
      ctx->PutCounter(*ops.record(), counter, wins + 1);
    }
    if (!rule.reward_id().empty()) {
      IssueReward(ops, e, rule.reward_id(), loyalty::v1::IssuedReward::RANDOM, rule.rule_id(), 1,
                  out);
    }
    if (rule.bonus_points() > 0) {
      MemberState* st = ops.state();
      const int64_t lot_id = ops.AddLot(rule.bonus_points(), t, t, "");
      Add(st, &MemberState::lifetime_earned_points, &MemberState::set_lifetime_earned_points,
          rule.bonus_points());
      LedgerEntry* entry = ops.Entry(LedgerEntry::BONUS, rule.bonus_points(), t);
      entry->set_event_id(e.event_id());
      entry->set_lot_id(lot_id);
      entry->set_rule_id(rule.rule_id());
      entry->set_debt_points_after(st->debt_points());
      *bonus_total += rule.bonus_points();
    }
  }
  return absl::OkStatus();
}

}  // namespace

__int128 BaseEarn(const CompiledProgram& program, const loyalty::v1::Purchase& p) {
  i128 weighted = 0;
  if (p.items_size() == 0) {
    weighted = i128{p.amount_minor()} * program.CategoryBp("");
  } else {
    for (const auto& item : p.items()) {
      weighted += i128{item.amount_minor()} * program.CategoryBp(item.category());
    }
  }
  const auto& earn = program.proto().earn();
  return weighted * earn.points() / (i128{earn.per_minor()} * kBp);
}

namespace {

absl::Status ApplyPurchase(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                           Outcome* out) {
  const CompiledProgram& program = ops.program();
  const auto& p = e.purchase();
  MemberState* st = ops.state();
  const UnixNanos occurred = *TimestampToNanos(e.occurred_at());
  i128 points = BaseEarn(program, p);
  // The tier before this event.
  points = points * program.TierEarnBp(program.TierIndex(st->tier_id())) / kBp;
  // Matching promotions in file order: each multiplier with its own floor,
  // then the bonuses.
  std::vector<const CompiledPromotion*> promos;
  if (!program.promotions().empty()) {
    const LocalTime local(occurred, program.time_zone());
    for (const CompiledPromotion& promo : program.promotions()) {
      if (PromotionMatches(promo, p, occurred, local)) promos.push_back(&promo);
    }
  }
  for (const CompiledPromotion* promo : promos) {
    if (promo->proto->multiplier_bp() > 0) points = points * promo->proto->multiplier_bp() / kBp;
  }
  for (const CompiledPromotion* promo : promos) points += promo->proto->bonus_points();
  LOYALTY_CHECK(points >= 0 && points <= kPointsPerEventMax) << "earn out of bounds";
  const int64_t earned = static_cast<int64_t>(points);

  loyalty::v1::OrderRecord order;
  order.set_event_id(e.event_id());
  order.set_amount_minor(p.amount_minor());
  order.set_points(earned);
  order.set_effective_at_ns(t);
  if (earned > 0) {
    UnixNanos available_at = t + program.proto().pending_days() * kNanosPerDay;
    int64_t lot_id = ops.AddLot(earned, t, available_at, p.order_id());
    order.set_lot_id(lot_id);
    Add(st, &MemberState::lifetime_earned_points, &MemberState::set_lifetime_earned_points, earned);
    LedgerEntry* entry = ops.Entry(LedgerEntry::EARN, earned, t);
    entry->set_event_id(e.event_id());
    entry->set_lot_id(lot_id);
    entry->set_order_id(p.order_id());
    entry->set_partner_id(p.partner_id());
    entry->set_debt_points_after(st->debt_points());
  }
  ctx->PutOrder(*ops.record(), p.order_id(), order);

  // Punch cards: stamps by quantity of matching items, the remainder carried.
  for (const auto& card : program.proto().punch_cards()) {
    int64_t stamps = 0;
    for (const auto& item : p.items()) {
      if (item.category() == card.category()) stamps += item.quantity();
    }
    if (stamps == 0) continue;
    int64_t& on_card = (*st->mutable_stamps())[card.card_id()];
    on_card = CheckedAdd(on_card, stamps);
    const int64_t filled = on_card / card.stamps_required();
    on_card %= card.stamps_required();
    ops.Touch();
    if (filled > 0) {
      IssueReward(ops, e, card.reward_id(), loyalty::v1::IssuedReward::PUNCH_CARD, card.card_id(),
                  filled, out);
    }
  }
  for (const CompiledPromotion* promo : promos) {
    if (promo->proto->reward_id().empty()) continue;
    IssueReward(ops, e, promo->proto->reward_id(), loyalty::v1::IssuedReward::PROMOTION,
                promo->proto->promotion_id(), 1, out);
  }
  int64_t bonus = 0;
  LOYALTY_RETURN_IF_ERROR(ApplyRandomRewards(ops, e, t, ctx, out, &bonus));

  // KPI stats: occurred_at decides the purchase dates.
  Add(st, &MemberState::purchase_count, &MemberState::set_purchase_count, 1);
  Add(st, &MemberState::spend_minor, &MemberState::set_spend_minor, p.amount_minor());
  if (!st->has_first_purchase_at()) {
    *st->mutable_first_purchase_at() = NanosToTimestamp(occurred);
    const std::string& reward = program.proto().first_purchase_reward_id();
    if (!reward.empty()) {
      IssueReward(ops, e, reward, loyalty::v1::IssuedReward::FIRST_PURCHASE, "", 1, out);
    }
  } else if (*TimestampToNanos(st->first_purchase_at()) > occurred) {
    *st->mutable_first_purchase_at() = NanosToTimestamp(occurred);
  }
  if (!st->has_last_purchase_at() || *TimestampToNanos(st->last_purchase_at()) < occurred) {
    *st->mutable_last_purchase_at() = NanosToTimestamp(occurred);
  }
  AddToBucket(ops, t, /*current=*/true, p.amount_minor(), 1, earned + bonus);
  ops.Touch();
  out->set_status(Outcome::APPLIED);
  out->set_points(earned + bonus);
  return absl::OkStatus();
}

absl::Status ApplyEngagement(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                             Outcome* out) {
  const CompiledProgram& program = ops.program();
  const auto& g = e.engagement();
  // The NPS answer is kept whatever the rules do with the event.
  MemberState* nps_st = ops.state();
  if (g.action() == "nps" &&
      (!nps_st->has_last_nps_score() || nps_st->last_nps_score() != g.score())) {
    nps_st->set_last_nps_score(g.score());
    ops.Touch();
  }
  const auto* rule = program.EngagementRule(g.action());
  if (rule == nullptr) {
    out->set_status(Outcome::IGNORED);
    out->set_reason("NO_RULE");
    return absl::OkStatus();
  }
  const MemberRecord& rec = *ops.record();
  std::string ref_counter;
  if (rule->unique_per_ref()) {
    if (g.ref().empty()) {
      out->set_status(Outcome::IGNORED);
      out->set_reason("EMPTY_REF");
      return absl::OkStatus();
    }
    ref_counter = std::string("ref") + '\0' + g.action() + '\0' + g.ref();
    LOYALTY_ASSIGN_OR_RETURN(int64_t used, ctx->GetCounter(rec, ref_counter));
    if (used > 0) {
      out->set_status(Outcome::IGNORED);
      out->set_reason("REF_ALREADY_USED");
      return absl::OkStatus();
    }
  }
  // The cap counts per local day of occurred_at; without a cap nothing is
  // counted (a counter per member, action and day would only take space).
  if (rule->max_per_local_day() > 0) {
    const UnixNanos occurred = *TimestampToNanos(e.occurred_at());
    const std::string day_counter = std::string("day") + '\0' + g.action() + '\0' +
                                    std::to_string(LocalDayKey(occurred, program.time_zone()));
    LOYALTY_ASSIGN_OR_RETURN(int64_t today, ctx->GetCounter(rec, day_counter));
    if (today >= rule->max_per_local_day()) {
      out->set_status(Outcome::IGNORED);
      out->set_reason("DAILY_CAP");
      return absl::OkStatus();
    }
    ctx->PutCounter(rec, day_counter, today + 1);
  }
  if (!ref_counter.empty()) ctx->PutCounter(rec, ref_counter, 1);
  if (rule->points() > 0) {
    int64_t lot_id = ops.AddLot(rule->points(), t, t, "");
    MemberState* st = ops.state();
    Add(st, &MemberState::lifetime_earned_points, &MemberState::set_lifetime_earned_points,
        rule->points());
    LedgerEntry* entry = ops.Entry(LedgerEntry::ENGAGE, rule->points(), t);
    entry->set_event_id(e.event_id());
    entry->set_lot_id(lot_id);
    entry->set_debt_points_after(st->debt_points());
  }
  int64_t bonus = 0;
  LOYALTY_RETURN_IF_ERROR(ApplyRandomRewards(ops, e, t, ctx, out, &bonus));
  AddToBucket(ops, t, /*current=*/true, 0, 0, rule->points() + bonus);
  out->set_status(Outcome::APPLIED);
  out->set_points(rule->points() + bonus);
  return absl::OkStatus();
}

void ApplyRedemption(MemberOps& ops, const Event& e, UnixNanos t, Outcome* out) {
  const CompiledProgram& program = ops.program();
  const auto& r = e.redemption();
  MemberState* st = ops.state();
  int64_t cost = r.points();
  if (!r.reward_id().empty()) {
    out->set_reward_id(r.reward_id());
    const auto* reward = program.Reward(r.reward_id());
    const char* refusal = nullptr;
    if (reward == nullptr) {
      refusal = "UNKNOWN_REWARD";
    } else if (reward->cost_points() == 0) {
      refusal = "NOT_REDEEMABLE";
    } else if (!reward->min_tier_id().empty() &&
               program.TierIndex(st->tier_id()) < program.TierIndex(reward->min_tier_id())) {
      refusal = "TIER_TOO_LOW";
    }
    if (refusal != nullptr) {
      out->set_status(Outcome::REJECTED);
      out->set_reason(refusal);
      return;
    }
    cost = reward->cost_points();
  }
  if (st->available_points() < cost) {
    out->set_status(Outcome::REJECTED);
    out->set_reason("INSUFFICIENT_POINTS");
    return;
  }
  int64_t taken = ops.ConsumeAvailable(cost);
  LOYALTY_CHECK(taken == cost) << "available " << st->available_points() << " but took " << taken;
  Add(st, &MemberState::redeemed_points, &MemberState::set_redeemed_points, cost);
  LedgerEntry* entry = ops.Entry(LedgerEntry::REDEEM, -cost, t);
  entry->set_event_id(e.event_id());
  entry->set_reward_id(r.reward_id());
  entry->set_debt_points_after(st->debt_points());
  out->set_status(Outcome::APPLIED);
  out->set_points(-cost);
  out->set_voucher_code(VoucherCode(program, st->member_id(), e.event_id()));
}

absl::Status ApplyRefund(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                         Outcome* out) {
  const auto& refund = e.refund();
  LOYALTY_ASSIGN_OR_RETURN(auto found, ctx->GetOrder(*ops.record(), refund.order_id()));
  if (!found) {
    out->set_status(Outcome::IGNORED);
    out->set_reason("UNKNOWN_ORDER");
    return absl::OkStatus();
  }
  loyalty::v1::OrderRecord order = *found;
  const int64_t a = order.amount_minor();
  const int64_t r_before = order.refunded_minor();
  if (r_before >= a) {
    out->set_status(Outcome::IGNORED);
    out->set_reason("NOTHING_TO_REFUND");
    return absl::OkStatus();
  }
  const int64_t r_after = std::min<int64_t>(a, r_before + refund.amount_minor());
  const i128 p = order.points();
  const int64_t clawback = static_cast<int64_t>(p * r_after / a - p * r_before / a);
  order.set_refunded_minor(r_after);
  ctx->PutOrder(*ops.record(), refund.order_id(), order);

  MemberState* st = ops.state();
  Add(st, &MemberState::spend_minor, &MemberState::set_spend_minor, -(r_after - r_before));
  if (r_after == a) Add(st, &MemberState::purchase_count, &MemberState::set_purchase_count, -1);
  ops.Touch();
  int64_t taken = 0;
  if (clawback > 0) {
    auto [took, written_off] = Spend(ops, clawback, order.lot_id());
    taken = took;
    Add(st, &MemberState::clawed_back_points, &MemberState::set_clawed_back_points, taken);
    LedgerEntry* entry = ops.Entry(LedgerEntry::CLAWBACK, -taken, t);
    entry->set_event_id(e.event_id());
    entry->set_order_id(refund.order_id());
    entry->set_written_off_points(written_off);
    entry->set_debt_points_after(st->debt_points());
  }
  AddToBucket(ops, order.effective_at_ns(), /*current=*/false, -(r_after - r_before),
              r_after == a ? -1 : 0, -clawback);
  out->set_status(Outcome::APPLIED);
  out->set_points(-taken);
  return absl::OkStatus();
}

void ApplyAdjustment(MemberOps& ops, const Event& e, UnixNanos t, Outcome* out) {
  const auto& adj = e.adjustment();
  MemberState* st = ops.state();
  int64_t delta = 0;
  int64_t written_off = 0;
  int64_t lot_id = 0;
  if (adj.points() > 0) {
    lot_id = ops.AddLot(adj.points(), t, t, "");
    delta = adj.points();
  } else {
    auto [taken, off] = Spend(ops, -adj.points(), 0);
    delta = -taken;
    written_off = off;
  }
  Add(st, &MemberState::adjusted_points, &MemberState::set_adjusted_points, delta);
  LedgerEntry* entry = ops.Entry(LedgerEntry::ADJUST, delta, t);
  entry->set_event_id(e.event_id());
  entry->set_lot_id(lot_id);
  entry->set_reason(adj.reason());
  entry->set_written_off_points(written_off);
  entry->set_debt_points_after(st->debt_points());
  out->set_status(Outcome::APPLIED);
  out->set_points(delta);
}

void ApplyMembership(MemberOps& ops, const Event& e, UnixNanos t, MemberDelta* delta,
                     Outcome* out) {
  const CompiledProgram& program = ops.program();
  const auto* plan = program.PaidPlan(e.membership().plan_id());
  LOYALTY_CHECK(plan != nullptr) << "validated plan_id " << e.membership().plan_id();
  MemberState* st = ops.state();
  UnixNanos from = t;
  if (st->has_vip_until()) from = std::max(from, *TimestampToNanos(st->vip_until()));
  // vip_until stays inside the event time range, so that time arithmetic on
  // it never leaves int64 nanoseconds (from < 2100, months <= 1200).
  const UnixNanos until = AddLocalMonths(from, plan->months(), program.time_zone());
  if (until >= kEventTimeLimitNs) {
    out->set_status(Outcome::REJECTED);
    out->set_reason("VIP_UNTIL_LIMIT");
    return;
  }
  // The paid tier: this plan's, or an earlier plan's higher one while it runs.
  MemberRecord* rec = ops.record();
  int paid = program.TierIndex(plan->tier_id());
  if (rec->paid_tier_plus1() > 0 && t < from) paid = std::max(paid, rec->paid_tier_plus1() - 1);
  rec->set_paid_tier_plus1(paid + 1);
  *st->mutable_vip_until() = NanosToTimestamp(until);
  ops.Touch();
  UpdateEffectiveTier(ops, t, "PLAN_STARTED", delta);
  out->set_status(Outcome::APPLIED);
}

}  // namespace

MemberRecord NewMemberRecord(const CompiledProgram& program, absl::string_view member_id) {
  MemberRecord rec;
  MemberState* st = rec.mutable_state();
  st->set_program_id(program.program_id());
  st->set_member_id(std::string(member_id));
  if (program.proto().tiers_size() > 0) st->set_tier_id(program.proto().tiers(0).tier_id());
  rec.set_next_entry_seq(1);
  rec.set_next_lot_id(1);
  return rec;
}

UnixNanos EffectiveTime(const Event& event, const MemberRecord& member, UnixNanos tick_time) {
  UnixNanos occurred = *TimestampToNanos(event.occurred_at());
  return std::max({occurred, member.clock_ns(), tick_time});
}

UnixNanos NextDue(const MemberRecord& member) {
  bool review = false;
  UnixNanos next = NextTierDue(member, &review);
  for (const Lot& lot : member.lots()) {
    if (lot.pending()) next = std::min(next, lot.available_at_ns());
    if (lot.expires_at_ns() != 0) next = std::min(next, lot.expires_at_ns());
  }
  return next == kNever ? 0 : next;
}

void ApplyMaturities(const CompiledProgram& program, UnixNanos t, MemberRecord* member,
                     MemberDelta* delta) {
  const bool was_changed = delta->changed;
  MemberOps ops(program, member, delta);
  ApplyMaturitiesInner(ops, t, delta);
  BumpVersion(member, delta, was_changed);
  for (Outcome& o : delta->tier_outcomes) o.set_member_version(member->state().version());
}

absl::Status ApplyMemberEvent(const CompiledProgram& program, const Event& event, UnixNanos t,
                              MemberRecord* member, ApplyContext* ctx, MemberDelta* delta) {
  const bool was_changed = delta->changed;
  // A member comes into existence with its first accepted event.
  if (member->state().version() == 0) delta->changed = true;
  MemberOps ops(program, member, delta);
  ApplyMaturitiesInner(ops, t, delta);
  const size_t event_entries_begin = delta->entries.size();

  Outcome* out = &delta->outcome;
  out->set_event_id(event.event_id());
  out->set_program_id(event.program_id());
  out->set_member_id(event.member_id());
  *out->mutable_effective_at() = NanosToTimestamp(t);
  const bool grows = event.has_purchase() || event.has_engagement() || event.has_adjustment();
  if (grows && NearCounterLimit(member->state())) {
    out->set_status(Outcome::REJECTED);
    out->set_reason("COUNTER_LIMIT");
  } else
    switch (event.body_case()) {
      case Event::kPurchase:
        LOYALTY_RETURN_IF_ERROR(ApplyPurchase(ops, event, t, ctx, out));
        break;
      case Event::kEngagement:
        LOYALTY_RETURN_IF_ERROR(ApplyEngagement(ops, event, t, ctx, out));
        break;
      case Event::kRedemption:
        ApplyRedemption(ops, event, t, out);
        break;
      case Event::kRefund:
        LOYALTY_RETURN_IF_ERROR(ApplyRefund(ops, event, t, ctx, out));
        break;
      case Event::kAdjustment:
        ApplyAdjustment(ops, event, t, out);
        break;
      case Event::kMembership:
        ApplyMembership(ops, event, t, delta, out);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("event ", event.event_id(), " is not a member event"));
    }
  EvaluateTier(ops, t, delta);
  ops.Settle();
  member->set_clock_ns(t);
  BumpVersion(member, delta, was_changed);
  out->set_member_version(member->state().version());
  for (Outcome& o : delta->tier_outcomes) {
    o.set_event_id(event.event_id());
    o.set_member_version(member->state().version());
  }
  // The event's own entries sum to its outcome points.
  int64_t sum = 0;
  for (size_t i = event_entries_begin; i < delta->entries.size(); ++i) {
    sum += delta->entries[i].points();
  }
  LOYALTY_CHECK(sum == out->points()) << "event " << event.event_id() << " entries sum " << sum
                                      << " != outcome points " << out->points();
  return absl::OkStatus();
}

std::string VoucherCode(const CompiledProgram& program, absl::string_view member_id,
                        absl::string_view event_id, absl::string_view tag) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
  std::string msg = program.program_id();
  msg.push_back('\0');
  msg.append(member_id.data(), member_id.size());
  msg.push_back('\0');
  msg.append(event_id.data(), event_id.size());
  if (!tag.empty()) {
    msg.push_back('\0');
    msg.append(tag.data(), tag.size());
  }
  Digest256 d = HmacSha256(program.proto().random_seed(), msg);
  std::string code;
  uint64_t bits = First64(d);
  uint64_t more = First64(Digest256{d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]});
  for (int i = 0; i < 12; ++i, bits >>= 5) code.push_back(kAlphabet[bits & 31]);
  for (int i = 0; i < 4; ++i, more >>= 5) code.push_back(kAlphabet[more & 31]);
  return code;
}

bool RandomRuleApplies(const loyalty::v1::RandomReward& rule, const Event& e) {
  if (rule.on() == loyalty::v1::RandomReward::PURCHASE) {
    return e.has_purchase() &&
           (rule.category().empty() || HasItemOf(e.purchase(), rule.category()));
  }
  return rule.on() == loyalty::v1::RandomReward::ENGAGEMENT && e.has_engagement() &&
         (rule.category().empty() || rule.category() == e.engagement().action());
}

std::string RandomWinsCounter(absl::string_view rule_id, int64_t local_day) {
  return absl::StrCat("rnd", absl::string_view("\0", 1), rule_id, absl::string_view("\0", 1),
                      local_day);
}

int64_t RandomDraw(const CompiledProgram& program, absl::string_view rule_id,
                   absl::string_view event_id) {
  std::string msg(rule_id.data(), rule_id.size());
  msg.push_back('\0');
  msg.append(event_id.data(), event_id.size());
  return static_cast<int64_t>(First64(HmacSha256(program.proto().random_seed(), msg)) % 1'000'000);
}

}  // namespace loyalty
