// The consuming engine against a real Kafka broker (deploy/kafka/kafka.sh):
// whatever the restarts and rebalances, the member states equal those of a
// single uninterrupted file replay of the same events (SPEC §3.1, §3.5).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "connectors/kafka/engine.h"
#include "engine/audit/audit.h"
#include "engine/cmd/replay.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/kafka_broker.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

using States = std::map<std::string, std::string>;  // program/member -> MemberState JSON

// Member states of every partition store under `data_dir`; verifies each.
States ReadStates(const std::string& data_dir) {
  States out;
  auto partitions = ListPartitions(data_dir);
  EXPECT_TRUE(partitions.ok()) << partitions.status();
  if (!partitions.ok()) return out;
  for (int32_t p : *partitions) {
    StoreOptions ro;
    ro.read_only = true;
    auto store = PartitionStore::Open(PartitionDir(data_dir, p), ro);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) continue;
    EXPECT_TRUE(
        (*store)
            ->ForEachMember([&](const loyalty::v1::MemberRecord& rec) {
              const auto& st = rec.state();
              EXPECT_TRUE(out.emplace(st.program_id() + "/" + st.member_id(), ToJson(st)).second)
                  << st.member_id() << " is in two partitions";
              return absl::OkStatus();
            })
            .ok());
    auto report = VerifyStore(store->get());
    EXPECT_TRUE(report.ok() && report->ok()) << "verify failed in partition " << p;
  }
  return out;
}

class KafkaEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new testing::KafkaBroker(
        static_cast<int>(testing::EnvInt("LOYALTY_TEST_KAFKA_PORT", 19592)));
    absl::Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << "the real Kafka broker is required: " << s;
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(broker_, nullptr);
    root_ = testing::MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    programs_ = testing::WriteAndLoadTestPrograms(root_);
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    topics_.events = name + ".events";
    topics_.balances = name + ".balances";
    topics_.ledger = name + ".ledger";
    topics_.outcomes = name + ".outcomes";
    topics_.dlq = name + ".dlq";
    ASSERT_TRUE(EnsureTopics(broker_->brokers(), topics_, 4, 30'000).ok());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Generates a stream and replays it from a file into root_/replay for the
  // expected states; returns its lines.
  std::vector<std::string> MakeStream(uint64_t seed, int64_t events) {
    testing::GeneratorOptions g;
    g.seed = seed;
    g.events = events;
    g.members = 400;
    g.tick_every = 700;
    std::vector<std::string> lines = testing::GenerateStream(g).lines;
    testing::WriteLines(root_ + "/events.jsonl", lines);
    ReplayOptions r;
    r.data_dir = root_ + "/replay";
    r.events_path = root_ + "/events.jsonl";
    EXPECT_TRUE(RunReplay(programs_, r).ok());
    return lines;
  }
  // Produces lines [from, to) of `lines`; returns the records produced.
  int64_t Produce(const std::vector<std::string>& lines, size_t from, size_t to) {
    ProduceOptions o;
    o.brokers = broker_->brokers();
    o.topic = topics_.events;
    auto stats =
        ProduceLines(o, std::vector<std::string>(lines.begin() + from, lines.begin() + to));
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? stats->records : 0;
  }

  KafkaEngine::Options EngineOptions() {
    KafkaEngine::Options o;
    o.brokers = broker_->brokers();
    o.topics = topics_;
    o.group_id = topics_.events + ".group";
    o.data_dir = root_ + "/data";
    o.workers = 2;
    o.batch_records_max = 256;
    return o;
  }

  // An engine on its own thread.
  struct Running {
    std::unique_ptr<KafkaEngine> engine;
    std::atomic<bool> stop{false};
    absl::Status result;
    std::thread thread;
    void Stop() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  };
  std::unique_ptr<Running> Start(const KafkaEngine::Options& o) {
    auto r = std::make_unique<Running>();
    auto engine = KafkaEngine::Create(&programs_, o);
    EXPECT_TRUE(engine.ok()) << engine.status();
    r->engine = std::move(*engine);
    Running* raw = r.get();
    r->thread = std::thread([raw] { raw->result = raw->engine->Run(raw->stop); });
    return r;
  }
  // Waits until `applied()` reaches `target` (at most 120 s).
  template <typename F>
  bool WaitFor(F applied, int64_t target) {
    for (int i = 0; i < 1200; ++i) {
      if (applied() >= target) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static testing::KafkaBroker* broker_;
  std::string root_;
  ProgramSet programs_;
  Topics topics_;
};

testing::KafkaBroker* KafkaEngineTest::broker_ = nullptr;

TEST_F(KafkaEngineTest, StopAndRestartMidStreamEqualsOneReplay) {
  const uint64_t seed = testing::TestSeed(41);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const int64_t records = Produce(lines, 0, lines.size());
  ASSERT_GT(records, 12'000);
  int64_t applied = 0;
  // Three runs, each stopped part-way (the last one at the end).
  for (int64_t target : {records / 3, 2 * records / 3, records}) {
    auto run = Start(EngineOptions());
    const int64_t before = applied;
    EXPECT_TRUE(WaitFor([&] { return before + run->engine->records_applied(); }, target))
        << "stalled at " << before + run->engine->records_applied() << " of " << records;
    run->Stop();
    ASSERT_TRUE(run->result.ok()) << run->result;
    applied += run->engine->records_applied();
  }
  EXPECT_EQ(applied, records) << "records applied twice or not at all";
  EXPECT_EQ(ReadStates(root_ + "/data"), ReadStates(root_ + "/replay"));
}

TEST_F(KafkaEngineTest, ASecondEngineJoinsAndLeavesWhileEventsFlow) {
  const uint64_t seed = testing::TestSeed(43);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const size_t third = lines.size() / 3;
  int64_t records = Produce(lines, 0, third);
  auto a = Start(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return a->engine->records_applied(); }, records));
  // b joins: some partitions move to it, their stores through the shared
  // data directory. Events flow while both own partitions.
  auto b = Start(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return b->engine->owned_partitions(); }, 1)) << "b got no partition";
  records += Produce(lines, third, 2 * third);
  auto total = [&] { return a->engine->records_applied() + b->engine->records_applied(); };
  ASSERT_TRUE(WaitFor(total, records)) << "stalled at " << total() << " of " << records;
  EXPECT_GT(b->engine->records_applied(), 0) << "b applied nothing while it owned partitions";
  // b leaves: a takes everything back and applies the rest.
  b->Stop();
  ASSERT_TRUE(b->result.ok()) << b->result;
  records += Produce(lines, 2 * third, lines.size());
  ASSERT_TRUE(WaitFor(total, records)) << "stalled at " << total() << " of " << records;
  a->Stop();
  ASSERT_TRUE(a->result.ok()) << a->result;
  EXPECT_EQ(total(), records) << "records applied twice or not at all";
  EXPECT_EQ(ReadStates(root_ + "/data"), ReadStates(root_ + "/replay"));
}

// Sum of the stored next offsets of the partition stores under `data_dir`
// (read-only opens work while the engine runs).
int64_t StoredOffsets(const std::string& data_dir) {
  int64_t sum = 0;
  auto partitions = ListPartitions(data_dir);
  if (!partitions.ok()) return 0;
  for (int32_t p : *partitions) {
    StoreOptions ro;
    ro.read_only = true;
    auto store = PartitionStore::Open(PartitionDir(data_dir, p), ro);
    if (!store.ok()) return 0;
    auto next = (*store)->GetNextOffset();
    if (next.ok()) sum += *next;
  }
  return sum;
}

pid_t Spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// `loyaltyd run` processes killed with SIGKILL at seeded moments and
// restarted (static membership, so a restart gets its partitions back at
// once); then drained and stopped with SIGTERM. The stores hold each record's
// effect exactly once: their states equal a single uninterrupted replay.
TEST_F(KafkaEngineTest, LoyaltydRunKilledWithSigkillEqualsOneReplay) {
  const uint64_t seed = testing::TestSeed(47);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 30'000);
  constexpr int kRounds = 8;
  const size_t chunk = lines.size() / (kRounds + 1);

  const char* bin = std::getenv("LOYALTY_BINARY_DIR");
  const std::vector<std::string> args = {
      std::string(bin != nullptr ? bin : ".") + "/engine/cmd/loyaltyd",
      "run",
      "--quiet",
      "--brokers=" + broker_->brokers(),
      "--program=" + root_,
      "--data-dir=" + root_ + "/data",
      "--events-topic=" + topics_.events,
      "--group=" + topics_.events + ".group",
      "--instance-id=engine-1",
      "--session-timeout-ms=6000",
      "--batch-size=128"};
  // Each round produces a chunk while a fresh engine starts, then kills it.
  uint64_t rng = seed;
  int kills = 0;
  for (int round = 0; round < kRounds; ++round) {
    pid_t pid = Spawn(args);
    ASSERT_GT(pid, 0);
    Produce(lines, round * chunk, (round + 1) * chunk);
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + (rng >> 33) % 2000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    kills += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  EXPECT_EQ(kills, kRounds);
  const int64_t applied_before_drain = StoredOffsets(root_ + "/data");
  EXPECT_GT(applied_before_drain, 0) << "no killed run applied anything";
  Produce(lines, kRounds * chunk, lines.size());
  auto ends = EndOffsets(broker_->brokers(), topics_.events, 10'000);
  ASSERT_TRUE(ends.ok()) << ends.status();
  int64_t end_total = 0;
  for (int64_t e : *ends) end_total += e;
  EXPECT_LT(applied_before_drain, end_total);
  pid_t pid = Spawn(args);
  ASSERT_GT(pid, 0);
  bool drained = WaitFor([&] { return StoredOffsets(root_ + "/data"); }, end_total);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(drained) << "stalled at " << StoredOffsets(root_ + "/data") << " of " << end_total;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM did not stop cleanly";
  EXPECT_EQ(ReadStates(root_ + "/data"), ReadStates(root_ + "/replay"));
}

}  // namespace
}  // namespace loyalty
