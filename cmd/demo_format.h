// File: cmd/demo_format.h
// Internal to `loyaltyd demo` (cmd/demo.h): how its summary writes numbers,
// money, tallies and paragraphs, and a program in one line.
//
//   Print(out, "   ", absl::StrCat(Num(12345), " events"));  // "   12,345 events"
//
// Thread-safe (no state).
#ifndef LOYALTY_CMD_DEMO_FORMAT_H_
#define LOYALTY_CMD_DEMO_FORMAT_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "loyalty/v1/program.pb.h"

namespace loyalty::demo_internal {

// 12345 -> "12,345"; -1000 -> "-1,000".
std::string Num(int64_t n);

// 152030, "EUR" -> "1,520.30 EUR" (minor units are hundredths).
std::string Money(int64_t minor, const std::string& currency);

// {"a": 2, "b": 1} -> "a 2, b 1" (largest first, then by name); "none"
// when empty.
std::string Tally(const std::map<std::string, int64_t>& counts);

// Prints `label` and then `text`, wrapped at 80 columns with the following
// lines indented to where the text began.
void Print(FILE* out, const std::string& label, const std::string& text);

// The rules of `p` in one line: "1 point per euro, coffee x2, ...".
std::string Describe(const loyalty::v1::Program& p);

}  // namespace loyalty::demo_internal

#endif  // LOYALTY_CMD_DEMO_FORMAT_H_
