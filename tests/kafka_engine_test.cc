// The consuming engine against a real Kafka broker (deploy/kafka/kafka.sh):
// whatever the restarts and rebalances, the member states equal those of a
// single uninterrupted file replay of the same events (SPEC §3.1, §3.5).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <thread>

#include "connectors/kafka/engine.h"
#include "connectors/kafka/publisher.h"
#include "engine/base/crypto.h"
#include "engine/apply/validate.h"
#include "engine/audit/audit.h"
#include "connectors/file/replay.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "tests/testing/command.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/faulty_fs.h"
#include "tests/testing/output_check.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

using testing::ReadStoreFacts;
using testing::Spawn;
using testing::StoredOffsets;
using testing::StoreFacts;
using testing::WaitFor;

constexpr int kPartitions = 4;

class KafkaEngineTest : public testing::EngineTest {
 protected:
  KafkaEngineTest() : EngineTest(kPartitions) {}
  static void SetUpTestSuite() { StartBroker(19592); }

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
  void CrashLoop(const std::string& durability, uint64_t seed);
  void PowerLoss(bool machine, uint64_t seed);
};

TEST_F(KafkaEngineTest, StopAndRestartMidStreamEqualsOneReplay) {
  const uint64_t seed = testing::TestSeed(41);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const int64_t records = Produce(lines, 0, lines.size());
  ASSERT_GT(records, 12'000);
  int64_t applied = 0;
  // Three runs, each stopped part-way (the last one at the end), publishing
  // the optional ledger topic too.
  KafkaEngine::Options options = EngineOptions();
  options.outputs.ledger = true;
  for (int64_t target : {records / 3, 2 * records / 3, records}) {
    auto run = Start(options);
    const int64_t before = applied;
    EXPECT_TRUE(WaitFor([&] { return before + run->engine->records_applied(); }, target))
        << "stalled at " << before + run->engine->records_applied() << " of " << records;
    run->Stop();
    ASSERT_TRUE(run->result.ok()) << run->result;
    applied += run->engine->records_applied();
  }
  EXPECT_EQ(applied, records) << "records applied twice or not at all";
  ExpectExactlyOnce(/*ledger=*/true);
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
  ExpectExactlyOnce();
}

// `loyaltyd run` processes killed with SIGKILL at seeded moments while the
// stream is produced, and restarted (static membership, so a restart gets its
// partitions back at once); then drained and stopped with SIGTERM. The stores
// hold each record's effect exactly once (their states equal a single
// uninterrupted replay) and a read_committed reader sees each output once.
// LOYALTY_CRASH_EVENTS and LOYALTY_CRASH_KILLS scale it (the big run:
// 1,000,000 and 50).
void KafkaEngineTest::CrashLoop(const std::string& durability, uint64_t seed) {
  SCOPED_TRACE(testing::Seeded(seed));
  const int64_t events = testing::EnvInt("LOYALTY_CRASH_EVENTS", 30'000);
  const int kills_wanted = static_cast<int>(testing::EnvInt("LOYALTY_CRASH_KILLS", 8));
  const std::vector<std::string> lines = MakeStream(seed, events);
  const size_t chunk = lines.size() / (kills_wanted + 1);

  const std::vector<std::string> args =
      LoyaltydArgs({"--instance-id=engine-1", "--durability=" + durability, "--batch-size=128"});
  // Each round produces a chunk while a fresh engine starts, then kills it
  // at a seeded moment.
  uint64_t rng = seed;
  int kills = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < kills_wanted; ++round) {
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
  EXPECT_EQ(kills, kills_wanted);
  const int64_t applied_before_drain = StoredOffsets(root_ + "/data");
  EXPECT_GT(applied_before_drain, 0) << "no killed run applied anything";
  Produce(lines, kills_wanted * chunk, lines.size());
  const int64_t end_total = EndOffsetTotal();
  EXPECT_LT(applied_before_drain, end_total);
  pid_t pid = Spawn(args);
  ASSERT_GT(pid, 0);
  bool drained = WaitFor([&] { return StoredOffsets(root_ + "/data"); }, end_total,
                         /*timeout_s=*/600);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fprintf(stderr, "crash loop (%s): %zu lines, %lld records, %d kills, %.1f s\n",
               durability.c_str(), lines.size(), static_cast<long long>(end_total), kills,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  ASSERT_TRUE(drained) << "stalled at " << StoredOffsets(root_ + "/data") << " of " << end_total;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM did not stop cleanly";
  ExpectExactlyOnce();
}

// A second engine in its own process joins the group while events flow and
// leaves (SIGTERM); each partition's store follows it through the shared data
// directory (RocksDB's lock keeps a partition to one owner at a time).
TEST_F(KafkaEngineTest, ASecondProcessJoinsAndLeavesWhileEventsFlow) {
  const uint64_t seed = testing::TestSeed(73);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const size_t third = lines.size() / 3;
  int64_t records = Produce(lines, 0, third);
  auto a = Start(EngineOptions());
  ASSERT_TRUE(WaitFor([&] { return a->engine->records_applied(); }, records));
  pid_t b = Spawn(LoyaltydArgs({"--batch-size=128"}));
  ASSERT_GT(b, 0);
  ASSERT_TRUE(WaitFor([&] { return kPartitions - a->engine->owned_partitions(); }, 1))
      << "the second process got no partition";
  records += Produce(lines, third, 2 * third);
  const std::string data = root_ + "/data";
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets(data); }, records))
      << "stalled at " << StoredOffsets(data) << " of " << records;
  kill(b, SIGTERM);
  int status = 0;
  waitpid(b, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM did not stop cleanly";
  ASSERT_TRUE(WaitFor([&] { return a->engine->owned_partitions(); }, kPartitions));
  records += Produce(lines, 2 * third, lines.size());
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets(data); }, records))
      << "stalled at " << StoredOffsets(data) << " of " << records;
  a->Stop();
  ASSERT_TRUE(a->result.ok()) << a->result;
  EXPECT_LT(a->engine->records_applied(), records) << "the second process applied nothing";
  ExpectExactlyOnce();
}

// loyaltyd's default membership is static, under its host name: a process
// restarted after kill -9 gets its partitions back at once, not after the
// group's session timeout. With dynamic membership (the old default, and
// --instance-id=none) the restart waited 30-38 s for the dead member to
// time out of a 45 s session.
TEST_F(KafkaEngineTest, ARestartAfterKill9ResumesWithoutWaitingOutTheSession) {
  const uint64_t seed = testing::TestSeed(79);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 4'000);
  const size_t half = lines.size() / 2;
  // No --instance-id; Kafka's default session timeout.
  const std::vector<std::string> args =
      LoyaltydArgs({"--session-timeout-ms=45000", "--batch-size=128"});
  const std::string data = root_ + "/data";
  int64_t records = Produce(lines, 0, half);
  pid_t pid = Spawn(args);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets(data); }, records));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  records += Produce(lines, half, lines.size());
  const auto restarted = std::chrono::steady_clock::now();
  pid = Spawn(args);
  ASSERT_GT(pid, 0);
  constexpr int kResumeLimitS = 20;  // under half the session timeout
  const bool resumed = WaitFor([&] { return StoredOffsets(data); }, records, kResumeLimitS);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted).count();
  kill(pid, SIGTERM);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(resumed) << "the restarted process applied " << StoredOffsets(data) << " of "
                       << records << " records in " << seconds
                       << " s: its partitions waited for the 45 s session timeout";
  std::fprintf(stderr, "restart after kill -9: all records applied %.1f s after the restart\n",
               seconds);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM did not stop cleanly";
  ExpectExactlyOnce();
}

// SPEC §7: an input record too large for the DLQ topic (here 17 MiB, on an
// input topic that accepts 20 MiB, against the DLQ's 16 MiB) is published
// cut to what the topic accepts, with its original size and SHA-256 in
// headers, and the partition goes on. It used to stop the engine with
// "too large for ... .dlq".
TEST_F(KafkaEngineTest, ARecordTooLargeForTheDlqIsPublishedCutWithItsSizeAndDigest) {
  constexpr int64_t kBigBytes = 17 << 20;
  const std::string big_events = topics_.events + ".big";
  ASSERT_TRUE(EnsureTopics(broker_->brokers(),
                           std::vector<TopicSpec>{{big_events, {{"max.message.bytes", "20971520"}}}},
                           kPartitions, 30'000)
                  .ok());
  std::string big(static_cast<size_t>(kBigBytes), '\0');
  uint64_t x = 88;
  for (char& c : big) c = static_cast<char>((x = x * 6364136223846793005ULL + 1) >> 56);
  auto producer =
      RecordProducer::Open(broker_->brokers(), big_events, {{"message.max.bytes", "20971520"}});
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE((*producer)->Produce(big, "m1", 0).ok());
  ASSERT_TRUE((*producer)->Flush(60'000).ok());
  topics_.events = big_events;
  const std::vector<std::string> lines = MakeStream(testing::TestSeed(83), 600);
  const int64_t records = 1 + Produce(lines, 0, lines.size());

  auto running = Start(EngineOptions());
  const bool applied = WaitFor([&] { return running->engine->records_applied(); }, records, 120);
  running->Stop();
  ASSERT_TRUE(running->result.ok()) << running->result;
  ASSERT_TRUE(applied) << running->engine->records_applied() << " of " << records;

  ReadToEndOptions read;
  read.brokers = broker_->brokers();
  read.topics = {topics_.dlq};
  int cut = 0;
  auto header = [](const rd_kafka_message_t& m, const char* name) {
    rd_kafka_headers_t* h = nullptr;
    const void* v = nullptr;
    size_t n = 0;
    if (rd_kafka_message_headers(&m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::string();
    }
    return std::string(static_cast<const char*>(v), n);
  };
  auto stats = ReadToEnd(read, [&](const rd_kafka_message_t& m) {
    if (header(m, kHeaderOriginalSize).empty()) return;
    ++cut;
    EXPECT_EQ(m.partition, 0);
    EXPECT_EQ(header(m, kHeaderOriginalSize), std::to_string(kBigBytes));
    EXPECT_EQ(header(m, kHeaderOriginalSha256), HexDigest(Sha256(big)));
    EXPECT_EQ(header(m, kHeaderReason), "OVERSIZED");
    EXPECT_LE(m.len, size_t{16} << 20);
    EXPECT_GT(m.len, size_t{15} << 20);
    EXPECT_EQ(absl::string_view(static_cast<const char*>(m.payload), m.len),
              absl::string_view(big).substr(0, m.len))
        << "the value is not the record's head";
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(cut, 1);
}

TEST_F(KafkaEngineTest, CrashLoopProcessDurability) { CrashLoop("process", testing::TestSeed(47)); }

TEST_F(KafkaEngineTest, CrashLoopMachineDurability) { CrashLoop("machine", testing::TestSeed(53)); }

// Two engines own the same partitions (two groups, two stores, one
// transactional.id prefix): the newer one's producers fence the older one,
// whose next transaction fails; nothing the older one wrote after that is
// visible, and the newer one republishes only what is missing.
TEST_F(KafkaEngineTest, ANewerEngineFencesTheOlderOne) {
  const uint64_t seed = testing::TestSeed(59);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const size_t third = lines.size() / 3;
  KafkaEngine::Options old_options = EngineOptions();
  old_options.transactional_id_prefix = "fencing";
  old_options.data_dir = root_ + "/old";
  KafkaEngine::Options new_options = old_options;
  new_options.group_id += ".new";
  new_options.data_dir = root_ + "/data";

  int64_t records = Produce(lines, 0, third);
  auto older = Start(old_options);
  ASSERT_TRUE(WaitFor([&] { return older->engine->records_applied(); }, records));
  // Its outputs are published by then (after the records are applied).
  ASSERT_TRUE(WaitFor([&] { return older->engine->output_transactions(); }, 1));
  auto newer = Start(new_options);
  ASSERT_TRUE(WaitFor([&] { return newer->engine->owned_partitions(); }, kPartitions));
  ASSERT_TRUE(WaitFor([&] { return newer->engine->records_applied(); }, records));
  // Events keep coming: the older engine tries to publish them and is fenced.
  records += Produce(lines, third, 2 * third);
  older->thread.join();  // it stops by itself
  EXPECT_TRUE(absl::IsFailedPrecondition(older->result)) << older->result;
  EXPECT_NE(older->result.message().find("fenced"), absl::string_view::npos) << older->result;
  records += Produce(lines, 2 * third, lines.size());
  ASSERT_TRUE(WaitFor([&] { return newer->engine->records_applied(); }, records));
  newer->Stop();
  ASSERT_TRUE(newer->result.ok()) << newer->result;
  ExpectExactlyOnce();
}

// The broker stops mid-stream and comes back on the same log: the engine
// waits (its transactions retry with new producers) and resumes; nothing is
// lost or doubled.
TEST_F(KafkaEngineTest, BrokerRestartMidStream) {
  const uint64_t seed = testing::TestSeed(61);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const size_t half = lines.size() / 2;
  int64_t records = Produce(lines, 0, half);
  KafkaEngine::Options o = EngineOptions();
  o.transaction_call_timeout_ms = 5'000;
  auto run = Start(o);
  ASSERT_TRUE(WaitFor([&] { return run->engine->records_applied(); }, records / 2));
  ASSERT_TRUE(broker_->Stop().ok());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(broker_->Start().ok());
  records += Produce(lines, half, lines.size());
  ASSERT_TRUE(WaitFor([&] { return run->engine->records_applied(); }, records, 300))
      << "stalled at " << run->engine->records_applied() << " of " << records;
  // Publishing resumes too: a transaction cut off by the restart is retried
  // (with a new producer once its commit times out) until all is published.
  ASSERT_TRUE(WaitFor([&] { return -run->engine->outputs_unpublished(); }, 0, 300))
      << run->engine->outputs_unpublished() << " outputs still unpublished";
  run->Stop();
  ASSERT_TRUE(run->result.ok()) << run->result;
  EXPECT_EQ(run->engine->records_applied(), records);
  EXPECT_EQ(run->engine->outputs_unpublished(), 0) << "a stopped engine still counts outputs";
  ExpectExactlyOnce();
}

// A power loss: writes start failing at a moment (the engine stops there, as
// the machine would), then everything the stores did not sync is dropped.
// With --durability=machine the stores are never behind what Kafka readers
// saw; with process they are (the unsynced WAL is gone), and the restarted
// engine re-derives the lost tail from the input topic and, outputs being
// deterministic, republishes nothing twice. Both end exactly-once.
void KafkaEngineTest::PowerLoss(bool machine, uint64_t seed) {
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 12'000);
  const size_t half = lines.size() / 2;
  auto fs = std::make_shared<testing::FaultyFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  KafkaEngine::Options o = EngineOptions();
  o.sync_writes = machine;
  o.env = env.get();
  int64_t records = Produce(lines, 0, half);
  {
    auto run = Start(o);
    ASSERT_TRUE(WaitFor([&] { return run->engine->records_applied(); }, records / 2));
    fs->FailWritesAfter(0);  // the power goes: no write lands from here on
    run->Stop();             // (the process dies with it)
    fs->Freeze();
  }
  ASSERT_TRUE(fs->SimulatePowerLoss().ok());
  fs->Heal();
  auto seen = testing::CheckOutputs(broker_->brokers(), topics_);
  ASSERT_TRUE(seen.ok()) << seen.status();
  const StoreFacts after_loss = ReadStoreFacts({root_ + "/data"});
  int64_t behind = 0;
  for (const auto& [partition, seq] : seen->last_seq) {
    const auto it = after_loss.last_seq.find(partition);
    behind += std::max<int64_t>(0, seq - (it == after_loss.last_seq.end() ? 0 : it->second));
  }
  std::fprintf(stderr, "power loss (%s): %lld bytes dropped, stores %lld outputs behind Kafka\n",
               machine ? "machine" : "process", static_cast<long long>(fs->lost_bytes()),
               static_cast<long long>(behind));
  if (machine) {
    EXPECT_EQ(behind, 0) << "a synced store lost outputs that Kafka readers saw";
  } else {
    EXPECT_GT(behind, 0) << "the simulated power loss dropped nothing";
  }
  records += Produce(lines, half, lines.size());
  auto run = Start(o);
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets(root_ + "/data"); }, records));
  run->Stop();
  ASSERT_TRUE(run->result.ok()) << run->result;
  ExpectExactlyOnce();
}

TEST_F(KafkaEngineTest, PowerLossMachineDurability) { PowerLoss(true, testing::TestSeed(67)); }

TEST_F(KafkaEngineTest, PowerLossProcessDurability) { PowerLoss(false, testing::TestSeed(71)); }

}  // namespace
}  // namespace loyalty
