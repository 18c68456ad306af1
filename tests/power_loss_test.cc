// Power loss: the FaultyFileSystem cuts every file written through it back to
// what was synced when the power went. A store written without synced writes
// loses the batches after its last WAL sync, and only those: it reopens at
// the offset of that sync, consistent, identical to a store that applied just
// that prefix. With synced writes (--durability=machine) it loses nothing.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/audit/audit.h"
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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("power_loss");
    programs_ = testing::WriteAndLoadTestPrograms(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Applies lines[from, to) in batches of kBatch, the line at index k with
  // offset k + 1.
  static absl::Status Feed(Partition* partition, const std::vector<std::string>& lines, size_t from,
                           size_t to) {
    for (size_t i = from; i < to; i += kBatch) {
      std::vector<InputRecord> records;
      for (size_t k = i; k < std::min(to, i + kBatch); ++k) {
        records.push_back({static_cast<int64_t>(k) + 1, lines[k]});
      }
      absl::Status s = partition->ApplyBatch(records, InputFormat::kJson, nullptr);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // The digest of a store that applied lines[0, n) with no fault.
  std::string CleanHash(const std::vector<std::string>& lines, size_t n) {
    const std::string dir = root_ + "/clean-" + std::to_string(n);
    {
      auto store = PartitionStore::Open(dir, StoreOptions());
      EXPECT_TRUE(store.ok()) << store.status();
      if (!store.ok()) return "";
      auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
      EXPECT_TRUE(partition.ok()) << partition.status();
      if (!partition.ok()) return "";
      absl::Status s = Feed(partition->get(), lines, 0, n);
      EXPECT_TRUE(s.ok()) << s;
    }
    return testing::HashPartitionStore(dir);
  }

  std::string root_;
  ProgramSet programs_;
};

// The filesystem alone: what is cut, what is dropped while frozen.
// Long on purpose: one scenario read top to bottom.
TEST_F(PowerLossTest, CutsFilesToTheirSyncedSizeAndDropsEverythingWhileFrozen) {
  auto fs = std::make_shared<testing::FaultyFileSystem>(rocksdb::FileSystem::Default());
  const rocksdb::IOOptions io;
  auto open = [&](const std::string& name) {
    std::unique_ptr<rocksdb::FSWritableFile> f;
    EXPECT_TRUE(fs->NewWritableFile(root_ + "/" + name, rocksdb::FileOptions(), &f, nullptr).ok());
    return f;
  };
  auto append = [&](rocksdb::FSWritableFile* f, const std::string& data) {
    ASSERT_TRUE(f->Append(data, io, nullptr).ok());
    ASSERT_TRUE(f->Flush(io, nullptr).ok());
  };
  auto exists = [&](const std::string& name) {
    return std::filesystem::exists(root_ + "/" + name);
  };

  auto a = open("a");
  append(a.get(), "durable");
  ASSERT_TRUE(a->Sync(io, nullptr).ok());
  append(a.get(), "+unsynced");
  ASSERT_TRUE(a->RangeSync(0, 16, io, nullptr).ok());  // makes nothing durable
  ASSERT_TRUE(a->Close(io, nullptr).ok());             // neither does closing
  a.reset();
  auto b = open("b");
  append(b.get(), "never synced");
  ASSERT_TRUE(b->Close(io, nullptr).ok());
  b.reset();
  auto c = open("c");
  append(c.get(), "synced");
  ASSERT_TRUE(c->Fsync(io, nullptr).ok());
  append(c.get(), "+before the freeze");
  EXPECT_EQ(fs->unsynced_bytes(), 9 + 12 + 18);

  // The power goes with `c` open.
  fs->Freeze();
  EXPECT_TRUE(fs->frozen());
  append(c.get(), "+while frozen");
  ASSERT_TRUE(c->Sync(io, nullptr).ok());
  auto d = open("d");
  append(d.get(), "created while frozen");
  ASSERT_TRUE(d->Sync(io, nullptr).ok());
  ASSERT_TRUE(d->Close(io, nullptr).ok());
  d.reset();
  ASSERT_TRUE(fs->DeleteFile(root_ + "/a", io, nullptr).ok());
  ASSERT_TRUE(fs->RenameFile(root_ + "/b", root_ + "/e", io, nullptr).ok());
  EXPECT_EQ(ReadFile(root_ + "/c"), "synced+before the freeze");  // not cut yet
  EXPECT_FALSE(exists("d"));
  EXPECT_TRUE(exists("a"));
  EXPECT_FALSE(exists("e"));

  // A file still open would be written after the cut: refused.
  absl::Status s = fs->SimulatePowerLoss();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  ASSERT_TRUE(c->Close(io, nullptr).ok());
  c.reset();
  s = fs->SimulatePowerLoss();
  ASSERT_TRUE(s.ok()) << s;

  EXPECT_FALSE(fs->frozen());
  EXPECT_EQ(ReadFile(root_ + "/a"), "durable");
  EXPECT_EQ(ReadFile(root_ + "/b"), "");
  EXPECT_TRUE(exists("b"));  // its creation is durable (directories are not modelled)
  EXPECT_EQ(ReadFile(root_ + "/c"), "synced");
  EXPECT_FALSE(exists("d"));
  EXPECT_FALSE(exists("e"));
  EXPECT_EQ(fs->lost_bytes(), 9 + 12 + 18 + 13 + 20);
  EXPECT_EQ(fs->unsynced_bytes(), 0);

  // The power is back: writes reach the disk again, and what is on it now
  // counts as durable.
  auto f = open("f");
  append(f.get(), "after");
  ASSERT_TRUE(f->Close(io, nullptr).ok());
  f.reset();
  EXPECT_EQ(ReadFile(root_ + "/f"), "after");
  ASSERT_TRUE(fs->SimulatePowerLoss().ok());
  EXPECT_EQ(ReadFile(root_ + "/f"), "");
  EXPECT_EQ(ReadFile(root_ + "/c"), "synced");
}

// Long on purpose: one scenario (write, cut the power, reopen, check) read
// top to bottom.
TEST_F(PowerLossTest, UnsyncedBatchesAreLostAndSyncedOnesSurvive) {
  const uint64_t seed = testing::TestSeed(7);
  SCOPED_TRACE(testing::Seeded(seed));
  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = 3'000;
  g.members = 200;
  const std::vector<std::string> lines = testing::GenerateStream(g).lines;
  const size_t batches = (lines.size() + kBatch - 1) / kBatch;
  ASSERT_GE(batches, 4u);
  // The WAL is synced once, after a seeded number of batches; more follow.
  const size_t synced_lines = kBatch * (1 + (seed * 2654435761u) % (batches - 2));
  SCOPED_TRACE("WAL synced after " + std::to_string(synced_lines) + " of " +
               std::to_string(lines.size()) + " lines");
  const int64_t end = static_cast<int64_t>(lines.size()) + 1;  // next_offset when all applied

  const std::string dir = root_ + "/faulty";
  auto fs = std::make_shared<testing::FaultyFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  StoreOptions options;
  options.env = env.get();

  // 1. Writes not synced (--durability=process): the power goes after the
  // whole stream is applied, but only the WAL sync made anything durable.
  options.sync_writes = false;
  {
    auto store = PartitionStore::Open(dir, options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
    ASSERT_TRUE(partition.ok()) << partition.status();
    ASSERT_TRUE(Feed(partition->get(), lines, 0, synced_lines).ok());
    ASSERT_TRUE((*store)->db()->SyncWAL().ok());
    ASSERT_TRUE(Feed(partition->get(), lines, synced_lines, lines.size()).ok());
    EXPECT_EQ((*partition)->next_offset(), end);
    EXPECT_GT(fs->unsynced_bytes(), 0);
    fs->Freeze();
  }  // the process shuts down cleanly after the power went: nothing reaches the disk
  const int64_t lost_before = fs->lost_bytes();
  absl::Status lost = fs->SimulatePowerLoss();
  ASSERT_TRUE(lost.ok()) << lost;
  std::fprintf(stderr, "power_loss: unsynced writes: %lld bytes lost (%lld dropped while frozen)\n",
               static_cast<long long>(fs->lost_bytes()), static_cast<long long>(lost_before));
  EXPECT_GT(fs->lost_bytes(), 0);
  {
    auto store = PartitionStore::Open(dir, options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
    ASSERT_TRUE(partition.ok()) << partition.status();
    // Behind what was applied: the unsynced batches are gone, all of them,
    // and only them.
    EXPECT_LT((*partition)->next_offset(), end);
    EXPECT_EQ((*partition)->next_offset(), static_cast<int64_t>(synced_lines) + 1);
    auto report = VerifyStore(store->get());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  }
  EXPECT_EQ(testing::HashPartitionStore(dir), CleanHash(lines, synced_lines))
      << "the survivor is not the state of the synced prefix";

  // 2. Synced writes (--durability=machine): the stream is fed again from
  // the start (applied records are skipped) and the power goes at the end.
  options.sync_writes = true;
  const int64_t lost_after_first = fs->lost_bytes();
  {
    auto store = PartitionStore::Open(dir, options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
    ASSERT_TRUE(partition.ok()) << partition.status();
    ASSERT_TRUE(Feed(partition->get(), lines, 0, lines.size()).ok());
    EXPECT_EQ((*partition)->next_offset(), end);
    fs->Freeze();
  }
  lost = fs->SimulatePowerLoss();
  ASSERT_TRUE(lost.ok()) << lost;
  std::fprintf(stderr, "power_loss: synced writes: %lld bytes lost\n",
               static_cast<long long>(fs->lost_bytes() - lost_after_first));
  {
    auto store = PartitionStore::Open(dir, options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto partition = Partition::Open(&programs_, store->get(), PartitionOptions());
    ASSERT_TRUE(partition.ok()) << partition.status();
    EXPECT_EQ((*partition)->next_offset(), end) << "a synced batch was lost";
    auto report = VerifyStore(store->get());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  }
  EXPECT_EQ(testing::HashPartitionStore(dir), CleanHash(lines, lines.size()));
}

}  // namespace
}  // namespace loyalty
