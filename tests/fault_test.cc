// Storage faults: RocksDB writes fail (injected through a FileSystemWrapper
// under a real store) in the middle of a stream. The failed batch changes
// nothing, the engine restarts from the stored offset, and the final state is
// byte-identical to an uninterrupted run.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/audit/audit.h"
#include "connectors/file/replay.h"
#include "engine/ledger/partition.h"
#include "gtest/gtest.h"
#include "rocksdb/env.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/faulty_fs.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

constexpr size_t kBatch = 50;

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("fault");
    programs_ = testing::WriteAndLoadTestPrograms(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Feeds `lines` from offset 1 in batches; returns the index of the first
  // record of the batch that failed, or -1.
  int64_t Feed(Partition* partition, const std::vector<std::string>& lines, size_t from,
               size_t fail_batch, testing::FaultyFileSystem* fs, int64_t appends_before_fail) {
    for (size_t i = from, b = 0; i < lines.size(); i += kBatch, ++b) {
      if (fs != nullptr && b == fail_batch) fs->FailWritesAfter(appends_before_fail);
      std::vector<InputRecord> records;
      for (size_t k = i; k < std::min(lines.size(), i + kBatch); ++k) {
        records.push_back({static_cast<int64_t>(k) + 1, lines[k]});
      }
      const int64_t before = partition->next_offset();
      absl::Status s = partition->ApplyBatch(records, InputFormat::kJson, nullptr);
      if (!s.ok()) {
        EXPECT_EQ(partition->next_offset(), before) << "a failed batch moved the offset";
        return static_cast<int64_t>(i);
      }
    }
    return -1;
  }

  std::string root_;
  ProgramSet programs_;
};

TEST_F(FaultTest, FailedWritesLeaveNothingBehindAndARestartCatchesUp) {
  const uint64_t seed = testing::TestSeed(99);
  SCOPED_TRACE(testing::Seeded(seed));
  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = 6'000;
  g.members = 300;
  const std::vector<std::string> lines = testing::GenerateStream(g).lines;

  // The uninterrupted run.
  std::string want;
  {
    auto store = PartitionStore::Open(root_ + "/clean", StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
    ASSERT_TRUE(partition.ok());
    ASSERT_EQ(Feed(partition->get(), lines, 0, SIZE_MAX, nullptr, 0), -1);
  }
  want = testing::HashPartitionStore(root_ + "/clean");

  uint64_t rng = seed;
  const size_t batches = (lines.size() + kBatch - 1) / kBatch;
  for (int round = 0; round < 6; ++round) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t fail_batch = (rng >> 33) % batches;
    const int64_t appends_before_fail = static_cast<int64_t>((rng >> 20) % 4);
    SCOPED_TRACE("round " + std::to_string(round) + ": fail at batch " +
                 std::to_string(fail_batch) + " after " + std::to_string(appends_before_fail) +
                 " appends");
    const std::string dir = root_ + "/faulty-" + std::to_string(round);
    auto fs = std::make_shared<testing::FaultyFileSystem>(rocksdb::FileSystem::Default());
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    StoreOptions options;
    options.env = env.get();
    int64_t failed_at = -1;
    {
      auto store = PartitionStore::Open(dir, options);
      ASSERT_TRUE(store.ok()) << store.status();
      auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
      ASSERT_TRUE(partition.ok());
      failed_at = Feed(partition->get(), lines, 0, fail_batch, fs.get(), appends_before_fail);
      // Retrying in the same process fails the same way and moves nothing:
      // RocksDB refuses writes after a failed one until it is reopened.
      if (failed_at >= 0) {
        const int64_t offset = (*partition)->next_offset();
        EXPECT_EQ(Feed(partition->get(), lines, failed_at, SIZE_MAX, nullptr, 0), failed_at);
        EXPECT_EQ((*partition)->next_offset(), offset);
      }
      fs->Heal();  // the "disk" recovers; the process restarts
    }
    EXPECT_GT(fs->failed_appends(), 0);
    ASSERT_GE(failed_at, 0) << "the injected failure never surfaced";
    {
      auto store = PartitionStore::Open(dir, options);
      ASSERT_TRUE(store.ok()) << store.status();
      auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
      ASSERT_TRUE(partition.ok());
      // Every batch before the failed one is there; the failed one is not.
      EXPECT_EQ((*partition)->next_offset(), failed_at + 1);
      // Restart from the beginning of the stream: applied records are skipped.
      ASSERT_EQ(Feed(partition->get(), lines, 0, SIZE_MAX, nullptr, 0), -1);
      auto report = VerifyStore(store->get());
      ASSERT_TRUE(report.ok());
      EXPECT_TRUE(report->ok());
    }
    EXPECT_EQ(testing::HashPartitionStore(dir), want);
  }
}

// The replay's DLQ and outcome files are flushed before their batch commits.
// When the commit fails, the next run must cut the uncommitted lines off and
// write them once: the files end up byte-identical to an uninterrupted run's.
TEST_F(FaultTest, ReplayOutputFilesAreExactlyOnceAcrossAFailedCommit) {
  const uint64_t seed = testing::TestSeed(5);
  SCOPED_TRACE(testing::Seeded(seed));
  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = 3'000;
  g.members = 100;
  g.bad_permille = 100;
  testing::WriteLines(root_ + "/events.jsonl", testing::GenerateStream(g).lines);
  auto options = [&](const std::string& name) {
    ReplayOptions o;
    o.data_dir = root_ + "/" + name;
    o.events_path = root_ + "/events.jsonl";
    o.dlq_path = root_ + "/" + name + ".dlq";
    o.outcomes_path = root_ + "/" + name + ".outcomes";
    o.batch_size = 100;
    return o;
  };
  ASSERT_TRUE(RunReplay(programs_, options("clean")).ok());

  auto fs = std::make_shared<testing::FaultyFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  ReplayOptions faulty = options("faulty");
  faulty.env = env.get();
  for (int64_t appends : {40, 7, 0}) {
    fs->FailWritesAfter(appends);  // a later commit of this run fails
    auto failed = RunReplay(programs_, faulty);
    EXPECT_FALSE(failed.ok()) << "the injected failure did not surface (after " << appends << ")";
    fs->Heal();
  }
  EXPECT_GE(fs->failed_appends(), 3);
  auto done = RunReplay(programs_, faulty);
  ASSERT_TRUE(done.ok()) << done.status();

  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_GT(read(root_ + "/clean.dlq").size(), 1000u);
  EXPECT_EQ(read(root_ + "/faulty.dlq"), read(root_ + "/clean.dlq"));
  EXPECT_EQ(read(root_ + "/faulty.outcomes"), read(root_ + "/clean.outcomes"));
}

}  // namespace
}  // namespace loyalty
