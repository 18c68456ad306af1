#include "engine/apply/apply.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <tuple>

#include "absl/container/inlined_vector.h"
#include "absl/strings/numbers.h"
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
using loyalty::v1::TierChange;
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

// The name of a value of a proto enum with values 0 .. kSize - 1, from a
// table filled once by `name_of` (the generated *_Name, which looks the value
// up in the descriptor on every call: measurably slower on the apply path).
template <int kSize, typename Enum>
const std::string& EnumName(Enum value, const std::string& (*name_of)(int)) {
  static const std::array<std::string, kSize>* const names = [name_of] {
    auto* table = new std::array<std::string, kSize>;
    for (int i = 0; i < kSize; ++i) (*table)[static_cast<size_t>(i)] = name_of(i);
    return table;
  }();
  LOYALTY_CHECK(value >= 0 && value < kSize) << "enum value " << value;
  return (*names)[static_cast<size_t>(value)];
}

// The kinds of per-member counter. The stored name of each (StoredName) is
// the first part of the counter's name, so it must never change.
enum class CounterKind {
  kRandomWins,  // wins of a random rule on a local day: rule_id, day
  kUniqueRef,   // a unique_per_ref engagement's ref was used: action, ref
  kDailyCap,    // capped engagements on a local day: action, day
};

absl::string_view StoredName(CounterKind kind) {
  switch (kind) {
    case CounterKind::kRandomWins:
      return "rnd";
    case CounterKind::kUniqueRef:
      return "ref";
    case CounterKind::kDailyCap:
      return "day";
  }
  LOYALTY_CHECK(false) << "counter kind " << static_cast<int>(kind);
  return {};
}

// The name of a per-member counter, "kind \0 a \0 b", built on the stack:
// the apply path asks for one per capped engagement and random win, and a
// heap string each time was an allocation per event. Parts are validated
// ids (at most 128 bytes) or a day key.
class CounterName {
 public:
  CounterName(CounterKind kind, absl::string_view a, absl::string_view b) {
    Init(StoredName(kind), a, b);
  }
  CounterName(CounterKind kind, absl::string_view a, int64_t day) {
    char text[24];
    char* end = absl::numbers_internal::FastIntToBuffer(day, text);
    Init(StoredName(kind), a, absl::string_view(text, static_cast<size_t>(end - text)));
  }
  absl::string_view view() const { return absl::string_view(buf_, size_); }

 private:
  void Init(absl::string_view kind, absl::string_view a, absl::string_view b) {
    Append(kind);
    buf_[size_++] = '\0';
    Append(a);
    buf_[size_++] = '\0';
    Append(b);
  }
  void Append(absl::string_view part) {
    LOYALTY_CHECK(size_ + part.size() + 1 < sizeof(buf_)) << "counter name too long";
    std::memcpy(buf_ + size_, part.data(), part.size());
    size_ += part.size();
  }
  char buf_[3 * 130 + 8];
  size_t size_ = 0;
};

// Available lots sort by expiry, never-expiring last.
UnixNanos ExpiryKey(const Lot& lot) {
  return lot.expires_at_ns() == 0 ? kNever : lot.expires_at_ns();
}
UnixNanos ExpiryKey(UnixNanos expires_at) { return expires_at == 0 ? kNever : expires_at; }

// Index of the first available lot whose expiry key is not below `key`.
int LowerBoundAvailable(const MemberRecord& rec, UnixNanos key) {
  const auto& lots = rec.lots();
  return static_cast<int>(
      std::lower_bound(lots.begin(), lots.end(), key,
                       [](const Lot& lot, UnixNanos k) { return ExpiryKey(lot) < k; }) -
      lots.begin());
}

// Index of the first pending lot whose (available_at, expires_at) is not
// below the given pair.
int LowerBoundPending(const MemberRecord& rec, UnixNanos available_at, UnixNanos expires_at) {
  const auto& lots = rec.pending_lots();
  const auto key = std::make_pair(available_at, ExpiryKey(expires_at));
  return static_cast<int>(
      std::lower_bound(lots.begin(), lots.end(), key,
                       [](const Lot& lot, const std::pair<UnixNanos, UnixNanos>& k) {
                         return std::make_pair(lot.available_at_ns(), ExpiryKey(lot)) < k;
                       }) -
      lots.begin());
}

// A new element at `index` of a repeated field, the later ones moved up by
// pointer swaps (new lots almost always go last: the latest expiry).
Lot* InsertLot(google::protobuf::RepeatedPtrField<Lot>* lots, int index) {
  lots->Add();
  for (int j = lots->size() - 1; j > index; --j) lots->SwapElements(j, j - 1);
  return lots->Mutable(index);
}

// Removes element `index`; RemoveLast keeps the cleared object for reuse.
void RemoveLot(google::protobuf::RepeatedPtrField<Lot>* lots, int index) {
  for (int j = index; j + 1 < lots->size(); ++j) lots->SwapElements(j, j + 1);
  lots->RemoveLast();
}

// Mutations of one member record within one application. Every mutation marks
// the delta changed; ledger entries go to the outcome with the member's next
// sequence number. available_points and pending_points are kept up to date
// by every lot operation (no pass over the lots recomputes them).
//
// The rules are those of one version of the program: the one in force at
// the instant being applied (UseVersionAt: a maturity's due time, then the
// event's t). Versions keep the time zone, so MonthIndex holds across them.
class MemberOps {
 public:
  MemberOps(const ProgramHistory& history, UnixNanos at, MemberRecord* rec, MemberDelta* delta)
      : history_(history),
        program_(&history.At(at)),
        rec_(rec),
        st_(rec->mutable_state()),
        delta_(delta) {
    LOYALTY_CHECK(delta->outcome != nullptr) << "MemberDelta without an outcome";
  }

  // Applies the rules of the version in force at `at` from now on.
  void UseVersionAt(UnixNanos at) { program_ = &history_.At(at); }

  MemberState* state() { return st_; }
  MemberRecord* record() { return rec_; }
  Outcome* outcome() { return delta_->outcome; }

  LedgerEntry* Entry(LedgerEntry::Type type, int64_t points, UnixNanos at) {
    LedgerEntry* e = delta_->outcome->add_entries();
    e->set_program_id(st_->program_id());
    e->set_member_id(st_->member_id());
    e->set_seq(rec_->next_entry_seq());
    rec_->set_next_entry_seq(rec_->next_entry_seq() + 1);
    e->set_type(type);
    e->set_points(points);
    SetTimestamp(at, e->mutable_effective_at());
    Touch();
    return e;
  }

  // Credits `points` that are available from `available_at` on to the
  // available lot of their expiry, created (with the next id) if none holds
  // points; debt is paid from it first. Returns the lot id.
  int64_t CreditAvailable(UnixNanos available_at, int64_t points) {
    LOYALTY_CHECK(points > 0) << points;
    const UnixNanos expires_at = LotExpiry(*program_, available_at);
    auto* lots = rec_->mutable_lots();
    const int i = LowerBoundAvailable(*rec_, ExpiryKey(expires_at));
    Lot* lot = nullptr;
    if (i < lots->size() && lots->Get(i).expires_at_ns() == expires_at) {
      lot = lots->Mutable(i);
      lot->set_remaining_points(CheckedAdd(lot->remaining_points(), points));
    } else {
      lot = InsertLot(lots, i);
      lot->set_lot_id(NewLotId());
      lot->set_remaining_points(points);
      lot->set_expires_at_ns(expires_at);
    }
    const int64_t id = lot->lot_id();
    // Available = lots - debt: paying debt from the lot leaves it as it is.
    st_->set_available_points(CheckedAdd(st_->available_points(), points));
    PayDebt(i);
    Touch();
    return id;
  }

  // Credits purchase points that become available at `available_at` (> t)
  // to the pending lot of (available_at, expiry). Returns the lot id.
  int64_t CreditPending(UnixNanos available_at, int64_t points) {
    LOYALTY_CHECK(points > 0) << points;
    const UnixNanos expires_at = LotExpiry(*program_, available_at);
    auto* lots = rec_->mutable_pending_lots();
    const int i = LowerBoundPending(*rec_, available_at, expires_at);
    Lot* lot = nullptr;
    if (i < lots->size() && lots->Get(i).available_at_ns() == available_at &&
        lots->Get(i).expires_at_ns() == expires_at) {
      lot = lots->Mutable(i);
      lot->set_remaining_points(CheckedAdd(lot->remaining_points(), points));
    } else {
      lot = InsertLot(lots, i);
      lot->set_lot_id(NewLotId());
      lot->set_remaining_points(points);
      lot->set_available_at_ns(available_at);
      lot->set_expires_at_ns(expires_at);
    }
    st_->set_pending_points(CheckedAdd(st_->pending_points(), points));
    Touch();
    return lot->lot_id();
  }

  // Pays debt from available lot `index`, removing it if emptied.
  void PayDebt(int index) {
    auto* lots = rec_->mutable_lots();
    Lot* lot = lots->Mutable(index);
    const int64_t pay = std::min(st_->debt_points(), lot->remaining_points());
    if (pay > 0) {
      lot->set_remaining_points(lot->remaining_points() - pay);
      st_->set_debt_points(st_->debt_points() - pay);
      Touch();
    }
    if (lot->remaining_points() == 0) RemoveLot(lots, index);
  }

  // Consumes up to `amount` from available lots, earliest expiry first
  // (never-expiring last): from the front. Returns what was taken.
  int64_t ConsumeAvailable(int64_t amount) {
    auto* lots = rec_->mutable_lots();
    int64_t taken = 0;
    while (taken < amount && !lots->empty()) {
      Lot* lot = lots->Mutable(0);
      const int64_t take = std::min(amount - taken, lot->remaining_points());
      lot->set_remaining_points(lot->remaining_points() - take);
      taken += take;
      if (lot->remaining_points() == 0) RemoveLot(lots, 0);
    }
    if (taken > 0) {
      st_->set_available_points(st_->available_points() - taken);
      Touch();
    }
    return taken;
  }

  // Takes up to `amount` from the lot a purchase's points went into, if it
  // still holds points: its pending lot while unreleased, else the available
  // lot of its expiry that it is (or was released into). A pending lot
  // emptied here disappears without a RELEASE. Returns what was taken.
  int64_t TakeFromOrderLot(const loyalty::v1::OrderRecord& order, int64_t amount) {
    if (order.lot_id() == 0 || amount <= 0) return 0;
    if (order.lot_available_at_ns() != 0) {
      auto* pending = rec_->mutable_pending_lots();
      const int i =
          LowerBoundPending(*rec_, order.lot_available_at_ns(), order.lot_expires_at_ns());
      if (i < pending->size() && pending->Get(i).lot_id() == order.lot_id()) {
        Lot* lot = pending->Mutable(i);
        const int64_t take = std::min(amount, lot->remaining_points());
        lot->set_remaining_points(lot->remaining_points() - take);
        st_->set_pending_points(st_->pending_points() - take);
        if (lot->remaining_points() == 0) RemoveLot(pending, i);
        if (take > 0) Touch();
        return take;
      }
    }
    auto* lots = rec_->mutable_lots();
    const int i = LowerBoundAvailable(*rec_, ExpiryKey(order.lot_expires_at_ns()));
    if (i >= lots->size() || lots->Get(i).expires_at_ns() != order.lot_expires_at_ns()) return 0;
    Lot* lot = lots->Mutable(i);
    const auto& merged = lot->merged_lot_ids();
    if (lot->lot_id() != order.lot_id() &&
        !std::binary_search(merged.begin(), merged.end(), order.lot_id())) {
      return 0;  // the purchase's lot was emptied; this one holds other points
    }
    const int64_t take = std::min(amount, lot->remaining_points());
    lot->set_remaining_points(lot->remaining_points() - take);
    st_->set_available_points(st_->available_points() - take);
    if (lot->remaining_points() == 0) RemoveLot(lots, i);
    if (take > 0) Touch();
    return take;
  }

  // A shortfall becomes debt when the program allows negative balances;
  // otherwise it is written off. Returns the part that became debt.
  int64_t ShortfallToDebt(int64_t shortfall) {
    if (shortfall <= 0 || !program_->allow_negative_balance()) return 0;
    LOYALTY_CHECK(rec_->lots_size() == 0)
        << "member " << st_->member_id() << " goes into debt while holding available lots";
    st_->set_debt_points(CheckedAdd(st_->debt_points(), shortfall));
    st_->set_available_points(st_->available_points() - shortfall);
    Touch();
    return shortfall;
  }

  // The release of pending lot `index` (the front ones are due first): its
  // points pay debt, then join the available lot of their expiry, which
  // keeps its id (or become it). Writes the RELEASE entry.
  void Release(int index, UnixNanos due) {
    auto* pending = rec_->mutable_pending_lots();
    const int64_t id = pending->Get(index).lot_id();
    const int64_t points = pending->Get(index).remaining_points();
    const UnixNanos expires_at = pending->Get(index).expires_at_ns();
    st_->set_pending_points(st_->pending_points() - points);
    st_->set_available_points(CheckedAdd(st_->available_points(), points));
    const int64_t pay = std::min(st_->debt_points(), points);
    st_->set_debt_points(st_->debt_points() - pay);
    const int64_t left = points - pay;
    if (left > 0) {
      auto* lots = rec_->mutable_lots();
      const int i = LowerBoundAvailable(*rec_, ExpiryKey(expires_at));
      if (i < lots->size() && lots->Get(i).expires_at_ns() == expires_at) {
        Lot* into = lots->Mutable(i);
        into->set_remaining_points(CheckedAdd(into->remaining_points(), left));
        // Ids ascend: a pending lot released later was created later.
        LOYALTY_CHECK(into->merged_lot_ids().empty() ||
                      into->merged_lot_ids(into->merged_lot_ids_size() - 1) < id);
        into->add_merged_lot_ids(id);
      } else {
        Lot* lot = InsertLot(lots, i);
        lot->set_lot_id(id);
        lot->set_remaining_points(left);
        lot->set_expires_at_ns(expires_at);
      }
    }
    // The released lot is at `index` still: insertions went to the other list.
    RemoveLot(pending, index);
    LedgerEntry* e = Entry(LedgerEntry::RELEASE, 0, due);
    e->set_lot_id(id);
    e->set_debt_points_after(st_->debt_points());
  }

  // The expiry of available lot `index` with its points; the EXPIRE entry.
  void Expire(int index, UnixNanos due) {
    auto* lots = rec_->mutable_lots();
    const int64_t id = lots->Get(index).lot_id();
    const int64_t expired = lots->Get(index).remaining_points();
    RemoveLot(lots, index);
    st_->set_available_points(st_->available_points() - expired);
    st_->set_expired_points(CheckedAdd(st_->expired_points(), expired));
    LedgerEntry* e = Entry(LedgerEntry::EXPIRE, -expired, due);
    e->set_lot_id(id);
    e->set_debt_points_after(st_->debt_points());
  }

  void Touch() { delta_->changed = true; }

  // The local calendar month of `at` as year * 12 + (month - 1). The last
  // answer is kept: one application asks for the month of its t twice
  // (bucket, then evaluation).
  int32_t MonthIndex(UnixNanos at) {
    if (at != month_of_) {
      const int64_t yyyymm = LocalMonthKey(at, program_->time_zone());
      month_ = static_cast<int32_t>(yyyymm / 100 * 12 + yyyymm % 100 - 1);
      month_of_ = at;
    }
    return month_;
  }

  const CompiledProgram& program() const { return *program_; }

 private:
  int64_t NewLotId() {
    const int64_t id = rec_->next_lot_id();
    rec_->set_next_lot_id(id + 1);
    return id;
  }

  const ProgramHistory& history_;
  const CompiledProgram* program_;  // the version in force at the instant applied
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
// Money, a count and points are three int64s: the fields are named at each
// call (designated initializers), so that they cannot trade places.
struct BucketDelta {
  int64_t spend_minor = 0;
  int64_t purchases = 0;
  int64_t earned_points = 0;
};
void AddToBucket(MemberOps& ops, UnixNanos at, bool current, const BucketDelta& delta) {
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
  b->set_spend_minor(CheckedAdd(b->spend_minor(), delta.spend_minor));
  b->set_purchase_count(CheckedAdd(b->purchase_count(), delta.purchases));
  b->set_earned_points(CheckedAdd(b->earned_points(), delta.earned_points));
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
      case loyalty::v1::TierQualification::EARNED_POINTS:
        metric = CheckedAdd(metric, b.earned_points());
        break;
      case loyalty::v1::TierQualification::METRIC_UNSPECIFIED:  // refused by LoadProgram
      case loyalty::v1::
          TierQualification_Metric_TierQualification_Metric_INT_MIN_SENTINEL_DO_NOT_USE_:
      case loyalty::v1::
          TierQualification_Metric_TierQualification_Metric_INT_MAX_SENTINEL_DO_NOT_USE_:
        LOYALTY_CHECK(false) << "tier metric " << q.metric();
    }
  }
  return metric;
}

// Sets tier_id to the effective tier, max(held, paid), and records the tier
// change in the outcome if it moved.
void UpdateEffectiveTier(MemberOps& ops, UnixNanos at, TierChange::Cause cause) {
  const CompiledProgram& program = ops.program();
  if (program.proto().tiers_size() == 0) return;
  MemberRecord* rec = ops.record();
  int effective = rec->qualified_tier();
  if (rec->paid_tier_plus1() > 0) effective = std::max(effective, rec->paid_tier_plus1() - 1);
  const std::string& to = program.proto().tiers(effective).tier_id();
  MemberState* st = ops.state();
  if (st->tier_id() == to) return;
  TierChange* change = ops.outcome()->add_tier_changes();
  change->set_from_tier_id(st->tier_id());
  change->set_to_tier_id(to);
  change->set_cause(EnumName<TierChange::Cause_ARRAYSIZE>(cause, &TierChange::Cause_Name<int>));
  *change->mutable_perks() = program.proto().tiers(effective).perks();
  SetTimestamp(at, change->mutable_effective_at());
  st->set_tier_id(to);
  ops.Touch();
}

// The tier evaluation at `t` (after a member event, or a grace review due at
// `t`).
void EvaluateTier(MemberOps& ops, UnixNanos t) {
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
    UpdateEffectiveTier(ops, t, TierChange::GRACE_ENDED);
    return;
  }
  const int64_t metric = WindowMetric(ops, t);
  int q = 0;
  for (int i = 0; i < program.proto().tiers_size(); ++i) {
    if (program.proto().tiers(i).threshold() <= metric) q = i;
  }
  const int held = rec->qualified_tier();
  const UnixNanos held_until =
      st->has_tier_held_until() ? CheckedNanos(st->tier_held_until(), "tier_held_until") : 0;
  if (q < held && t < held_until) return;
  const TierChange::Cause cause = q > held ? TierChange::QUALIFIED : TierChange::GRACE_ENDED;
  const UnixNanos until =
      q == 0 ? 0 : t + int64_t{program.proto().tier_qualification().grace_days()} * kNanosPerDay;
  if (q == held && until == held_until) return;
  rec->set_qualified_tier(q);
  if (until == 0) {
    st->clear_tier_held_until();
  } else {
    SetTimestamp(until, st->mutable_tier_held_until());
  }
  ops.Touch();
  UpdateEffectiveTier(ops, t, cause);
}

// The next tier maturity: the grace review (at tier_held_until while a tier
// above the first is held) or the paid plan's end (at vip_until), or kNever.
// `review` tells which; the review comes first at equal times.
UnixNanos NextTierDue(const MemberRecord& rec, bool* review) {
  UnixNanos next = kNever;
  *review = false;
  if (rec.qualified_tier() > 0 && rec.state().has_tier_held_until()) {
    next = CheckedNanos(rec.state().tier_held_until(), "tier_held_until");
    *review = true;
  }
  if (rec.paid_tier_plus1() > 0) {
    const UnixNanos end = CheckedNanos(rec.state().vip_until(), "vip_until");
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
void ApplyTierMaturities(MemberOps& ops, UnixNanos t) {
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
    ops.UseVersionAt(due);
    if (review) {
      EvaluateTier(ops, due);
    } else {
      // Internal only: a change of the public state (the tier) touches.
      ops.record()->set_paid_tier_plus1(0);
      UpdateEffectiveTier(ops, due, TierChange::PLAN_ENDED);
    }
  }
}

// The earliest lot maturity: the first pending lot's release or the first
// available lot's expiry; kNever if none. Both lists are sorted, so the
// fronts tell.
UnixNanos NextLotDue(const MemberRecord& rec) {
  UnixNanos next = kNever;
  if (rec.pending_lots_size() > 0) next = rec.pending_lots(0).available_at_ns();
  if (rec.lots_size() > 0) next = std::min(next, ExpiryKey(rec.lots(0)));
  return next;
}

// Lot maturities due at or before `t`, one instant at a time. At an
// instant: the pending lots released then (a prefix of the pending list)
// and the available lot expiring then (the front of the available list, one
// per expiry), by lot id, a release before an expiry. A release never
// touches the lot that expires at the same instant (it expires later than
// it is released), so the work per instant is the lots due then.
void ApplyLotMaturities(MemberOps& ops, UnixNanos t) {
  MemberRecord* rec = ops.record();
  for (;;) {
    const UnixNanos due = NextLotDue(*rec);
    if (due > t) return;
    ops.UseVersionAt(due);
    const bool expiry = rec->lots_size() > 0 && rec->lots(0).expires_at_ns() == due;
    const int64_t expiring_id = expiry ? rec->lots(0).lot_id() : 0;
    bool expired = false;
    // Releases are at the front of the pending list, in (available_at,
    // expires_at) order; apply them by id, interleaving the expiry.
    for (;;) {
      int best = -1;
      for (int i = 0; i < rec->pending_lots_size() && rec->pending_lots(i).available_at_ns() == due;
           ++i) {
        if (best < 0 || rec->pending_lots(i).lot_id() < rec->pending_lots(best).lot_id()) best = i;
      }
      if (expiry && !expired && (best < 0 || expiring_id < rec->pending_lots(best).lot_id())) {
        // The expiring lot is still the front: releases due now expire later.
        LOYALTY_CHECK(rec->lots(0).lot_id() == expiring_id) << "expiring lot moved";
        ops.Expire(0, due);
        expired = true;
        continue;
      }
      if (best < 0) break;
      ops.Release(best, due);
    }
  }
}

// Lots and tiers do not affect each other: lot maturities first, then the
// tier ones, each in time order. At one instant that is the order of SPEC
// §6; across instants the two lists of the outcome (entries, tier changes)
// are each in time order either way.
void ApplyMaturitiesInner(MemberOps& ops, UnixNanos t) {
  ApplyLotMaturities(ops, t);
  ApplyTierMaturities(ops, t);
}

// Spends `amount`: first from the lot of `order` (a refund's purchase; may
// be null), then from available lots; a shortfall becomes debt or is written
// off. Returns {taken (incl. debt), written off}.
std::pair<int64_t, int64_t> Spend(MemberOps& ops, int64_t amount,
                                  const loyalty::v1::OrderRecord* order) {
  int64_t taken = 0;
  if (order != nullptr) taken += ops.TakeFromOrderLot(*order, amount);
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

// What a voucher code's tag starts with, by the rule that issued it
// (docs/semantics.md); the rule id follows.
absl::string_view VoucherTagPrefix(loyalty::v1::IssuedReward::Source source) {
  using loyalty::v1::IssuedReward;
  switch (source) {
    case IssuedReward::FIRST_PURCHASE:
      return "first_purchase";
    case IssuedReward::PUNCH_CARD:
      return "card:";
    case IssuedReward::PROMOTION:
      return "promotion:";
    case IssuedReward::RANDOM:
      return "random:";
    case IssuedReward::SOURCE_UNSPECIFIED:
    case loyalty::v1::IssuedReward_Source_IssuedReward_Source_INT_MIN_SENTINEL_DO_NOT_USE_:
    case loyalty::v1::IssuedReward_Source_IssuedReward_Source_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  LOYALTY_CHECK(false) << "reward source " << static_cast<int>(source);
  return {};
}

// A reward given by a rule: in the outcome, counted in rewards_issued.
void IssueReward(MemberOps& ops, const Event& e, const std::string& reward_id,
                 loyalty::v1::IssuedReward::Source source, const std::string& rule_id,
                 int64_t count, Outcome* out) {
  MemberState* st = ops.state();
  auto& issued = (*st->mutable_rewards_issued())[reward_id];
  issued = CheckedAdd(issued, count);
  loyalty::v1::IssuedReward* r = out->add_issued_rewards();
  r->set_reward_id(reward_id);
  r->set_source(source);
  r->set_rule_id(rule_id);
  r->set_count(count);
  const std::string tag = absl::StrCat(VoucherTagPrefix(source), rule_id);
  r->set_voucher_code(VoucherCode(ops.program(), MemberId(st->member_id()), e.event_id(), tag));
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
      const UnixNanos occurred = CheckedNanos(e.occurred_at(), "occurred_at");
      // RandomWinsCounter's bytes, on the stack (explain-draw reads them).
      const CounterName counter(CounterKind::kRandomWins, rule.rule_id(),
                                LocalDayKey(occurred, program.time_zone()));
      LOYALTY_ASSIGN_OR_RETURN(int64_t wins, ctx->GetCounter(*ops.record(), counter.view()));
      if (wins >= rule.max_per_member_per_local_day()) continue;
      ctx->PutCounter(*ops.record(), counter.view(), wins + 1);
    }
    if (!rule.reward_id().empty()) {
      IssueReward(ops, e, rule.reward_id(), loyalty::v1::IssuedReward::RANDOM, rule.rule_id(), 1,
                  out);
    }
    if (rule.bonus_points() > 0) {
      MemberState* st = ops.state();
      const int64_t lot_id = ops.CreditAvailable(t, rule.bonus_points());
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

// The points a purchase earns (SPEC §6 Earn): the base earn at the tier
// before this event, each matching promotion's multiplier with its own floor
// in file order, then their bonuses. `promos` receives the matching
// promotions.
int64_t PurchaseEarn(const CompiledProgram& program, const loyalty::v1::Purchase& p,
                     const MemberState& st, UnixNanos occurred,
                     absl::InlinedVector<const CompiledPromotion*, 8>* promos) {
  i128 points = BaseEarn(program, p);
  points = points * program.TierEarnBp(program.TierIndex(st.tier_id())) / kBp;
  if (!program.promotions().empty()) {
    const LocalTime local(occurred, program.time_zone());
    for (const CompiledPromotion& promo : program.promotions()) {
      if (PromotionMatches(promo, p, occurred, local)) promos->push_back(&promo);
    }
  }
  for (const CompiledPromotion* promo : *promos) {
    if (promo->proto->multiplier_bp() > 0) points = points * promo->proto->multiplier_bp() / kBp;
  }
  for (const CompiledPromotion* promo : *promos) points += promo->proto->bonus_points();
  LOYALTY_CHECK(points >= 0 && points <= kPointsPerEventMax) << "earn out of bounds";
  return static_cast<int64_t>(points);
}

// Credits `earned` into the lot of the purchase's day (pending until the
// release day, or available at once) with its EARN entry, and stores the
// order that a refund will look up.
void CreditPurchase(MemberOps& ops, const Event& e, UnixNanos t, int64_t earned,
                    ApplyContext* ctx) {
  const CompiledProgram& program = ops.program();
  const auto& p = e.purchase();
  MemberState* st = ops.state();
  loyalty::v1::OrderRecord order;
  order.set_event_id(e.event_id());
  order.set_amount_minor(p.amount_minor());
  order.set_points(earned);
  order.set_effective_at_ns(t);
  if (earned > 0) {
    const UnixNanos available_at = PurchaseRelease(program, t);
    int64_t lot_id = 0;
    if (available_at > t) {
      lot_id = ops.CreditPending(available_at, earned);
      order.set_lot_available_at_ns(available_at);
    } else {
      lot_id = ops.CreditAvailable(t, earned);
    }
    order.set_lot_id(lot_id);
    order.set_lot_expires_at_ns(LotExpiry(program, available_at));
    Add(st, &MemberState::lifetime_earned_points, &MemberState::set_lifetime_earned_points, earned);
    LedgerEntry* entry = ops.Entry(LedgerEntry::EARN, earned, t);
    entry->set_event_id(e.event_id());
    entry->set_lot_id(lot_id);
    entry->set_order_id(p.order_id());
    entry->set_partner_id(p.partner_id());
    entry->set_debt_points_after(st->debt_points());
  }
  ctx->PutOrder(*ops.record(), p.order_id(), order);
}

// Punch cards: stamps by quantity of matching items, the remainder carried;
// each filled card issues its reward.
void StampPunchCards(MemberOps& ops, const Event& e, Outcome* out) {
  MemberState* st = ops.state();
  for (const auto& card : ops.program().proto().punch_cards()) {
    int64_t stamps = 0;
    for (const auto& item : e.purchase().items()) {
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
}

// KPI stats: the purchase count and spend, and the purchase dates, which
// occurred_at decides. The first purchase issues the program's reward.
void CountPurchase(MemberOps& ops, const Event& e, UnixNanos occurred, Outcome* out) {
  MemberState* st = ops.state();
  Add(st, &MemberState::purchase_count, &MemberState::set_purchase_count, 1);
  Add(st, &MemberState::spend_minor, &MemberState::set_spend_minor, e.purchase().amount_minor());
  if (!st->has_first_purchase_at()) {
    SetTimestamp(occurred, st->mutable_first_purchase_at());
    const std::string& reward = ops.program().proto().first_purchase_reward_id();
    if (!reward.empty()) {
      IssueReward(ops, e, reward, loyalty::v1::IssuedReward::FIRST_PURCHASE, "", 1, out);
    }
  } else if (CheckedNanos(st->first_purchase_at(), "first_purchase_at") > occurred) {
    SetTimestamp(occurred, st->mutable_first_purchase_at());
  }
  if (!st->has_last_purchase_at() ||
      CheckedNanos(st->last_purchase_at(), "last_purchase_at") < occurred) {
    SetTimestamp(occurred, st->mutable_last_purchase_at());
  }
}

// A purchase, in the order that decides the outcome's issued_rewards: earn,
// punch cards, promotions' rewards, random rewards, the first-purchase
// reward.
absl::Status ApplyPurchase(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                           Outcome* out) {
  const UnixNanos occurred = CheckedNanos(e.occurred_at(), "occurred_at");
  absl::InlinedVector<const CompiledPromotion*, 8> promos;
  const int64_t earned = PurchaseEarn(ops.program(), e.purchase(), *ops.state(), occurred, &promos);
  CreditPurchase(ops, e, t, earned, ctx);
  StampPunchCards(ops, e, out);
  for (const CompiledPromotion* promo : promos) {
    if (promo->proto->reward_id().empty()) continue;
    IssueReward(ops, e, promo->proto->reward_id(), loyalty::v1::IssuedReward::PROMOTION,
                promo->proto->promotion_id(), 1, out);
  }
  int64_t bonus = 0;
  LOYALTY_RETURN_IF_ERROR(ApplyRandomRewards(ops, e, t, ctx, out, &bonus));
  CountPurchase(ops, e, occurred, out);
  AddToBucket(ops, t, /*current=*/true,
              {.spend_minor = e.purchase().amount_minor(),
               .purchases = 1,
               .earned_points = earned + bonus});
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
    SetOutcomeReason(Outcome::NO_RULE, out);
    return absl::OkStatus();
  }
  const MemberRecord& rec = *ops.record();
  if (rule->unique_per_ref() && g.ref().empty()) {
    SetOutcomeReason(Outcome::EMPTY_REF, out);
    return absl::OkStatus();
  }
  std::optional<CounterName> ref_counter;  // built only for unique_per_ref rules
  if (rule->unique_per_ref()) {
    ref_counter.emplace(CounterKind::kUniqueRef, g.action(), g.ref());
    LOYALTY_ASSIGN_OR_RETURN(int64_t used, ctx->GetCounter(rec, ref_counter->view()));
    if (used > 0) {
      SetOutcomeReason(Outcome::REF_ALREADY_USED, out);
      return absl::OkStatus();
    }
  }
  // The cap counts per local day of occurred_at; without a cap nothing is
  // counted (a counter per member, action and day would only take space).
  if (rule->max_per_local_day() > 0) {
    const UnixNanos occurred = CheckedNanos(e.occurred_at(), "occurred_at");
    const CounterName day_counter(CounterKind::kDailyCap, g.action(),
                                  LocalDayKey(occurred, program.time_zone()));
    LOYALTY_ASSIGN_OR_RETURN(int64_t today, ctx->GetCounter(rec, day_counter.view()));
    if (today >= rule->max_per_local_day()) {
      SetOutcomeReason(Outcome::DAILY_CAP, out);
      return absl::OkStatus();
    }
    ctx->PutCounter(rec, day_counter.view(), today + 1);
  }
  if (ref_counter.has_value()) ctx->PutCounter(rec, ref_counter->view(), 1);
  if (rule->points() > 0) {
    int64_t lot_id = ops.CreditAvailable(t, rule->points());
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
  AddToBucket(ops, t, /*current=*/true, {.earned_points = rule->points() + bonus});
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
    Outcome::Reason refusal = Outcome::REASON_NONE;
    if (reward == nullptr) {
      refusal = Outcome::UNKNOWN_REWARD;
    } else if (reward->cost_points() == 0) {
      refusal = Outcome::NOT_REDEEMABLE;
    } else if (!reward->min_tier_id().empty() &&
               program.TierIndex(st->tier_id()) < program.TierIndex(reward->min_tier_id())) {
      refusal = Outcome::TIER_TOO_LOW;
    }
    if (refusal != Outcome::REASON_NONE) {
      SetOutcomeReason(refusal, out);
      return;
    }
    cost = reward->cost_points();
  }
  if (st->available_points() < cost) {
    SetOutcomeReason(Outcome::INSUFFICIENT_POINTS, out);
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
  out->set_voucher_code(VoucherCode(program, MemberId(st->member_id()), e.event_id()));
}

absl::Status ApplyRefund(MemberOps& ops, const Event& e, UnixNanos t, ApplyContext* ctx,
                         Outcome* out) {
  const auto& refund = e.refund();
  LOYALTY_ASSIGN_OR_RETURN(auto found, ctx->GetOrder(*ops.record(), refund.order_id()));
  if (!found) {
    SetOutcomeReason(Outcome::UNKNOWN_ORDER, out);
    return absl::OkStatus();
  }
  loyalty::v1::OrderRecord order = *found;
  const int64_t a = order.amount_minor();
  const int64_t r_before = order.refunded_minor();
  if (r_before >= a) {
    SetOutcomeReason(Outcome::NOTHING_TO_REFUND, out);
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
    auto [took, written_off] = Spend(ops, clawback, &order);
    taken = took;
    Add(st, &MemberState::clawed_back_points, &MemberState::set_clawed_back_points, taken);
    LedgerEntry* entry = ops.Entry(LedgerEntry::CLAWBACK, -taken, t);
    entry->set_event_id(e.event_id());
    entry->set_order_id(refund.order_id());
    entry->set_written_off_points(written_off);
    entry->set_debt_points_after(st->debt_points());
  }
  AddToBucket(ops, order.effective_at_ns(), /*current=*/false,
              {.spend_minor = -(r_after - r_before),
               .purchases = r_after == a ? -1 : 0,
               .earned_points = -clawback});
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
    lot_id = ops.CreditAvailable(t, adj.points());
    delta = adj.points();
  } else {
    auto [taken, off] = Spend(ops, -adj.points(), nullptr);
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
  if (st->has_vip_until()) from = std::max(from, CheckedNanos(st->vip_until(), "vip_until"));
  // vip_until stays inside the event time range, so that time arithmetic on
  // it never leaves int64 nanoseconds (from < 2100, months <= 1200).
  const UnixNanos until = AddLocalMonths(from, plan->months(), program.time_zone());
  if (until >= kEventTimeLimitNs) {
    SetOutcomeReason(Outcome::VIP_UNTIL_LIMIT, out);
    return;
  }
  // The paid tier: this plan's, or an earlier plan's higher one while it runs.
  MemberRecord* rec = ops.record();
  int paid = program.TierIndex(plan->tier_id());
  if (rec->paid_tier_plus1() > 0 && t < from) paid = std::max(paid, rec->paid_tier_plus1() - 1);
  rec->set_paid_tier_plus1(paid + 1);
  SetTimestamp(until, st->mutable_vip_until());
  ops.Touch();
  UpdateEffectiveTier(ops, t, TierChange::PLAN_STARTED);
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
  UnixNanos occurred = CheckedNanos(event.occurred_at(), "occurred_at");
  return std::max({occurred, member.clock_ns(), tick_time});
}

UnixNanos LotExpiry(const CompiledProgram& program, UnixNanos available_at) {
  const auto& exp = program.proto().expiration();
  if (exp.mode() != loyalty::v1::Expiration::FIXED_DAYS) return 0;
  const UnixNanos at = available_at + exp.days() * kNanosPerDay;
  return exp.round_to_month_end() ? StartOfNextLocalMonth(at, program.time_zone())
                                  : StartOfNextLocalDay(at, program.time_zone());
}

UnixNanos PurchaseRelease(const CompiledProgram& program, UnixNanos t) {
  const int64_t days = program.proto().pending_days();
  if (days == 0) return t;
  return StartOfNextLocalDay(t + days * kNanosPerDay, program.time_zone());
}

UnixNanos NextDue(const MemberRecord& member) {
  bool review = false;
  const UnixNanos next = std::min(NextTierDue(member, &review), NextLotDue(member));
  return next == kNever ? 0 : next;
}

void SetOutcomeReason(Outcome::Reason reason, Outcome* outcome) {
  Outcome::Status status = Outcome::STATUS_UNSPECIFIED;
  switch (reason) {
    case Outcome::MATURED:
      status = Outcome::APPLIED;
      break;
    case Outcome::NO_RULE:
    case Outcome::DAILY_CAP:
    case Outcome::EMPTY_REF:
    case Outcome::REF_ALREADY_USED:
    case Outcome::UNKNOWN_ORDER:
    case Outcome::NOTHING_TO_REFUND:
    case Outcome::STALE_TICK:
      status = Outcome::IGNORED;
      break;
    case Outcome::UNKNOWN_REWARD:
    case Outcome::NOT_REDEEMABLE:
    case Outcome::TIER_TOO_LOW:
    case Outcome::INSUFFICIENT_POINTS:
    case Outcome::VIP_UNTIL_LIMIT:
    case Outcome::COUNTER_LIMIT:
      status = Outcome::REJECTED;
      break;
    case Outcome::REASON_NONE:
    case loyalty::v1::Outcome_Reason_Outcome_Reason_INT_MIN_SENTINEL_DO_NOT_USE_:
    case loyalty::v1::Outcome_Reason_Outcome_Reason_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  LOYALTY_CHECK(status != Outcome::STATUS_UNSPECIFIED) << "outcome reason " << reason;
  outcome->set_status(status);
  outcome->set_reason(EnumName<Outcome::Reason_ARRAYSIZE>(reason, &Outcome::Reason_Name<int>));
}

void ApplyMaturities(const ProgramHistory& program, UnixNanos t, MemberRecord* member,
                     MemberDelta* delta) {
  const bool was_changed = delta->changed;
  Outcome* out = delta->outcome;
  const int entries_before = out->entries_size();
  MemberOps ops(program, t, member, delta);
  ApplyMaturitiesInner(ops, t);
  BumpVersion(member, delta, was_changed);
  if (!delta->changed) return;
  int64_t points = 0;
  for (int i = entries_before; i < out->entries_size(); ++i) points += out->entries(i).points();
  const MemberState& st = member->state();
  out->set_program_id(st.program_id());
  out->set_member_id(st.member_id());
  SetOutcomeReason(Outcome::MATURED, out);
  out->set_points(points);
  out->set_member_version(st.version());
  SetTimestamp(t, out->mutable_effective_at());
}

absl::Status ApplyMemberEvent(const ProgramHistory& program, const Event& event, UnixNanos t,
                              MemberRecord* member, ApplyContext* ctx, MemberDelta* delta) {
  const bool was_changed = delta->changed;
  // A member comes into existence with its first accepted event.
  if (member->state().version() == 0) delta->changed = true;
  MemberOps ops(program, t, member, delta);
  ApplyMaturitiesInner(ops, t);
  ops.UseVersionAt(t);  // the maturities' own versions were in force before t
  Outcome* out = delta->outcome;
  const int event_entries_begin = out->entries_size();

  out->set_event_id(event.event_id());
  out->set_program_id(event.program_id());
  out->set_member_id(event.member_id());
  SetTimestamp(t, out->mutable_effective_at());
  const bool grows = event.has_purchase() || event.has_engagement() || event.has_adjustment();
  if (grows && NearCounterLimit(member->state())) {
    SetOutcomeReason(Outcome::COUNTER_LIMIT, out);
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
      case Event::kTick:
      case Event::BODY_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("event ", event.event_id(), " is not a member event"));
    }
  EvaluateTier(ops, t);
  member->set_clock_ns(t);
  BumpVersion(member, delta, was_changed);
  out->set_member_version(member->state().version());
  // The event's own entries sum to its outcome points; debt only while no
  // available lot holds points.
  int64_t sum = 0;
  for (int i = event_entries_begin; i < out->entries_size(); ++i) sum += out->entries(i).points();
  LOYALTY_CHECK(sum == out->points()) << "event " << event.event_id() << " entries sum " << sum
                                      << " != outcome points " << out->points();
  const MemberState& st = member->state();
  LOYALTY_CHECK(st.debt_points() == 0 || member->lots_size() == 0)
      << "member " << st.member_id() << " owes " << st.debt_points() << " while holding lots";
  return absl::OkStatus();
}

namespace {

// CheckMemberRecord's parts: each returns what is wrong, or "" if nothing.

// The stored timestamps apply reads with CheckedNanos.
std::string StoredTimeProblem(const MemberState& st) {
  struct Time {
    const char* field;
    bool set;
    const google::protobuf::Timestamp& ts;
  };
  for (const Time& t :
       {Time{"tier_held_until", st.has_tier_held_until(), st.tier_held_until()},
        Time{"vip_until", st.has_vip_until(), st.vip_until()},
        Time{"first_purchase_at", st.has_first_purchase_at(), st.first_purchase_at()},
        Time{"last_purchase_at", st.has_last_purchase_at(), st.last_purchase_at()}}) {
    if (!t.set) continue;
    if (absl::StatusOr<UnixNanos> ns = TimestampToNanos(t.ts); !ns.ok()) {
      return absl::StrCat(t.field, ": ", ns.status().message());
    }
  }
  return {};
}

// What every lot must be: holding points, with an id below next_lot_id.
std::string LotProblem(const Lot& lot, int64_t next_lot_id) {
  if (lot.remaining_points() <= 0) return absl::StrCat("empty lot ", lot.lot_id());
  if (lot.lot_id() <= 0 || lot.lot_id() >= next_lot_id) {
    return absl::StrCat("lot id ", lot.lot_id(), " out of range");
  }
  return {};
}

// Available lots in expiry order, their merged ids ascending; their points
// summed into *available.
std::string AvailableLotsProblem(const MemberRecord& member, int64_t* available) {
  for (int i = 0; i < member.lots_size(); ++i) {
    const Lot& lot = member.lots(i);
    if (std::string p = LotProblem(lot, member.next_lot_id()); !p.empty()) return p;
    if (i > 0 && ExpiryKey(member.lots(i - 1)) >= ExpiryKey(lot)) {
      return absl::StrCat("available lot ", lot.lot_id(), " out of expiry order");
    }
    for (int k = 0; k < lot.merged_lot_ids_size(); ++k) {
      if (lot.merged_lot_ids(k) <= 0 || lot.merged_lot_ids(k) >= member.next_lot_id() ||
          (k > 0 && lot.merged_lot_ids(k - 1) >= lot.merged_lot_ids(k))) {
        return absl::StrCat("lot ", lot.lot_id(), " has bad merged ids");
      }
    }
    if (__builtin_add_overflow(*available, lot.remaining_points(), available)) {
      return "available lots overflow";
    }
  }
  return {};
}

// Pending lots in (release, expiry) order; their points summed into
// *pending.
std::string PendingLotsProblem(const MemberRecord& member, int64_t* pending) {
  for (int i = 0; i < member.pending_lots_size(); ++i) {
    const Lot& lot = member.pending_lots(i);
    if (std::string p = LotProblem(lot, member.next_lot_id()); !p.empty()) return p;
    if (i > 0 && std::make_pair(member.pending_lots(i - 1).available_at_ns(),
                                ExpiryKey(member.pending_lots(i - 1))) >=
                     std::make_pair(lot.available_at_ns(), ExpiryKey(lot))) {
      return absl::StrCat("pending lot ", lot.lot_id(), " out of order");
    }
    if (__builtin_add_overflow(*pending, lot.remaining_points(), pending)) {
      return "pending lots overflow";
    }
  }
  return {};
}

// The balances against the lots, debt only with no points available, and
// the accounting identity.
std::string BalanceProblem(const MemberState& st, int64_t available, int64_t pending) {
  if (pending != st.pending_points()) {
    return absl::StrCat("pending lots hold ", pending,
                        " but pending_points = ", st.pending_points());
  }
  if (st.debt_points() < 0 || (st.debt_points() > 0 && available > 0)) {
    return absl::StrCat("debt ", st.debt_points(), " while available lots hold ", available);
  }
  if (available - st.debt_points() != st.available_points()) {
    return absl::StrCat("available lots hold ", available, " with debt ", st.debt_points(),
                        " but available_points = ", st.available_points());
  }
  const i128 lhs = i128{st.available_points()} + st.pending_points();
  const i128 rhs = i128{st.lifetime_earned_points()} + st.adjusted_points() - st.redeemed_points() -
                   st.expired_points() - st.clawed_back_points();
  if (lhs != rhs) {
    return absl::StrCat(
        "available + pending = ", static_cast<int64_t>(lhs),
        " but earned + adjusted - redeemed - expired - clawed_back = ", static_cast<int64_t>(rhs));
  }
  return {};
}

}  // namespace

absl::Status CheckMemberRecord(const MemberRecord& member) {
  const MemberState& st = member.state();
  int64_t available = 0, pending = 0;
  std::string problem = StoredTimeProblem(st);
  if (problem.empty()) problem = AvailableLotsProblem(member, &available);
  if (problem.empty()) problem = PendingLotsProblem(member, &pending);
  if (problem.empty()) problem = BalanceProblem(st, available, pending);
  if (problem.empty() && (member.next_entry_seq() < 1 || member.next_lot_id() < 1)) {
    problem = "next_entry_seq and next_lot_id start at 1";
  }
  if (problem.empty()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("member ", st.program_id(), "/", st.member_id(), ": ", problem));
}

std::string VoucherCode(const CompiledProgram& program, MemberId member_id,
                        absl::string_view event_id, absl::string_view tag) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
  const absl::string_view nul("\0", 1);
  const absl::string_view seed = program.proto().random_seed();
  const Digest256 d =
      tag.empty() ? HmacSha256(seed, {program.program_id(), nul, member_id.value(), nul, event_id})
                  : HmacSha256(seed, {program.program_id(), nul, member_id.value(), nul, event_id,
                                      nul, tag});
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
  return std::string(CounterName(CounterKind::kRandomWins, rule_id, local_day).view());
}

int64_t RandomDraw(const CompiledProgram& program, absl::string_view rule_id,
                   absl::string_view event_id) {
  const absl::string_view nul("\0", 1);
  const Digest256 d = HmacSha256(program.proto().random_seed(), {rule_id, nul, event_id});
  return static_cast<int64_t>(First64(d) % 1'000'000);
}

}  // namespace loyalty
