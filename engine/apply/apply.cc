#include "engine/apply/apply.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
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
  int64_t ConsumeAvailable(int64_t amount) {
    std::vector<Lot*> order;
    for (Lot& lot : *rec_->mutable_lots()) {
      if (!lot.pending() && lot.remaining_points() > 0) order.push_back(&lot);
    }
    std::sort(order.begin(), order.end(), [](const Lot* a, const Lot* b) {
      auto key = [](const Lot* l) {
        return std::make_tuple(l->expires_at_ns() == 0 ? kNever : l->expires_at_ns(), l->lot_id());
      };
      return key(a) < key(b);
    });
    int64_t taken = 0;
    for (Lot* lot : order) {
      if (taken == amount) break;
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

  // Drops empty lots and recomputes available/pending from lots and debt.
  void Settle() {
    auto* lots = rec_->mutable_lots();
    int keep = 0;
    for (int i = 0; i < lots->size(); ++i) {
      if (lots->Get(i).remaining_points() > 0) {
        if (keep != i) lots->SwapElements(keep, i);
        ++keep;
      }
    }
    while (lots->size() > keep) lots->RemoveLast();
    int64_t available = 0;
    int64_t pending = 0;
    for (const Lot& lot : *lots) {
      if (lot.pending()) {
        pending = CheckedAdd(pending, lot.remaining_points());
      } else {
        available = CheckedAdd(available, lot.remaining_points());
      }
    }
    LOYALTY_CHECK(st_->debt_points() == 0 || available == 0)
        << "member " << st_->member_id() << " owes " << st_->debt_points() << " while holding "
        << available << " available points";
    st_->set_available_points(available - st_->debt_points());
    st_->set_pending_points(pending);
  }

  void Touch() { delta_->changed = true; }

  const CompiledProgram& program() const { return program_; }

 private:
  const CompiledProgram& program_;
  MemberRecord* rec_;
  MemberState* st_;
  MemberDelta* delta_;
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

// One maturity: a pending lot's release or a lot's expiry.
struct Maturity {
  UnixNanos due;
  int64_t lot_id;
  int kind;  // 0 = release, 1 = expiry (created in this order with the lot)
  bool operator<(const Maturity& o) const {
    return std::tie(due, lot_id, kind) < std::tie(o.due, o.lot_id, o.kind);
  }
};

void ApplyMaturitiesInner(MemberOps& ops, UnixNanos t) {
  MemberRecord* rec = ops.record();
  std::vector<Maturity> due;
  for (const Lot& lot : rec->lots()) {
    if (lot.pending() && lot.available_at_ns() <= t) {
      due.push_back({lot.available_at_ns(), lot.lot_id(), 0});
    }
    if (lot.expires_at_ns() != 0 && lot.expires_at_ns() <= t) {
      due.push_back({lot.expires_at_ns(), lot.lot_id(), 1});
    }
  }
  if (due.empty()) return;
  std::sort(due.begin(), due.end());
  for (const Maturity& m : due) {
    Lot* lot = nullptr;
    for (Lot& l : *rec->mutable_lots()) {
      if (l.lot_id() == m.lot_id) lot = &l;
    }
    if (lot == nullptr || lot->remaining_points() == 0) continue;
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

absl::Status ApplyPurchase(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                           Outcome* out) {
  const CompiledProgram& program = ops.program();
  const auto& p = e.purchase();
  MemberState* st = ops.state();
  // Base earn: floor(sum(amount_i * cat_bp_i) * points / (per_minor * 10000)).
  i128 weighted = 0;
  if (p.items_size() == 0) {
    weighted = i128{p.amount_minor()} * program.CategoryBp("");
  } else {
    for (const auto& item : p.items()) {
      weighted += i128{item.amount_minor()} * program.CategoryBp(item.category());
    }
  }
  const auto& earn = program.proto().earn();
  i128 points = weighted * earn.points() / (i128{earn.per_minor()} * kBp);
  // The tier before this event.
  points = points * program.TierEarnBp(program.TierIndex(st->tier_id())) / kBp;
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
    entry->set_debt_points_after(st->debt_points());
  }
  ctx->PutOrder(*ops.record(), p.order_id(), order);

  // KPI stats: occurred_at decides the purchase dates.
  const UnixNanos occurred = *TimestampToNanos(e.occurred_at());
  Add(st, &MemberState::purchase_count, &MemberState::set_purchase_count, 1);
  Add(st, &MemberState::spend_minor, &MemberState::set_spend_minor, p.amount_minor());
  if (!st->has_first_purchase_at()) {
    *st->mutable_first_purchase_at() = NanosToTimestamp(occurred);
    const std::string& reward = program.proto().first_purchase_reward_id();
    if (!reward.empty()) {
      (*st->mutable_rewards_issued())[reward] += 1;
      out->set_reward_id(reward);
    }
  } else if (*TimestampToNanos(st->first_purchase_at()) > occurred) {
    *st->mutable_first_purchase_at() = NanosToTimestamp(occurred);
  }
  if (!st->has_last_purchase_at() || *TimestampToNanos(st->last_purchase_at()) < occurred) {
    *st->mutable_last_purchase_at() = NanosToTimestamp(occurred);
  }
  ops.Touch();
  out->set_status(Outcome::APPLIED);
  out->set_points(earned);
  return absl::OkStatus();
}

absl::Status ApplyEngagement(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                             Outcome* out) {
  const CompiledProgram& program = ops.program();
  const auto& g = e.engagement();
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
  out->set_status(Outcome::APPLIED);
  out->set_points(rule->points());
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

void ApplyMembership(MemberOps& ops, const Event& e, UnixNanos t, Outcome* out) {
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
  *st->mutable_vip_until() = NanosToTimestamp(until);
  ops.Touch();
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
  UnixNanos next = kNever;
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
  ApplyMaturitiesInner(ops, t);
  BumpVersion(member, delta, was_changed);
}

absl::Status ApplyMemberEvent(const CompiledProgram& program, const Event& event, UnixNanos t,
                              MemberRecord* member, ApplyContext* ctx, MemberDelta* delta) {
  const bool was_changed = delta->changed;
  // A member comes into existence with its first accepted event.
  if (member->state().version() == 0) delta->changed = true;
  MemberOps ops(program, member, delta);
  ApplyMaturitiesInner(ops, t);
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
        ApplyMembership(ops, event, t, out);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("event ", event.event_id(), " is not a member event"));
    }
  ops.Settle();
  member->set_clock_ns(t);
  BumpVersion(member, delta, was_changed);
  out->set_member_version(member->state().version());
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
                        absl::string_view event_id) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
  std::string msg = program.program_id();
  msg.push_back('\0');
  msg.append(member_id.data(), member_id.size());
  msg.push_back('\0');
  msg.append(event_id.data(), event_id.size());
  Digest256 d = HmacSha256(program.proto().random_seed(), msg);
  std::string code;
  uint64_t bits = First64(d);
  uint64_t more = First64(Digest256{d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]});
  for (int i = 0; i < 12; ++i, bits >>= 5) code.push_back(kAlphabet[bits & 31]);
  for (int i = 0; i < 4; ++i, more >>= 5) code.push_back(kAlphabet[more & 31]);
  return code;
}

}  // namespace loyalty
