// File: engine/apply/apply.h
// The apply path (SPEC §6): a pure function of (member state, event,
// program). An event is applied under the version of its program in force
// at its effective time t, each maturity under the version in force at its
// due time (SPEC §10; docs/semantics.md "Program versions"). It reads no
// clock, no unseeded randomness and iterates no hash map; everything it
// needs besides the member record comes through
// ApplyContext, whose reads must see the writes made earlier in the same
// batch.
//
//   ApplyContext& ctx = ...;           // orders and counters of this partition
//   const ProgramHistory& program = *programs.FindHistory(event.program_id());
//   MemberRecord record = ...;         // or NewMemberRecord(program.base(), member_id)
//   UnixNanos t = EffectiveTime(event, record, tick_time);
//   Outcome outcome;                   // entries and tier changes land here
//   MemberDelta delta{&outcome};
//   LOYALTY_RETURN_IF_ERROR(ApplyMemberEvent(program, event, t, &record, &ctx, &delta));
//
// Cost (STYLE.md 14): the work of an event does not grow with the member's
// history. Lots are kept sorted by their keys (one per expiry day, one per
// pending day), so a credit, a spend, a clawback and the next due time are
// found by binary search or at the front; no pass over all lots per event.
//
// REQUIRES: the event passed ValidateEvent and the dedupe checks.
// Thread-compatible: one caller per member record.
#ifndef LOYALTY_ENGINE_APPLY_APPLY_H_
#define LOYALTY_ENGINE_APPLY_APPLY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/base/ids.h"
#include "engine/base/time.h"
#include "engine/program/program.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {

// Per-partition storage the apply path needs besides the member record.
class ApplyContext {
 public:
  virtual ~ApplyContext() = default;

  // The order `order_id` of the member, or nullopt.
  virtual absl::StatusOr<std::optional<loyalty::v1::OrderRecord>> GetOrder(
      const loyalty::v1::MemberRecord& member, absl::string_view order_id) = 0;
  virtual void PutOrder(const loyalty::v1::MemberRecord& member, absl::string_view order_id,
                        const loyalty::v1::OrderRecord& order) = 0;
  // A named per-member counter (daily caps, used refs); 0 when never set.
  virtual absl::StatusOr<int64_t> GetCounter(const loyalty::v1::MemberRecord& member,
                                             absl::string_view name) = 0;
  virtual void PutCounter(const loyalty::v1::MemberRecord& member, absl::string_view name,
                          int64_t value) = 0;
};

// What one application did to a member. The outcome receives the ledger
// entries and tier changes as they are made.
struct MemberDelta {
  // The outcome being built: its entries and tier_changes grow; for member
  // events ApplyMemberEvent fills the rest. REQUIRES: not null.
  loyalty::v1::Outcome* outcome = nullptr;
  bool changed = false;  // the member's public state changed: version bumped
};

// A fresh member record: version 0, lowest tier.
loyalty::v1::MemberRecord NewMemberRecord(const CompiledProgram& program,
                                          absl::string_view member_id);

// t = max(occurred_at, member.clock, tick_time).
UnixNanos EffectiveTime(const loyalty::v1::Event& event, const loyalty::v1::MemberRecord& member,
                        UnixNanos tick_time);

// Lots (SPEC §6 Lots): when points that become available at `available_at`
// expire (0 = never), and when purchase points earned at `t` become
// available (`t` itself without pending_days).
UnixNanos LotExpiry(const CompiledProgram& program, UnixNanos available_at);
UnixNanos PurchaseRelease(const CompiledProgram& program, UnixNanos t);

// The earliest maturity of the member (lot release or expiry, grace review,
// paid plan end), or 0 if none. O(1): lots are kept sorted.
UnixNanos NextDue(const loyalty::v1::MemberRecord& member);

// Applies every maturity due at or before `t` in due-time order (at the
// same instant: lots by id, a release before an expiry; then the grace
// review; then the plan end), each under the version in force at its due
// time. Entries are stamped with their due time. If
// anything changed, bumps the version and fills the outcome as a tick's
// MATURED outcome (status APPLIED, reason MATURED, points, member and
// effective time t); the caller sets event_id and offset.
void ApplyMaturities(const ProgramHistory& program, UnixNanos t, loyalty::v1::MemberRecord* member,
                     MemberDelta* delta);

// Sets the outcome's reason (its name on the wire) and the status the
// reason belongs to: APPLIED for MATURED, IGNORED or REJECTED for the others
// (ledger.proto lists them). REQUIRES: reason != REASON_NONE.
void SetOutcomeReason(loyalty::v1::Outcome::Reason reason, loyalty::v1::Outcome* outcome);

// Applies a validated member event at effective time `t`: its maturities
// first (each under the version in force at its due time), then the event
// under the version in force at `t`. Sets member.clock = t and fills
// delta->outcome (all but offset).
absl::Status ApplyMemberEvent(const ProgramHistory& program, const loyalty::v1::Event& event,
                              UnixNanos t, loyalty::v1::MemberRecord* member, ApplyContext* ctx,
                              MemberDelta* delta);

// The invariants of a stored member record (SPEC §6): lots sorted by their
// keys, one per key, each holding points, ids below next_lot_id; the lots
// sum to pending_points and to available_points + debt; debt only while no
// available lot holds points; the accounting identity of the member state.
// A pass over the lots: checked when a record is read and before it is
// written (once per batch), never per event. InternalError names the rule.
absl::Status CheckMemberRecord(const loyalty::v1::MemberRecord& member);

// A voucher code: 16 characters of Crockford base32 from
// HMAC-SHA256(random_seed, program \0 member \0 event_id), with \0 tag
// appended for rewards issued by rules ("first_purchase", "card:<id>",
// "promotion:<id>", "random:<id>"); an accepted redemption has no tag.
std::string VoucherCode(const CompiledProgram& program, MemberId member_id,
                        absl::string_view event_id, absl::string_view tag = "");

// The base earn of a purchase (SPEC §6), before tier and promotions:
// floor(sum(amount_i * cat_bp_i) * earn.points / (earn.per_minor * 10000));
// no items is one item of the whole amount in category "". Exact in 128
// bits; the caller bounds it.
__int128 BaseEarn(const CompiledProgram& program, const loyalty::v1::Purchase& purchase);

// The draw of random reward rule `rule_id` for `event_id`:
// big-endian uint64 of HMAC-SHA256(random_seed, rule_id \0 event_id)[0..8)
// mod 1,000,000. The rule wins iff it is below probability_ppm (SPEC §6).
int64_t RandomDraw(const CompiledProgram& program, absl::string_view rule_id,
                   absl::string_view event_id);

// Whether random reward `rule` draws for event `e`: its trigger is the
// event's kind and its category is empty, a line item's category (purchase)
// or the action (engagement). Engagements draw only when APPLIED.
bool RandomRuleApplies(const loyalty::v1::RandomReward& rule, const loyalty::v1::Event& e);

// The name of the ApplyContext counter of a member's paid wins of random rule
// `rule_id` on local day `local_day` (yyyymmdd).
std::string RandomWinsCounter(absl::string_view rule_id, int64_t local_day);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_APPLY_APPLY_H_
