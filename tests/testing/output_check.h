// File: tests/testing/output_check.h
// Reads the engine's output topics with kcat (Debian's package: a Kafka
// consumer that is not ours) at isolation.level=read_committed, and checks
// the exactly-once promises of SPEC §3.3: per partition, the output
// sequences of outcomes, balances and DLQ records together are 1..N with no
// duplicate and no gap; per member, balance versions rise by exactly 1 from
// 1, and the ledger entries inside its outcomes have the sequence numbers
// 1, 2, 3, ... (every entry exactly once, in order); the records of the
// ledger topic, if any, are exactly those entries, byte for byte, in order,
// each with its outcome's sequence number.
//
//   LOYALTY_ASSIGN_OR_RETURN(OutputCheck c, CheckOutputs(brokers, topics));
//   EXPECT_TRUE(c.problems.empty()) << c.problems.front();
#ifndef LOYALTY_TESTS_TESTING_OUTPUT_CHECK_H_
#define LOYALTY_TESTS_TESTING_OUTPUT_CHECK_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connectors/kafka/kafka.h"

namespace loyalty::testing {

struct OutputCheck {
  std::map<std::string, int64_t> records;        // topic -> committed records read
  std::map<int, int64_t> last_seq;               // partition -> largest outbox seq
  std::map<std::string, int64_t> last_version;   // "program/member" -> last balance version
  std::map<std::string, int64_t> last_entry;     // "program/member" -> last ledger entry seq
  int64_t entries = 0;                           // ledger entries inside the outcomes
  std::map<std::string, int64_t> dlq_by_reason;  // loyalty.reason -> DLQ records
  std::vector<std::string> problems;             // duplicates, gaps, missing headers (first 20)
};

absl::StatusOr<OutputCheck> CheckOutputs(const std::string& brokers, const Topics& topics);

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_OUTPUT_CHECK_H_
