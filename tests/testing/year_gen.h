// File: tests/testing/year_gen.h
// A seeded generator of one calendar year of JSON Lines events for a loaded
// program: it reads the program to know what to send (categories of the
// category multipliers, punch cards, promotions and random rewards; the
// actions of the engagement rules; plan ids; reward ids; currency; time
// zone), so that every rule of the program gets exercised. The same seed and
// program give the same bytes.
//
//   YearOptions o;  o.seed = 7;  o.events = 30'000;
//   YearStream s = GenerateYear(*programs.Find("cafe"), o);
//   // s.lines: JSON Lines; s.bad_lines of them must reach the DLQ
//
// What a year holds: purchases of 1-5 line items whose amounts sum to the
// total (some at partners, some placed inside promotion windows, some
// arriving late), engagements including "nps" scores and bursts past the
// daily caps, redemptions of catalog rewards and of points, partial and full
// refunds of earlier orders, adjustments, paid plans, a tick every so often
// (the nightly partition clock), exact duplicates, a few bad lines, and
// after the year monthly ticks through the next one, so that grace periods
// run out, plans end and lots expire.
#ifndef LOYALTY_TESTS_TESTING_YEAR_GEN_H_
#define LOYALTY_TESTS_TESTING_YEAR_GEN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/program/program.h"

namespace loyalty::testing {

struct YearOptions {
  uint64_t seed = 1;
  int year = 2026;  // a local calendar year of the program's time zone
  // Member events (each generation step; a burst of engagements adds up to 4
  // more lines). Ticks come on top.
  int64_t events = 30'000;
  int64_t members = 1'500;
  // Ticks in the year, evenly spread (0: none).
  int64_t ticks = 365;
  // Monthly ticks after the year, at local midnight of each 1st (0: none).
  int closing_months = 15;
  // Shares per mille of lines that are exact copies of an earlier line, and
  // of lines that must be rejected to the DLQ.
  int duplicate_permille = 10;
  int bad_permille = 5;
  // Share per mille of purchases made at a partner (partner_id set), drawn
  // from `partner_ids` (none if empty).
  int partner_permille = 0;
  std::vector<std::string> partner_ids;
  // Share per mille of purchases placed inside a recent window of one of the
  // program's promotions (arriving late, as a till that uploads later).
  int promotion_permille = 40;
  // A line item costs 50 + [0, item_amount_max_minor) minor units.
  int64_t item_amount_max_minor = 5'000;
};

struct YearStream {
  std::vector<std::string> lines;
  int64_t bad_lines = 0;        // lines that must go to the DLQ
  int64_t duplicate_lines = 0;  // exact copies of an earlier line
  int64_t purchases = 0;        // accepted purchase lines (duplicates excluded)
  int64_t partner_purchases = 0;
  // Purchases placed inside a promotion window on purpose (others may fall
  // into one by chance).
  int64_t promotion_purchases = 0;
  int64_t ticks = 0;
};

// Generates the year for `program`. Deterministic: no clock, no
// std::random_device, no hash-map iteration.
YearStream GenerateYear(const CompiledProgram& program, const YearOptions& options);

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_YEAR_GEN_H_
