// File: tests/testing/event_gen.h
// A seeded generator of JSON Lines event streams for tests and benchmarks:
// every event kind of SPEC §4, ticks, exact duplicates, conflicting
// duplicates and every DLQ reason mixed in. The same seed gives the same
// stream, byte for byte. It also reaches every programme rule of the test
// programs: purchases at the edges of their promotions (DST nights, windows
// past midnight, valid_from/valid_until) once the stream's clock passes them,
// bursts of purchases that fill punch cards and reach random rewards' daily
// caps, partner purchases, NPS scores, paid plans that end, and a moving set
// of busy members that qualify for tiers and fall back.
//
//   GeneratorOptions o;  o.seed = 42;  o.events = 200'000;
//   GeneratedStream s = GenerateStream(o);
//   // s.lines: JSON Lines; s.bad_lines: how many of them must reach the DLQ
#ifndef LOYALTY_TESTS_TESTING_EVENT_GEN_H_
#define LOYALTY_TESTS_TESTING_EVENT_GEN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/program/program.h"

namespace loyalty::testing {

using ::loyalty::ProgramSet;

struct GeneratorOptions {
  uint64_t seed = 1;
  int64_t events = 10'000;  // generation steps; a burst of likes adds 6 more lines
  int64_t members = 1'000;
  // Share of lines that are exact duplicates of an earlier line (per mille).
  int duplicate_permille = 30;
  // Share of lines that must be rejected to the DLQ (per mille).
  int bad_permille = 20;
  // Every this many lines, a tick (0: none).
  int64_t tick_every = 1000;
  // Mean seconds between consecutive events.
  int64_t mean_gap_s = 180;
  // Use the second program "shop" (USD, New York, pending days, no debt).
  bool two_programs = true;
  // Purchases only (the benchmark mix of SPEC §9 is in bench/).
  bool purchases_only = false;
};

struct GeneratedStream {
  std::vector<std::string> lines;
  int64_t bad_lines = 0;        // lines that must go to the DLQ
  int64_t duplicate_lines = 0;  // exact copies of an earlier accepted line
  std::map<std::string, int64_t> bad_by_reason;
  std::vector<size_t> bad_indices;  // indices into `lines`, ascending
};

GeneratedStream GenerateStream(const GeneratorOptions& options);

// Text of the programs the generator's events use ("cafe" and "shop"),
// between them every programme rule of SPEC §5.
std::string CafeProgramText();
std::string ShopProgramText();

// Writes cafe.textproto and shop.textproto into `dir` and loads them.
// Aborts if they do not load.
ProgramSet WriteAndLoadTestPrograms(const std::string& dir);

// Writes `lines` to `path`, one per line. Aborts on I/O failure.
void WriteLines(const std::string& path, const std::vector<std::string>& lines);

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_EVENT_GEN_H_
