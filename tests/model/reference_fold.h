// File: tests/model/reference_fold.h
//
// An independent reference model ("oracle") of the engine's apply
// semantics (SPEC §6–§7 and docs/semantics.md), for model tests that fold
// the same event stream through the engine and through this model and
// compare the results.
//
// It is written from the spec and docs only, never from engine/ code, and it
// favours obviousness over speed: lots live in a std::vector per member,
// orders in a std::map, and dedupe keeps the whole deterministic serialization
// of each accepted event. It folds one partition; every program's tick_time
// is kept separately.
//
// Example:
//
//   std::vector<loyalty::v1::Program> programs = {...};
//   loyalty::model::RefResult r = loyalty::model::Fold(lines, programs);
//   const loyalty::model::RefMember& m = r.members.at({"cafe", "m1"});
//
// It models every programme rule of docs/semantics.md (tiers with month
// buckets and grace reviews, paid plans, promotions, punch cards, random
// rewards, the first-purchase reward, NPS keeping) and the lots of SPEC §6
// (available ones keyed by expiry, pending ones by release and expiry, ids
// in creation order), and each outcome's tier changes and the entries that
// name a lot. What it leaves out: version numbers, the ledger entries that
// name no lot, voucher codes (see README.md).
//
// Thread-safety: Fold is a pure function; call it from any thread.

#ifndef LOYALTY_TESTS_MODEL_REFERENCE_FOLD_H_
#define LOYALTY_TESTS_MODEL_REFERENCE_FOLD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loyalty/v1/program.pb.h"

namespace loyalty::model {

// The member state of SPEC §6 "Member state" (proto MemberState), minus
// version (not modelled).
struct RefMember {
  std::string program_id, member_id;
  int64_t available_points = 0, pending_points = 0, debt_points = 0, lifetime_earned_points = 0,
          redeemed_points = 0, expired_points = 0, clawed_back_points = 0, adjusted_points = 0,
          purchase_count = 0, spend_minor = 0;
  std::string tier_id;  // the effective tier
  std::optional<int64_t> tier_held_until_ns, vip_until_ns, first_purchase_at_ns,
      last_purchase_at_ns;                        // unix nanos
  std::map<std::string, int64_t> stamps;          // card -> stamps on it
  std::map<std::string, int64_t> rewards_issued;  // reward -> times issued by rules
  std::optional<int32_t> last_nps_score;
  bool operator==(const RefMember&) const = default;
};

// One outcome record (SPEC §2 `loyalty.outcomes`, proto Outcome), as far as
// the model knows it. Every accepted event has one (DUPLICATE ones are only
// counted); a tick also has one per member whose maturities it applied and
// whose public state (any MemberState field but version) they changed
// (APPLIED:MATURED, the tick's event_id, member_id set).
struct RefTierChange {
  std::string from_tier_id, to_tier_id, cause;  // cause: QUALIFIED, GRACE_ENDED, ...
  int64_t effective_at_ns = 0;                  // the event's t or the maturity's due time
  std::vector<std::string> perks;               // of to_tier_id
  bool operator==(const RefTierChange&) const = default;
};
// A ledger entry that names a lot: EARN, ENGAGE, BONUS and positive ADJUST
// (the lot credited), RELEASE (the pending lot released, 0 points), EXPIRE
// (the lot expired, minus what it held). Other entries (REDEEM, CLAWBACK,
// negative ADJUST) are not modelled one by one; the outcome's points cover
// them.
struct RefLotEntry {
  std::string type;  // LedgerEntry.Type name
  int64_t lot_id = 0;
  int64_t points = 0;
  int64_t effective_at_ns = 0;  // t of the event, or the due time of a maturity
  bool operator==(const RefLotEntry&) const = default;
};
struct RefIssuedReward {
  std::string source, rule_id, reward_id;  // source: IssuedReward.Source name
  int64_t count = 0;
  bool operator==(const RefIssuedReward&) const = default;
};
struct RefOutcome {
  std::string program_id, member_id, event_id;  // member_id "" for a tick's own outcome
  std::string status;  // "APPLIED", "APPLIED:MATURED", "IGNORED:STALE_TICK", ...
  // Net change of available + pending made by the event itself (MATURED: by
  // the maturities; a member event's maturities are not counted).
  int64_t points = 0;
  std::vector<RefTierChange> tier_changes;  // in the order they happened
  std::vector<RefLotEntry> lot_entries;     // maturities first, then the event's own
  std::vector<RefIssuedReward> issued_rewards;
  bool operator==(const RefOutcome&) const = default;
};

// One line of text for an outcome, for test messages and comparisons.
std::string Describe(const RefOutcome& o);

struct RefResult {
  // (program_id, member_id) -> state.
  std::map<std::pair<std::string, std::string>, RefMember> members;
  // DLQ reason name ("MALFORMED", "BAD_AMOUNT", ...) -> count.
  std::map<std::string, int64_t> dlq_by_reason;
  // Events with outcome DUPLICATE (not counted in outcome_reasons).
  int64_t duplicates = 0;
  // "APPLIED", "IGNORED:DAILY_CAP", "REJECTED:INSUFFICIENT_POINTS", ... ->
  // count (the `status` of every outcome). Ticks count too: "APPLIED", or
  // "IGNORED:STALE_TICK" when now <= the program's tick_time, and
  // "APPLIED:MATURED" once per member whose public state their maturities
  // changed.
  std::map<std::string, int64_t> outcome_reasons;
  // Every outcome but DUPLICATE ones, in the order the model made them (a
  // tick: the MATURED ones by member_id, then its own).
  std::vector<RefOutcome> outcomes;
  // Tier changes by cause: "QUALIFIED", "GRACE_ENDED", "PLAN_STARTED",
  // "PLAN_ENDED" -> count.
  std::map<std::string, int64_t> tier_changes;
  // Rewards issued by rules, as the outcomes' IssuedReward name them:
  // "<SOURCE>:<rule_id>:<reward_id>" (SOURCE as in IssuedReward.Source,
  // rule_id empty for FIRST_PURCHASE) -> Σ count.
  std::map<std::string, int64_t> issued_rewards;
  // How often the rules did what, for coverage checks of generated streams:
  // "promotion:<id>" (matching purchases), "random_win:<rule>" (paying wins),
  // "random_capped:<rule>" (wins refused by the daily cap), "bonus_points"
  // (random bonus points paid), "nps" (scores kept), "tier_to:<tier_id>"
  // (effective tier changes into that tier); lots: "credit:paid_debt" and
  // "credit:all_to_debt" (an available credit paid debt, or all of it went
  // to debt), "release:paid_debt", "release:all_to_debt", "release:merged"
  // (into the available lot of its expiry), "release:kept_id" (became that
  // lot); refunds with a clawback, by the lot taken from first:
  // "refund_lot:pending", "refund_lot:available" (the lot its EARN named),
  // "refund_lot:merged" (the lot it merged into), "refund_lot:none".
  std::map<std::string, int64_t> rule_hits;
};

// Folds JSON Lines (one proto3-JSON loyalty.v1.Event per line, without the
// trailing newline, in order, all in one partition) under the given programs.
// REQUIRES: the programs are valid (as the engine's program loader would
// accept them) and have distinct program_ids.
// Never fails: bad lines count as DLQ reasons.
RefResult Fold(const std::vector<std::string>& lines,
               const std::vector<loyalty::v1::Program>& programs);

}  // namespace loyalty::model

#endif  // LOYALTY_TESTS_MODEL_REFERENCE_FOLD_H_
