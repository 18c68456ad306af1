// File: cmd/demo_report.h
// Internal to `loyaltyd demo` (cmd/demo.h): the summary printed after the
// run, from what the engine published (cmd/demo_outputs.h) and what its
// stores hold: the outcomes, members and points, the top members, one
// member's history and the audit.
//
//   LOYALTY_ASSIGN_OR_RETURN(StoreContents contents, ReadStores(data_dir));
//   PrintMembers(out, program, contents.members);
//
// Thread-compatible.
#ifndef LOYALTY_CMD_DEMO_REPORT_H_
#define LOYALTY_CMD_DEMO_REPORT_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cmd/demo_outputs.h"
#include "connectors/kafka/kafka.h"
#include "engine/audit/audit.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty::demo_internal {

// What the stores of a data directory hold after the run.
struct StoreContents {
  std::vector<std::unique_ptr<PartitionStore>> stores;  // read-only, by partition
  std::vector<loyalty::v1::MemberState> members;        // store by store, in key order
  VerifyReport audit;                                   // of every store (loyaltyctl verify)
};

// Opens every store of `data_dir` and reads its members and its audit (at
// most 5 problems listed per store).
absl::StatusOr<StoreContents> ReadStores(const std::string& data_dir);

// "What the engine did with the N records": outcomes by status, the DLQ,
// maturities, tier changes, rewards, and the records of each output topic.
// `outputs` is taken by value: the rows look counts up with operator[].
void PrintOutputs(FILE* out, int64_t records, const Topics& topics, OutputCounts outputs);

// "Members and points": members per tier of `program`, purchases, points
// issued, redeemed, clawed back, outstanding (and the liability), rewards.
void PrintMembers(FILE* out, const CompiledProgram& program,
                  const std::vector<loyalty::v1::MemberState>& members);

// "Top members by available points" (the first five, then by member id);
// returns them in that order (they point into `members`).
std::vector<const loyalty::v1::MemberState*> PrintTopMembers(
    FILE* out, const std::string& currency, const std::vector<loyalty::v1::MemberState>& members);

// One member's history: the member whose ledger has the most kinds of
// entries (then the most entries): the latest entry of each kind, then its
// most recent entries, 16 at most (more only if it has more kinds), in
// ledger order.
// `engagements` says what an engagement event was, by event_id.
absl::Status PrintHistory(FILE* out, const CompiledProgram& program, const StoreContents& contents,
                          const std::map<std::string, std::string>& engagements);

// The audit's verdict, and its problems if it found any.
void PrintAudit(FILE* out, const VerifyReport& audit);

}  // namespace loyalty::demo_internal

#endif  // LOYALTY_CMD_DEMO_REPORT_H_
