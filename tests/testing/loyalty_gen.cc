// loyalty-gen: writes a seeded JSON Lines event stream (the test generator)
// for demos and benchmarks.
#include <cstdio>
#include <cstring>
#include <string>

#include "tests/testing/event_gen.h"

int main(int argc, char** argv) {
  loyalty::testing::GeneratorOptions o;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (a == "--help") {
      std::printf(
          "loyalty-gen --out=FILE [--events=N] [--members=N] [--seed=N] [--cafe-only]\n"
          "Writes a seeded JSON Lines stream of every event kind, with duplicates and\n"
          "bad lines mixed in, for the programs in programs/ (cafe) and the tests (shop).\n");
      return 0;
    } else if (const char* v = val("--out=")) {
      out = v;
    } else if (const char* v = val("--events=")) {
      o.events = std::strtoll(v, nullptr, 10);
    } else if (const char* v = val("--members=")) {
      o.members = std::strtoll(v, nullptr, 10);
    } else if (const char* v = val("--seed=")) {
      o.seed = std::strtoull(v, nullptr, 10);
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
  auto stream = loyalty::testing::GenerateStream(o);
  loyalty::testing::WriteLines(out, stream.lines);
  std::fprintf(stderr, "loyalty-gen: %zu lines (%lld bad, %lld duplicates) to %s\n",
               stream.lines.size(), static_cast<long long>(stream.bad_lines),
               static_cast<long long>(stream.duplicate_lines), out.c_str());
  return 0;
}
