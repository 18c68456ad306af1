// The mistakes a new operator makes, run as the operator runs them: every one
// is refused with a message that names the flag, file or path and the cause,
// with exit code 2 (bad usage) or 1 (the data directory or an I/O error),
// never an abort, and nothing stored is lost.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/base/crypto.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "tests/testing/command.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"

namespace loyalty {
namespace {

using ::loyalty::testing::CommandResult;
using ::loyalty::testing::Sh;

// A binary of the build: LOYALTY_BINARY_DIR/<dir>/<name>.
std::string Bin(const std::string& dir, const std::string& name) {
  const char* bin = std::getenv("LOYALTY_BINARY_DIR");
  return absl::StrCat(bin != nullptr ? bin : ".", "/", dir, "/", name);
}

class OperatorErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("operator-errors");
    program_ = root_ + "/cafe.textproto";
    std::ofstream(program_) << testing::CafeProgramText();
    testing::GeneratorOptions g;
    g.seed = 5;
    g.events = 2000;
    g.members = 40;
    g.two_programs = false;
    events_ = root_ + "/events.jsonl";
    testing::WriteLines(events_, testing::GenerateStream(g).lines);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string Replay(const std::string& data_dir, const std::string& more = "") const {
    return absl::StrCat(Bin("cmd", "loyaltyd"), " replay --quiet --program=", program_,
                        " --data-dir=", data_dir, " --events=", events_, " ", more);
  }

  // Expects `command` to exit with `code` and to say `says`.
  static void ExpectRefused(const std::string& command, int code, const std::string& says) {
    CommandResult r = Sh(command);
    EXPECT_EQ(r.exit_code, code) << command << "\n" << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, says)) << command << "\n" << r.output;
  }

  std::string root_, program_, events_;
};

// --partition=-1 used to write <data-dir>/p--001, a store no tool finds.
// Negative and absurd numbers are refused by every tool, naming the flag.
TEST_F(OperatorErrorsTest, NegativeOrAbsurdNumericFlagsAreRefused) {
  const std::string data = root_ + "/data";
  ExpectRefused(Replay(data, "--partition=-1"), 2, "--partition must be in [0, 9999]");
  ExpectRefused(Replay(data, "--partition=100000"), 2, "--partition must be in [0, 9999]");
  ExpectRefused(Replay(data, "--lines-max=-3"), 2, "--lines-max must be in [1,");
  ExpectRefused(Replay(data, "--batch-size=-1"), 2, "--batch-size must be in [1, 1000000]");
  EXPECT_FALSE(std::filesystem::exists(data)) << "a refused replay created " << data;

  // run: refused before any broker is contacted (port 1 has none).
  const std::string run = absl::StrCat(Bin("cmd", "loyaltyd"),
                                       " run --brokers=127.0.0.1:1 --program=", program_,
                                       " --data-dir=", data, " ");
  ExpectRefused(run + "--workers=-2", 2, "--workers must be in [1, 256]");
  ExpectRefused(run + "--batch-size=0", 2, "--batch-size must be in [1, 1000000]");
  ExpectRefused(run + "--session-timeout-ms=-1", 2, "--session-timeout-ms must be in [1000,");
  ExpectRefused(run + "--commit-interval-ms=-5", 2, "--commit-interval-ms must be in [0, 60000]");

  const std::string demo = Bin("cmd", "loyaltyd") + " demo ";
  ExpectRefused(demo + "--seed=-1", 2, "--seed must be in [0,");
  ExpectRefused(demo + "--members=-40", 2, "--members must be in [1, 100000]");
  ExpectRefused(demo + "--partitions=0", 2, "--partitions must be in [1, 64]");

  ExpectRefused(Bin("cmd", "loyaltyctl") + " --brokers=127.0.0.1:1 create-topics --partitions=-8",
                2, "--partitions must be in [1, 10000]");

  const std::string gen =
      absl::StrCat(Bin("tests/testing", "loyalty-gen"), " --out=", root_, "/gen.jsonl ");
  ExpectRefused(gen + "--events=-5", 2, "--events must be in [1,");
  ExpectRefused(gen + "--members=0", 2, "--members must be in [1,");
  ExpectRefused(gen + "--seed=-7", 2, "--seed must be in [0,");
  ExpectRefused(gen + "--events=lots", 2, "--events=lots: not an integer");
  ExpectRefused(gen + "--closing-months=-1 --year-of=" + program_, 2,
                "--closing-months must be in [0, 120]");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/gen.jsonl"));

  const std::string bench = Bin("bench", "loyalty-bench");
  if (access(bench.c_str(), X_OK) == 0) {  // built with -DLOYALTY_BUILD_BENCH=ON
    ExpectRefused(bench + " --brokers=127.0.0.1:1 --seed=-1", 2, "--seed must be in [0,");
    ExpectRefused(bench + " --brokers=127.0.0.1:1 --partitions=1000000", 2,
                  "--partitions must be in [1, 10000]");
    ExpectRefused(bench + " --brokers=127.0.0.1:1 --workers=-1", 2,
                  "--workers must be in [1, 256]");
  }
}

}  // namespace
}  // namespace loyalty
