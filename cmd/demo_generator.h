// File: cmd/demo_generator.h
// Internal to `loyaltyd demo` (cmd/demo.h): the café's seeded event stream.
// From Monday 2025-03-03, `days` days of members buying coffees, pastries
// and lunches (regulars far more often), reviews and likes, redemptions, a
// VIP plan, a goodwill adjustment, a refund every ten days, about 1% of
// each day's purchases resent, eight bad events (one per reason), and a
// tick every night.
//
//   Stream s = GenerateCafeStream(options, "cafe", "EUR");
//
// The same options give the same stream, byte for byte (engine/base/rng.h).
// Thread-safe (no shared state).
#ifndef LOYALTY_CMD_DEMO_GENERATOR_H_
#define LOYALTY_CMD_DEMO_GENERATOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cmd/demo.h"

namespace loyalty::demo_internal {

// The stream, and what it holds by kind.
struct Stream {
  std::vector<std::string> lines;  // proto3 JSON, one Event each (but the MALFORMED one)
  int64_t purchases = 0;
  int64_t reviews = 0;
  int64_t likes = 0;
  int64_t redemptions = 0;
  int64_t refunds = 0;
  int64_t plans = 0;
  int64_t adjustments = 0;
  int64_t ticks = 0;
  int64_t resent = 0;                  // exact copies of earlier events
  std::map<std::string, int64_t> bad;  // sent on purpose, by the reason expected
  // What the engagement events were ("review of o-000123"), by event_id:
  // their ledger entries do not say.
  std::map<std::string, std::string> engagements;
};

// The stream of `options` (seed, members, days, visits_per_day) for the
// program `program_id`, whose currency is `currency`.
Stream GenerateCafeStream(const DemoOptions& options, const std::string& program_id,
                          const std::string& currency);

}  // namespace loyalty::demo_internal

#endif  // LOYALTY_CMD_DEMO_GENERATOR_H_
