// Backups of partition stores: what they cover, that they are incremental,
// consistent while the store is written, pruned, locked, and restored in
// place.
#include "engine/store/backup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/backup-test-" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

// Writes batches [from, to) into `store`: batch i sets next_offset i + 1 and
// a caller key "n" = i + 1 in the same write, plus `value_bytes` of payload
// under its own key.
void WriteBatches(PartitionStore* store, int from, int to, size_t value_bytes = 64) {
  StoreBatch b(store);
  for (int i = from; i < to; ++i) {
    // Incompressible bytes, so that sizes on disk are the values' sizes.
    std::string payload(value_bytes, '\0');
    uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1);
    for (char& c : payload) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      c = static_cast<char>(x >> 56);
    }
    b.PutCaller(absl::StrCat("payload-", i), payload);
    b.PutCallerInt("n", i + 1);
    b.SetNextOffset(i + 1);
    b.SetNextSeq(2 * i + 1);
    ASSERT_TRUE(store->Write(&b).ok());
  }
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    options_.backup_dir = root_ + "/backups";
    options_.taken_by = "test-host";
    options_.engine_version = "9.9.9";
    auto store = PartitionStore::Open(PartitionDir(root_ + "/data", 3), StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->SetSource(InputSource::Kafka("events")).ok());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  absl::StatusOr<BackupInfo> Backup() {
    return BackupPartition(store_.get(), 3, root_ + "/data/.backup-p-0003", options_);
  }

  std::string root_;
  BackupOptions options_;
  std::unique_ptr<PartitionStore> store_;
};

TEST_F(BackupTest, RecordsWhatItCoversAndRestoresIt) {
  WriteBatches(store_.get(), 0, 100);
  {
    AppliedProgramVersion v;
    v.program_id = "cafe";
    v.version = "2030";
    v.hash = std::string(64, 'a');
    v.effective_from = "2029-12-31T23:00:00Z";
    v.effective_from_ns = 1893452400LL * 1'000'000'000;
    StoreBatch b(store_.get());
    b.RecordProgramVersion(v);
    ASSERT_TRUE(store_->Write(&b).ok());
  }
  auto b = Backup();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->partition, 3);
  EXPECT_EQ(b->meta.partition(), 3);
  EXPECT_EQ(b->meta.next_offset(), 100);
  EXPECT_EQ(b->meta.next_seq(), 199);
  EXPECT_EQ(b->meta.source(), "kafka:events");
  EXPECT_EQ(b->meta.taken_by(), "test-host");
  EXPECT_EQ(b->meta.engine_version(), "9.9.9");
  ASSERT_EQ(b->meta.program_versions_size(), 1);
  EXPECT_EQ(b->meta.program_versions(0).program_id(), "cafe");
  EXPECT_EQ(b->meta.program_versions(0).version(), "2030");
  EXPECT_EQ(b->meta.program_versions(0).hash(), std::string(64, 'a'));
  EXPECT_EQ(b->meta.program_versions(0).effective_from(), "2029-12-31T23:00:00Z");
  EXPECT_GT(b->size_bytes, 0u);
  EXPECT_FALSE(fs::exists(root_ + "/data/.backup-p-0003")) << "the staging checkpoint is left";
  // The store goes on; the restore gives the state at the backup.
  WriteBatches(store_.get(), 100, 150);
  auto r = RestorePartition(options_.backup_dir, 3, 0, root_ + "/elsewhere/p-0003");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, b->id);
  auto restored = OpenPartitionReadOnly(root_ + "/elsewhere/p-0003");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*(*restored)->GetNextOffset(), 100);
  EXPECT_EQ(**(*restored)->GetCallerInt("n"), 100);
  EXPECT_EQ(**(*restored)->GetSource(), InputSource::Kafka("events"));
  EXPECT_TRUE((*(*restored)->GetCaller("payload-99")).has_value());
  EXPECT_FALSE((*(*restored)->GetCaller("payload-100")).has_value());
}

TEST_F(BackupTest, LaterBackupsCopyOnlyWhatIsNew) {
  // About 4 MB of values, then a few more batches.
  WriteBatches(store_.get(), 0, 400, 10'000);
  ASSERT_TRUE(Backup().ok());
  const uint64_t first = DirBytes(options_.backup_dir);
  ASSERT_GT(first, 3'000'000u);
  WriteBatches(store_.get(), 400, 410, 10'000);
  auto second = Backup();
  ASSERT_TRUE(second.ok()) << second.status();
  const uint64_t added = DirBytes(options_.backup_dir) - first;
  EXPECT_LT(added, first / 4) << "the second backup copied " << added << " bytes of " << first;
  EXPECT_GT(second->size_bytes, first * 9 / 10) << "it still refers to the shared files";
  auto list = ListBackups(options_.backup_dir, 3);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].meta.next_offset(), 400);
  EXPECT_EQ((*list)[1].meta.next_offset(), 410);
}

TEST_F(BackupTest, ConsistentWhileTheStoreIsWritten) {
  // Every backup, taken while a writer goes on, is one point in time: its
  // offset and the caller key written in the same batch agree.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    while (!stop.load()) {
      WriteBatches(store_.get(), i, i + 10, 2'000);
      i += 10;
    }
  });
  std::vector<BackupInfo> taken;
  for (int k = 0; k < 4; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    auto b = Backup();
    ASSERT_TRUE(b.ok()) << b.status();
    taken.push_back(*b);
  }
  stop = true;
  writer.join();
  for (const BackupInfo& b : taken) {
    const std::string dir = root_ + "/restored-" + std::to_string(b.id) + "/p-0003";
    auto r = RestorePartition(options_.backup_dir, 3, b.id, dir);
    ASSERT_TRUE(r.ok()) << r.status();
    auto s = OpenPartitionReadOnly(dir);
    ASSERT_TRUE(s.ok()) << s.status();
    const int64_t next = *(*s)->GetNextOffset();
    EXPECT_EQ(next, b.meta.next_offset()) << "backup " << b.id;
    EXPECT_EQ(**(*s)->GetCallerInt("n"), next) << "backup " << b.id << " is torn";
  }
  EXPECT_LT(taken.front().meta.next_offset(), taken.back().meta.next_offset());
}

TEST_F(BackupTest, PrunesToTheKeptNumberAndRestoresTheNewest) {
  options_.backups_kept = 2;
  for (int k = 1; k <= 3; ++k) {
    WriteBatches(store_.get(), (k - 1) * 10, k * 10);
    ASSERT_TRUE(Backup().ok());
  }
  auto list = ListBackups(options_.backup_dir, 3);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].meta.next_offset(), 20);
  EXPECT_EQ((*list)[1].meta.next_offset(), 30);
  auto newest = NewestBackup(options_.backup_dir, 3);
  ASSERT_TRUE(newest.ok() && newest->has_value());
  EXPECT_EQ((*newest)->meta.next_offset(), 30);
  EXPECT_EQ(*ListBackedUpPartitions(options_.backup_dir), std::vector<int32_t>{3});
  EXPECT_FALSE((*NewestBackup(options_.backup_dir, 4)).has_value());
  // A restore replaces what is in the way.
  const std::string dir = root_ + "/other/p-0003";
  {
    auto old = PartitionStore::Open(dir, StoreOptions());
    ASSERT_TRUE(old.ok());
    WriteBatches(old->get(), 0, 5);
  }
  ASSERT_TRUE(RestorePartition(options_.backup_dir, 3, 0, dir).ok());
  EXPECT_EQ(*(*OpenPartitionReadOnly(dir))->GetNextOffset(), 30);
  EXPECT_FALSE(fs::exists(dir + ".restoring"));
  auto missing = RestorePartition(options_.backup_dir, 3, 1, dir);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "no backup 1"));
}

TEST_F(BackupTest, WaitsForAnotherProcesssBackupThenGivesUpNamingIt) {
  WriteBatches(store_.get(), 0, 10);
  ASSERT_TRUE(Backup().ok());  // creates the directory and its lock file
  const std::string lock = PartitionBackupDir(options_.backup_dir, 3) + ".lock";
  const int fd = ::open(lock.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  options_.lock_wait_ms = 300;
  auto b = Backup();
  EXPECT_TRUE(absl::IsUnavailable(b.status())) << b.status();
  EXPECT_TRUE(absl::StrContains(b.status().message(), lock)) << b.status();
  ::close(fd);
  EXPECT_TRUE(Backup().ok());
}

TEST_F(BackupTest, ABackupOfAStoreAnotherProcessHolds) {
  WriteBatches(store_.get(), 0, 20);
  // store_ stays open read-write, as a running engine holds it.
  auto b = BackupPartitionDir(PartitionDir(root_ + "/data", 3), 3, root_ + "/staging", options_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->meta.next_offset(), 20);
}

}  // namespace
}  // namespace loyalty
