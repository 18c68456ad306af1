#include "cmd/flags.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace loyalty {
namespace {

// argv for Flags::Parse from strings (argv[0] is the program).
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : args_(std::move(args)) {
    args_.insert(args_.begin(), "tool");
    for (std::string& a : args_) ptrs_.push_back(a.data());
  }
  int argc() { return static_cast<int>(ptrs_.size()); }
  char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
};

const std::set<std::string> kKnown = {"brokers", "data-dir", "workers", "quiet"};
const std::set<std::string> kBooleans = {"quiet"};

absl::StatusOr<Flags> ParseWith(std::vector<std::string> args, const Flags::Environment& env,
                                const std::set<std::string>& other = {}) {
  Argv a(std::move(args));
  return Flags::Parse(a.argc(), a.argv(), 1, kKnown, kBooleans, other, env);
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path =
      (std::filesystem::temp_directory_path() / (name + "." + std::to_string(getpid()))).string();
  std::ofstream(path) << text;
  return path;
}

TEST(FlagsTest, FlagBeatsEnvironmentBeatsFile) {
  const std::string config = WriteFile("flags-precedence.conf",
                                       "# the engine\n"
                                       "brokers = file:9092\n"
                                       "data-dir=/from/file\n"
                                       "workers = 3\n"
                                       "\n"
                                       "kafka.security.protocol = SASL_SSL\n"
                                       "kafka.sasl.password = from-file\n"
                                       "kafka.consumer.fetch.max.bytes = 100\n");
  auto flags = ParseWith(
      {"--config=" + config, "--brokers=flag:9092", "-X", "sasl.username=engine", "-Xlinger.ms=5"},
      {{"LOYALTY_BROKERS", "env:9092"},
       {"LOYALTY_DATA_DIR", "/from/env"},
       {"LOYALTY_KAFKA_SASL_PASSWORD", "from-env"},
       {"LOYALTY_SEED", "not a flag of this command"}});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->Get("brokers"), "flag:9092");
  EXPECT_EQ(flags->Get("data-dir"), "/from/env");
  EXPECT_EQ(flags->Get("workers"), "3");
  EXPECT_EQ(flags->kafka_properties(), (Flags::Pairs{{"consumer.fetch.max.bytes", "100"},
                                                     {"linger.ms", "5"},
                                                     {"sasl.password", "from-env"},
                                                     {"sasl.username", "engine"},
                                                     {"security.protocol", "SASL_SSL"}}));
  std::filesystem::remove(config);
}

TEST(FlagsTest, DescribeRedactsSecretsAndNamesSources) {
  auto flags = ParseWith({"--brokers=b:1", "-X", "sasl.password=hunter2", "-X",
                          "ssl.key.password=k", "-X", "sasl.username=engine"},
                         {{"LOYALTY_DATA_DIR", "/d"}});
  ASSERT_TRUE(flags.ok()) << flags.status();
  const Flags::Pairs d = flags->Describe();
  EXPECT_EQ(d, (Flags::Pairs{{"brokers", "b:1"},
                             {"data-dir", "/d (env)"},
                             {"kafka.sasl.password", "[redacted]"},
                             {"kafka.sasl.username", "engine"},
                             {"kafka.ssl.key.password", "[redacted]"}}));
}

TEST(FlagsTest, BooleansFromEveryPlace) {
  EXPECT_TRUE(ParseWith({"--quiet"}, {})->Has("quiet"));
  EXPECT_FALSE(ParseWith({"--quiet=false"}, {})->Has("quiet"));
  EXPECT_TRUE(ParseWith({}, {{"LOYALTY_QUIET", "true"}})->Has("quiet"));
  // A false flag beats a true environment.
  EXPECT_FALSE(ParseWith({"--quiet=false"}, {{"LOYALTY_QUIET", "1"}})->Has("quiet"));
  auto bad = ParseWith({}, {{"LOYALTY_QUIET", "maybe"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("LOYALTY_QUIET"), std::string::npos);
}

TEST(FlagsTest, FileErrorsNameFileAndLine) {
  const std::string config = WriteFile("flags-errors.conf", "brokers = a:1\nworkres = 2\n");
  auto typo = ParseWith({"--config=" + config}, {});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find(config + ":2: unknown name \"workres\""),
            std::string::npos)
      << typo.status();
  // Another command's flag in a shared file is skipped.
  const std::string shared = WriteFile("flags-shared.conf", "brokers = a:1\nseed = 2\n");
  auto ok = ParseWith({"--config=" + shared}, {}, {"seed"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_FALSE(ok->Has("seed"));

  const std::string twice = WriteFile("flags-twice.conf", "brokers = a:1\n\nbrokers = b:2\n");
  auto dup = ParseWith({"--config=" + twice}, {});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find(":3: brokers is already set on line 1"), std::string::npos)
      << dup.status();

  const std::string no_eq = WriteFile("flags-noeq.conf", "brokers\n");
  EXPECT_FALSE(ParseWith({"--config=" + no_eq}, {}).ok());
  auto missing = ParseWith({"--config=/nonexistent/loyalty.conf"}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/loyalty.conf"), std::string::npos);
  // The config file may come from the environment too.
  auto from_env = ParseWith({}, {{"LOYALTY_CONFIG", shared}}, {"seed"});
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->Get("brokers"), "a:1");
  for (const std::string& p : {config, shared, twice, no_eq}) std::filesystem::remove(p);
}

TEST(FlagsTest, DurationsHaveUnitsAndBounds) {
  auto flags = ParseWith({"--workers=90s", "--data-dir=0", "--brokers=1h"}, {});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(*flags->GetDurationMs("workers", 7, 86'400'000), 90'000);
  EXPECT_EQ(*flags->GetDurationMs("data-dir", 7, 86'400'000), 0);
  EXPECT_EQ(*flags->GetDurationMs("quiet", 7, 86'400'000), 7);  // absent: the fallback
  auto too_long = flags->GetDurationMs("brokers", 7, 60'000);
  EXPECT_TRUE(absl::IsInvalidArgument(too_long.status()));
  EXPECT_EQ(too_long.status().message(), "--brokers must be at most 1m");
  auto bad = ParseWith({"--workers=5"}, {});
  ASSERT_TRUE(bad.ok());
  auto no_unit = bad->GetDurationMs("workers", 7, 86'400'000);
  EXPECT_EQ(no_unit.status().message(), "--workers=5: not a duration (say 90s, 5m, 1h or 0)");
}

TEST(FlagsTest, BadPropertiesAndFlagsAreRefused) {
  EXPECT_FALSE(ParseWith({"-X"}, {}).ok());
  EXPECT_FALSE(ParseWith({"-X", "novalue"}, {}).ok());
  EXPECT_FALSE(ParseWith({"-X", "=v"}, {}).ok());
  auto unknown = ParseWith({"--nope=1"}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--nope"), std::string::npos);
  auto flags = ParseWith({"--workers=-1"}, {});
  ASSERT_TRUE(flags.ok());
  EXPECT_FALSE(flags->GetIntIn("workers", 2, 1, 256).ok());
}

}  // namespace
}  // namespace loyalty
