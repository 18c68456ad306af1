// File: engine/audit/audit.h
// Read-side tools over partition stores: JSON rendering of members and
// ledger entries, checked member reads, and `verify`, which recomputes every member from the
// journal (its ledger entries and balance updates) and checks the SPEC §6
// invariants.
//
//   LOYALTY_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(store.get()));
//   if (!report.ok()) for (auto& p : report.problems) std::cerr << p << "\n";
//
// Thread-compatible.
#ifndef LOYALTY_ENGINE_AUDIT_AUDIT_H_
#define LOYALTY_ENGINE_AUDIT_AUDIT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/store/store.h"
#include "google/protobuf/message.h"

namespace loyalty {

// proto3 JSON on one line: proto field names, primitive defaults printed,
// map entries in key order.
std::string ToJson(const google::protobuf::Message& msg);

// Member reads for tools (`loyaltyctl balance`, `dump`, explain-draw): the
// record is checked (CheckMemberRecord, the invariant `verify` checks too)
// before the caller sees it, so that a tool never prints figures from a
// broken record. A broken record is DataLoss naming the store and member.
absl::Status CheckStoredMember(const PartitionStore& store,
                               const loyalty::v1::MemberRecord& record);
absl::StatusOr<bool> GetCheckedMember(PartitionStore* store, const MemberRef& member,
                                      loyalty::v1::MemberRecord* out);
absl::Status ForEachCheckedMember(
    PartitionStore* store, const std::function<absl::Status(const loyalty::v1::MemberRecord&)>& fn);

struct VerifyReport {
  int64_t members = 0;
  int64_t entries = 0;
  // "program/member: what is wrong"; capped at problems_max.
  std::vector<std::string> problems;
  int64_t problems_total = 0;
  bool ok() const { return problems_total == 0; }
};

// Checks the journal and every member of `store`:
//  - output sequence numbers are 1..n without gaps, n = next_seq - 1;
//  - per member, ledger entry seqs are 1..n without gaps, n =
//    next_entry_seq - 1, and balance versions rise by exactly 1 up to the
//    member's version, the last balance update holding the stored state;
//  - the entries sum to available + pending, and per type to the counters
//    (EARN+ENGAGE+BONUS = lifetime_earned, REDEEM = -redeemed, EXPIRE =
//    -expired, CLAWBACK = -clawed_back, ADJUST = adjusted);
//  - the record's own invariants (CheckMemberRecord: lots sorted, one per
//    key, summing to pending and available + debt, debt only with no points
//    available, the accounting identity); the last entry's
//    debt_points_after equals the debt;
//  - the due index holds the member at or before its next maturity.
// It reads the whole journal once and keeps a few figures per member.
// I/O errors are returned; inconsistencies go to the report.
absl::StatusOr<VerifyReport> VerifyStore(PartitionStore* store, size_t problems_max = 100);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_AUDIT_AUDIT_H_
