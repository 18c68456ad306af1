// File: cmd/demo_outputs.h
// Internal to `loyaltyd demo` (cmd/demo.h): what the engine published,
// read back from its output topics and counted for the summary.
//
//   LOYALTY_ASSIGN_OR_RETURN(OutputCounts c, ReadOutputs(brokers, Topics(), 4));
//
// Thread-compatible.
#ifndef LOYALTY_CMD_DEMO_OUTPUTS_H_
#define LOYALTY_CMD_DEMO_OUTPUTS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "connectors/kafka/kafka.h"

namespace loyalty::demo_internal {

// The output records, by topic and by what they say.
struct OutputCounts {
  std::map<std::string, int64_t> records;         // topic -> records
  std::map<std::string, int64_t> outcome_status;  // Outcome.Status name -> count (MATURED aside)
  std::map<std::string, int64_t> ignored;         // reason -> count
  std::map<std::string, int64_t> refused;         // reason -> count (REJECTED)
  int64_t tick_outcomes = 0;
  int64_t matured = 0;  // MATURED outcomes: a tick's maturities of one member
  std::map<std::string, int64_t> tier_changes;    // cause -> count (in the outcomes)
  std::map<std::string, int64_t> issued_by_rule;  // "punch card coffee-card" -> rewards
  std::map<std::string, int64_t> dlq;             // reason header -> count
};

// Reads partitions 0 .. partitions - 1 of every output topic of `topics`
// from their start to their end (read_committed; ReadToEnd of
// connectors/kafka/client.h, 30 s at most) and counts what they hold.
absl::StatusOr<OutputCounts> ReadOutputs(const std::string& brokers, const Topics& topics,
                                         int partitions);

}  // namespace loyalty::demo_internal

#endif  // LOYALTY_CMD_DEMO_OUTPUTS_H_
