// File: tests/testing/faulty_fs.h
// A RocksDB FileSystemWrapper over real files that injects write failures and
// simulates a power loss, so that tests exercise RocksDB's and our error and
// recovery paths on a real store.
//
//   auto fs = std::make_shared<FaultyFileSystem>(rocksdb::FileSystem::Default());
//   std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
//   StoreOptions o;  o.env = env.get();
//   fs->FailWritesAfter(3);   // the 4th append from now fails, and all after it
//
// Power loss, after the LevelDB/RocksDB fault-injection environments:
//
//   ... write through a store opened with `env` ...
//   fs->Freeze();                       // the power goes: nothing more reaches disk
//   store.reset();                      // the process still shuts down; it writes nothing
//   LOYALTY_CHECK_OK(fs->SimulatePowerLoss());  // unsynced bytes are gone
//   ... reopen the store with `env` and check what survived ...
//
// What the power-loss simulation models:
//  - Bytes appended to a file opened for writing through this filesystem
//    (NewWritableFile, ReopenWritableFile, ReuseWritableFile) are durable only
//    once Sync() or Fsync() on that file has returned OK. RangeSync
//    (sync_file_range, which does not persist metadata), Flush and Close make
//    nothing durable. SimulatePowerLoss() truncates every such file to the
//    prefix that was durable; a file never synced becomes empty.
//  - Freeze() is the moment the power goes: from then on every write, sync,
//    truncation, file creation, rename, deletion and directory change through
//    this filesystem reports success and does nothing (NewRandomRWFile
//    fails), so the shutdown that follows (RocksDB's Close, destructors)
//    cannot persist more. Operations in flight when Freeze() is called
//    complete first; later ones are dropped. The process does not die: the
//    caller closes the store after Freeze(), and only then may cut the files.
//    (RocksDB 7.8's Close, WAL on, writes nothing anyway; other versions and
//    options may flush or sync there, which Freeze() makes harmless.)
// What it does not model:
//  - Directory entries: creations, renames and deletions done before Freeze()
//    are durable at once, as if every directory were fsynced immediately (a
//    real disk may lose a new file whose directory was not fsynced; RocksDB
//    does fsync its directories).
//  - Which unsynced bytes survive: the durable part is always exactly the
//    synced prefix. A real disk may keep any subset of the unsynced pages, in
//    any order, or garbage; no torn or reordered writes are simulated.
//  - Files not written through a writable file of this filesystem: files that
//    existed before it, NewRandomRWFile and LinkFile targets count as durable;
//    RocksDB's info LOG is written by the target filesystem directly and is
//    neither tracked nor frozen. Reads are never affected.
//  - A separate disk and page cache: the real files are cut, so every later
//    reader, in this process or another, sees what survived.
// File locks (LockFile/UnlockFile) always pass through: they belong to the
// process, and the store must be reopened in this process after the loss.
//
// Thread-safe.
#ifndef LOYALTY_TESTS_TESTING_FAULTY_FS_H_
#define LOYALTY_TESTS_TESTING_FAULTY_FS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "absl/status/status.h"
#include "rocksdb/file_system.h"

namespace loyalty::testing {

class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target)
      : rocksdb::FileSystemWrapper(target) {}

  const char* Name() const override { return "FaultyFileSystem"; }

  // After `n` more successful appends, every append fails with an IOError
  // until Heal(). n < 0 disables.
  void FailWritesAfter(int64_t n) { appends_left_.store(n); }
  void Heal() { appends_left_.store(-1); }
  int64_t failed_appends() const { return failed_.load(); }

  // The power goes: from now on writes, syncs and metadata changes through
  // this filesystem succeed without reaching the disk (see the file comment).
  // Waits for the operations in flight to finish.
  void Freeze();
  bool frozen() const { return frozen_.load(); }

  // The machine loses power and comes back: every tracked file still on disk
  // is truncated to the size it had at its last successful Sync/Fsync (zero
  // if never synced). Afterwards the filesystem is live again (no longer
  // frozen) and every file on disk counts as durable.
  // Without a Freeze() first, whatever the shutdown wrote and synced counts
  // (RocksDB's Close may write and sync).
  // REQUIRES: no file opened for writing through this filesystem is still
  // open (close the store first); FailedPrecondition otherwise. Unavailable
  // if a file cannot be truncated.
  absl::Status SimulatePowerLoss();

  // Bytes written through this filesystem and not durable yet.
  int64_t unsynced_bytes() const;
  // Bytes lost to power losses so far: appended while frozen, or cut off by
  // SimulatePowerLoss().
  int64_t lost_bytes() const { return lost_bytes_.load(); }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old_f,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& f, size_t size, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dst,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& dst,
                             const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& d, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override;

  // Consumes one append; false if it must fail.
  bool AllowAppend();

 private:
  class TrackedFile;
  class DiscardFile;

  // What this filesystem knows of one file written through it.
  struct FileState {
    uint64_t size = 0;         // bytes written (the end of the file)
    uint64_t synced_size = 0;  // the durable prefix
  };

  // Wraps `file`, just opened for writing at `path`, into `*r`, tracking its
  // bytes in `state`. REQUIRES: io_mu_ held shared.
  void Track(const std::string& path, std::shared_ptr<FileState> state,
             std::unique_ptr<rocksdb::FSWritableFile> file,
             std::unique_ptr<rocksdb::FSWritableFile>* r);
  void FileClosed();

  std::atomic<int64_t> appends_left_{-1};
  std::atomic<int64_t> failed_{0};

  // Held shared by every operation that may change the disk, exclusively by
  // Freeze() and SimulatePowerLoss(): an operation either completes before
  // the power goes or is dropped entirely.
  mutable std::shared_mutex io_mu_;
  std::atomic<bool> frozen_{false};
  std::atomic<int64_t> lost_bytes_{0};

  mutable std::mutex mu_;  // guards the fields below; never held across I/O
  // Tracked files by path. A deleted file's state leaves the map (an open
  // handle keeps it alive); a renamed one moves with it.
  std::map<std::string, std::shared_ptr<FileState>> files_;
  int64_t open_files_ = 0;  // writable files opened through us, not yet closed
};

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_FAULTY_FS_H_
