// loyalty-gen: writes a seeded JSON Lines event stream (the test generator)
// for demos and benchmarks; with --year-of, a year of events for one program
// file (tests/testing/year_gen.h, what tests/examples_test.cc replays).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/year_gen.h"

namespace {

// `text`, the value of --`name`, as an integer in [min, max]; otherwise
// prints why, naming the flag, and returns false.
bool ParseIntIn(const char* name, const char* text, int64_t min, int64_t max, int64_t* out) {
  if (!absl::SimpleAtoi(text, out)) {
    std::fprintf(stderr, "loyalty-gen: --%s=%s: not an integer\n", name, text);
    return false;
  }
  if (*out < min || *out > max) {
    std::fprintf(stderr, "loyalty-gen: --%s must be in [%lld, %lld]\n", name,
                 static_cast<long long>(min), static_cast<long long>(max));
    return false;
  }
  return true;
}

// What the counts mean, in replay's words (loyaltyd replay's summary line
// counts outcomes; these count the lines as they were meant): against the
// programs they were meant for, "events" are replay's "applied", "copies"
// its "duplicates" and "bad" its "rejected to the DLQ", reason by reason.
void PrintCounts(const std::string& out, size_t lines, int64_t bad, int64_t copies,
                 const std::map<std::string, int64_t>& bad_by_reason, const char* meant_for) {
  std::string reasons;
  for (const auto& [reason, n] : bad_by_reason) {
    absl::StrAppend(&reasons, reasons.empty() ? "" : ", ", reason, " ", n);
  }
  std::fprintf(stderr,
               "loyalty-gen: %zu lines to %s, as meant for %s:\n"
               "loyalty-gen:   %lld events (replay counts them as applied: an outcome each),\n"
               "loyalty-gen:   %lld exact copies of earlier events (replay: duplicates),\n"
               "loyalty-gen:   %lld bad lines (replay: rejected to the DLQ%s%s)\n"
               "loyalty-gen: replayed with other programs, lines naming what they lack (a plan,\n"
               "loyalty-gen: a reward, a program) are rejected too, and the counts differ.\n",
               lines, out.c_str(), meant_for,
               static_cast<long long>(static_cast<int64_t>(lines) - bad - copies),
               static_cast<long long>(copies), static_cast<long long>(bad),
               reasons.empty() ? "" : ": ", reasons.c_str());
}

}  // namespace

// Long on purpose: a command-line main, its flags one after the other.
int main(int argc, char** argv) {
  loyalty::testing::GeneratorOptions o;
  std::string out;
  std::string year_of;
  std::string partners;
  std::string programs_dir;
  int closing_months = loyalty::testing::YearOptions().closing_months;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (a == "--help") {
      std::printf(
          "loyalty-gen --out=FILE [--events=N] [--members=N] [--seed=N] [--cafe-only]\n"
          "            [--write-programs=DIR]\n"
          "loyalty-gen --out=FILE --year-of=PROGRAM_FILE [--events=N] [--members=N]\n"
          "            [--seed=N] [--partners=ID,ID] [--closing-months=N]\n"
          "Writes a seeded JSON Lines stream of every event kind, with duplicates and\n"
          "bad lines mixed in, for the programs in programs/ (cafe) and the tests (shop).\n"
          "With --year-of: a calendar year (2026) of events for that program, what its\n"
          "rules name (categories, actions, rewards, plans), with ticks, and purchases\n"
          "at the --partners (10%% of them), then a tick on each 1st of the next\n"
          "--closing-months months (default 15; 0 ends the stream with the year).\n"
          "--write-programs=DIR writes the programs the stream is meant for (cafe and\n"
          "shop of the tests, not those of programs/) into DIR, for loyaltyd replay\n"
          "--program=DIR. The counts printed are of the lines as meant: against those\n"
          "programs they are what replay's summary counts (events = applied, copies =\n"
          "duplicates, bad = rejected to the DLQ, by reason); other programs reject more.\n");
      return 0;
    } else if (const char* v = val("--out=")) {
      out = v;
    } else if (const char* v = val("--events=")) {
      if (!ParseIntIn("events", v, 1, 10'000'000'000, &o.events)) return 2;
    } else if (const char* v = val("--members=")) {
      if (!ParseIntIn("members", v, 1, 1'000'000'000, &o.members)) return 2;
    } else if (const char* v = val("--seed=")) {
      int64_t seed = 0;
      if (!ParseIntIn("seed", v, 0, INT64_MAX, &seed)) return 2;
      o.seed = static_cast<uint64_t>(seed);
    } else if (const char* v = val("--year-of=")) {
      year_of = v;
    } else if (const char* v = val("--partners=")) {
      partners = v;
    } else if (const char* v = val("--closing-months=")) {
      int64_t months = 0;
      if (!ParseIntIn("closing-months", v, 0, 120, &months)) return 2;
      closing_months = static_cast<int>(months);
    } else if (const char* v = val("--write-programs=")) {
      programs_dir = v;
    } else if (a == "--cafe-only") {
      o.two_programs = false;
    } else {
      std::fprintf(stderr, "loyalty-gen: unknown argument \"%s\" (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "loyalty-gen: --out=FILE is required (see --help)\n");
    return 2;
  }
  if (!year_of.empty()) {
    auto programs = loyalty::LoadPrograms(year_of);
    if (!programs.ok() || programs->size() != 1) {
      std::fprintf(stderr, "loyalty-gen: --year-of=%s: %s\n", year_of.c_str(),
                   programs.ok() ? "not one program" : programs.status().ToString().c_str());
      return 1;
    }
    loyalty::testing::YearOptions y;
    y.seed = o.seed;
    y.events = o.events;
    y.members = o.members;
    y.closing_months = closing_months;
    if (!partners.empty()) {
      y.partner_ids = absl::StrSplit(partners, ',', absl::SkipEmpty());
      y.partner_permille = 100;
    }
    auto year = loyalty::testing::GenerateYear(*programs->Find(programs->ids()[0]), y);
    loyalty::testing::WriteLines(out, year.lines);
    PrintCounts(out, year.lines.size(), year.bad_lines, year.duplicate_lines, {},
                year_of.c_str());
    std::fprintf(stderr, "loyalty-gen: %lld of the events are ticks\n",
                 static_cast<long long>(year.ticks));
    return 0;
  }
  if (!programs_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(programs_dir, ec);
    if (ec) {
      std::fprintf(stderr, "loyalty-gen: --write-programs=%s: %s\n", programs_dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
    (void)loyalty::testing::WriteAndLoadTestPrograms(programs_dir);
  }
  auto stream = loyalty::testing::GenerateStream(o);
  loyalty::testing::WriteLines(out, stream.lines);
  const std::string meant_for =
      programs_dir.empty() ? "the test programs (--write-programs=DIR writes them)"
                           : absl::StrCat("the programs in ", programs_dir);
  PrintCounts(out, stream.lines.size(), stream.bad_lines, stream.duplicate_lines,
              stream.bad_by_reason, meant_for.c_str());
  return 0;
}
