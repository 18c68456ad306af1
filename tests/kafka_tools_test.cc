// loyaltyctl's Kafka commands as an operator runs them, against a real
// broker (deploy/kafka/kafka.sh): create-topics with replication options and
// custom names (and the broker's refusal passed through), tail of each
// output topic decoded to JSON (to the end, -n, -f), and status beside a
// running `loyaltyd run` (from its stores and from its group's offsets).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "connectors/kafka/kafka.h"
#include "gtest/gtest.h"
#include "tests/testing/command.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/kafka_broker.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

using ::loyalty::testing::Bin;
using ::loyalty::testing::CommandResult;
using ::loyalty::testing::Sh;
using ::loyalty::testing::Spawn;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    out.emplace_back(l);
  }
  return out;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class KafkaToolsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new testing::KafkaBroker(
        static_cast<int>(testing::EnvInt("LOYALTY_TEST_KAFKA_PORT", 19692)));
    absl::Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << "the real Kafka broker is required: " << s;
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(broker_, nullptr);
    root_ = testing::MakeTempDir("kafka-tools");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // loyaltyctl on the broker with the topics named "<prefix>.events" etc.
  static std::string Ctl(const std::string& prefix) {
    return absl::StrCat(Bin("loyaltyctl"), " --brokers=", broker_->brokers(), " --events-topic=",
                        prefix, ".events --outcomes-topic=", prefix,
                        ".outcomes --balances-topic=", prefix, ".balances --ledger-topic=", prefix,
                        ".ledger --dlq-topic=", prefix, ".dlq ");
  }

  static testing::KafkaBroker* broker_;
  std::string root_;
};

testing::KafkaBroker* KafkaToolsTest::broker_ = nullptr;

TEST_F(KafkaToolsTest, CreateTopicsTakesReplicationOptionsAndCustomNames) {
  CommandResult made =
      Sh(Ctl("ct") + "create-topics --partitions=3 --replication-factor=1 --min-insync-replicas=1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(absl::StrContains(made.output, "topics ready: ct.events, ct.balances, ct.ledger, "
                                             "ct.outcomes, ct.dlq (3 partitions each, replication "
                                             "factor 1, min.insync.replicas 1)"))
      << made.output;
  for (const char* t : {"ct.events", "ct.balances", "ct.ledger", "ct.outcomes", "ct.dlq"}) {
    auto n = PartitionCount(broker_->brokers(), t, 10'000);
    ASSERT_TRUE(n.ok()) << t << ": " << n.status();
    EXPECT_EQ(*n, 3) << t;
  }
  EXPECT_FALSE(PartitionCount(broker_->brokers(), "loyalty.events", 5'000).ok())
      << "the default names were created too";
  // Again: kept as they are.
  EXPECT_EQ(Sh(Ctl("ct") + "create-topics --partitions=3").exit_code, 0);

  // Nonsense is refused before the broker is asked.
  struct Bad {
    const char* flags;
    const char* message;
  };
  for (const Bad& bad :
       {Bad{"--replication-factor=0", "--replication-factor must be in [1, 32767], not 0"},
        Bad{"--replication-factor=-2", "--replication-factor must be in [1, 32767], not -2"},
        Bad{"--min-insync-replicas=0", "--min-insync-replicas must be at least 1, not 0"},
        Bad{"--replication-factor=2 --min-insync-replicas=3",
            "--min-insync-replicas=3 is more than the 2 replicas of --replication-factor"},
        Bad{"--min-insync-replicas=2",
            "--min-insync-replicas=2 is more than the 1 replica of --replication-factor"},
        Bad{"--replication-factor=x", "--replication-factor"}}) {
    CommandResult r = Sh(Ctl("bad") + "create-topics " + bad.flags);
    EXPECT_EQ(r.exit_code, 2) << bad.flags << ": " << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, bad.message)) << bad.flags << ": " << r.output;
  }
  // One broker cannot hold 3 copies: the broker's own words come through.
  CommandResult three = Sh(Ctl("rf3") + "create-topics --replication-factor=3");
  EXPECT_EQ(three.exit_code, 1) << three.output;
  EXPECT_TRUE(absl::StrContains(three.output, "creating topic rf3.")) << three.output;
  EXPECT_TRUE(absl::StrContains(three.output,
                                "The target replication factor of 3 cannot be reached because "
                                "only 1 broker(s) are registered"))
      << three.output;
}

TEST_F(KafkaToolsTest, TailAndStatusBesideARunningEngine) {
  const std::string ctl = Ctl("ts");
  ASSERT_EQ(Sh(ctl + "create-topics --partitions=2").exit_code, 0);
  std::ofstream(root_ + "/cafe.textproto") << testing::CafeProgramText();
  testing::GeneratorOptions g;
  g.seed = testing::TestSeed(41);
  g.events = 1'500;
  g.members = 60;
  g.two_programs = false;
  testing::GeneratedStream stream = testing::GenerateStream(g);
  ASSERT_GT(stream.bad_lines, 0);
  testing::WriteLines(root_ + "/events.jsonl", stream.lines);
  CommandResult produced = Sh(ctl + "produce " + root_ + "/events.jsonl");
  ASSERT_EQ(produced.exit_code, 0) << produced.output;

  // Before any engine: nothing applied, nothing owned; the whole input is lag.
  CommandResult before = Sh(ctl + "status --group=ts.group --format=json");
  ASSERT_EQ(before.exit_code, 0) << before.output;
  EXPECT_EQ(Count(before.output, "\"applied_offset\":null"), 2) << before.output;
  EXPECT_EQ(Count(before.output, "\"owner\":null"), 2) << before.output;
  EXPECT_TRUE(absl::StrContains(before.output, "\"group_state\":\"Dead\"")) << before.output;

  const pid_t engine = Spawn(
      {Bin("loyaltyd"), "run", "--quiet", "--brokers=" + broker_->brokers(),
       "--program=" + root_ + "/cafe.textproto", "--data-dir=" + root_ + "/data",
       "--events-topic=ts.events", "--outcomes-topic=ts.outcomes", "--balances-topic=ts.balances",
       "--ledger-topic=ts.ledger", "--dlq-topic=ts.dlq", "--group=ts.group",
       "--instance-id=tools-engine", "--session-timeout-ms=6000"});
  ASSERT_GT(engine, 0);
  // status from the stores (read-only beside the engine) until caught up.
  const std::string status = ctl + "status --group=ts.group --data-dir=" + root_ + "/data ";
  CommandResult json;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    json = Sh(status + "--format=json");
    if (json.exit_code == 0 && Count(json.output, "\"lag\":0,") == 2 &&
        Count(json.output, "\"instance_id\":\"tools-engine\"") == 2 &&
        Count(json.output, "\"last_commit\":{") == 2) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(Count(json.output, "\"lag\":0,"), 2) << json.output;
  EXPECT_EQ(Count(json.output, "\"applied_from\":\"store\""), 2) << json.output;
  EXPECT_EQ(Count(json.output, "\"instance_id\":\"tools-engine\""), 2) << json.output;
  EXPECT_EQ(Count(json.output, "\"last_commit\":{\"offset\":"), 2) << json.output;
  EXPECT_TRUE(absl::StrContains(json.output, "\"group_state\":\"Stable\"")) << json.output;
  CommandResult table = Sh(status);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_TRUE(absl::StrContains(table.output, "group ts.group (Stable), input ts.events"))
      << table.output;
  EXPECT_TRUE(absl::StrContains(table.output, "PARTITION  APPLIED")) << table.output;
  EXPECT_EQ(Count(table.output, "tools-engine ("), 2) << table.output;

  // A checkpoint beside the running engine (restored at the end).
  CommandResult checkpoint =
      Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/data checkpoint ", root_,
                      "/ckpt"));
  ASSERT_EQ(checkpoint.exit_code, 0) << checkpoint.output;
  EXPECT_EQ(Count(checkpoint.output, "(copied while in use"), 2) << checkpoint.output;

  // tail -n: decoded values, keys and headers.
  CommandResult outcomes = Sh(ctl + "tail ts.outcomes -n 3");
  ASSERT_EQ(outcomes.exit_code, 0) << outcomes.output;
  ASSERT_EQ(Lines(outcomes.output).size(), 3u) << outcomes.output;
  for (const std::string& line : Lines(outcomes.output)) {
    EXPECT_TRUE(absl::StartsWith(line, "{\"topic\":\"ts.outcomes\",\"partition\":")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"headers\":{\"loyalty.seq\":\"")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"key\":\"cafe/")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"value\":{\"")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"timestamp\":\"20")) << line;
  }
  CommandResult balances = Sh(ctl + "tail ts.balances --partition=1 -n2");
  ASSERT_EQ(balances.exit_code, 0) << balances.output;
  ASSERT_EQ(Lines(balances.output).size(), 2u) << balances.output;
  for (const std::string& line : Lines(balances.output)) {
    EXPECT_TRUE(absl::StrContains(line, "\"partition\":1,")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"loyalty.version\":\"")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"value\":{\"state\":{")) << line;
  }
  // The whole DLQ to its end: one record per bad line, with its reason.
  CommandResult dlq = Sh(ctl + "tail ts.dlq");
  ASSERT_EQ(dlq.exit_code, 0) << dlq.output;
  EXPECT_EQ(static_cast<int64_t>(Lines(dlq.output).size()), stream.bad_lines) << dlq.output;
  EXPECT_EQ(Count(dlq.output, "\"loyalty.reason\":\""), stream.bad_lines) << dlq.output;
  CommandResult events = Sh(ctl + "tail ts.events -n 1 --from=beginning");
  ASSERT_EQ(events.exit_code, 0) << events.output;
  EXPECT_TRUE(absl::StrContains(events.output, "\"value\":{\"event_id\":\"")) << events.output;
  CommandResult raw = Sh(ctl + "tail ts.outcomes --type=raw -n 1");
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_TRUE(absl::StrContains(raw.output, "\"value_base64\":\"")) << raw.output;
  CommandResult missing = Sh(ctl + "tail no.such.topic");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_TRUE(absl::StrContains(missing.output, "topic no.such.topic does not exist"))
      << missing.output;
  EXPECT_EQ(Sh(ctl + "tail ts.dlq --type=nope").exit_code, 2);
  // The operator's -X properties reach tail's and status's clients (a
  // secured cluster needs them); the engine's own stay its own.
  for (const char* command : {"tail ts.dlq", "status --group=ts.group"}) {
    CommandResult r = Sh(ctl + command + " -X no.such.property=1");
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "operator's kafka setting no.such.property"))
        << command << ": " << r.output;
  }
  CommandResult uncommitted = Sh(ctl + "tail ts.dlq -X isolation.level=read_uncommitted");
  EXPECT_EQ(uncommitted.exit_code, 2) << uncommitted.output;
  EXPECT_TRUE(absl::StrContains(uncommitted.output, "isolation.level: set by the engine itself"))
      << uncommitted.output;

  // tail -f --from=end: only what comes later, until SIGINT.
  const std::string followed = root_ + "/followed.jsonl";
  CommandResult bg = Sh(absl::StrCat("sh -c 'timeout --preserve-status -s INT 12 ", ctl,
                                     "tail ts.outcomes -f --from=end >", followed,
                                     " 2>&1; echo $? >", root_,
                                     "/followed.rc' >/dev/null 2>&1 & echo started"));
  ASSERT_TRUE(absl::StrContains(bg.output, "started")) << bg.output;
  std::this_thread::sleep_for(std::chrono::seconds(4));
  std::ofstream(root_ + "/more.jsonl")
      << "{\"event_id\":\"late-1\",\"program_id\":\"cafe\",\"member_id\":\"late\","
         "\"occurred_at\":\"2026-06-01T10:00:00Z\",\"purchase\":{\"order_id\":\"late-o1\","
         "\"amount_minor\":\"500\",\"currency\":\"EUR\"}}\n";
  ASSERT_EQ(Sh(ctl + "produce " + root_ + "/more.jsonl").exit_code, 0);
  for (int i = 0; i < 200 && !std::filesystem::exists(root_ + "/followed.rc"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::ifstream rc_in(root_ + "/followed.rc");
  std::string rc;
  std::getline(rc_in, rc);
  EXPECT_EQ(rc, "0") << "tail -f did not stop cleanly on SIGINT";
  std::ifstream f_in(followed);
  const std::string follow_output((std::istreambuf_iterator<char>(f_in)), {});
  EXPECT_EQ(Lines(follow_output).size(), 1u) << follow_output;
  EXPECT_TRUE(absl::StrContains(follow_output, "\"event_id\":\"late-1\"")) << follow_output;

  // Stopped: the group's offsets (committed at the stop) say the same.
  kill(engine, SIGTERM);
  int exit_status = 0;
  waitpid(engine, &exit_status, 0);
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
  CommandResult after = Sh(ctl + "status --group=ts.group --format=json");
  ASSERT_EQ(after.exit_code, 0) << after.output;
  EXPECT_EQ(Count(after.output, "\"applied_from\":\"group\""), 2) << after.output;
  EXPECT_EQ(Count(after.output, "\"lag\":0,"), 2) << after.output;
  const int64_t outcomes_before = static_cast<int64_t>(Lines(Sh(ctl + "tail ts.outcomes").output).size());

  // Restore: the engine on the checkpoint, which predates late-1. It
  // applies late-1 again (publishing nothing twice) and then late-2.
  std::ofstream(root_ + "/more2.jsonl")
      << "{\"event_id\":\"late-2\",\"program_id\":\"cafe\",\"member_id\":\"late\","
         "\"occurred_at\":\"2026-06-01T11:00:00Z\",\"purchase\":{\"order_id\":\"late-o2\","
         "\"amount_minor\":\"700\",\"currency\":\"EUR\"}}\n";
  ASSERT_EQ(Sh(ctl + "produce " + root_ + "/more2.jsonl").exit_code, 0);
  const pid_t restored = Spawn(
      {Bin("loyaltyd"), "run", "--quiet", "--brokers=" + broker_->brokers(),
       "--program=" + root_ + "/cafe.textproto", "--data-dir=" + root_ + "/ckpt",
       "--events-topic=ts.events", "--outcomes-topic=ts.outcomes", "--balances-topic=ts.balances",
       "--ledger-topic=ts.ledger", "--dlq-topic=ts.dlq", "--group=ts.group",
       "--instance-id=tools-engine", "--session-timeout-ms=6000"});
  ASSERT_GT(restored, 0);
  const std::string ckpt_status =
      ctl + "status --group=ts.group --format=json --data-dir=" + root_ + "/ckpt";
  CommandResult caught_up;
  const auto restore_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < restore_deadline) {
    caught_up = Sh(ckpt_status);
    if (Count(caught_up.output, "\"lag\":0,") == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(Count(caught_up.output, "\"lag\":0,"), 2) << caught_up.output;
  kill(restored, SIGTERM);
  waitpid(restored, &exit_status, 0);
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
  CommandResult all = Sh(ctl + "tail ts.outcomes");
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_EQ(static_cast<int64_t>(Lines(all.output).size()), outcomes_before + 1);
  int late1 = 0, late2 = 0;  // outcomes (an outcome's entries repeat its event_id)
  for (const std::string& line : Lines(all.output)) {
    late1 += absl::StrContains(line, "\"event_id\":\"late-1\"") ? 1 : 0;
    late2 += absl::StrContains(line, "\"event_id\":\"late-2\"") ? 1 : 0;
  }
  EXPECT_EQ(late1, 1) << "published twice";
  EXPECT_EQ(late2, 1);
  CommandResult verify =
      Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/ckpt verify"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

}  // namespace
}  // namespace loyalty
