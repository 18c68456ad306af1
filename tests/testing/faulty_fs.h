// File: tests/testing/faulty_fs.h
// A RocksDB FileSystemWrapper that injects write failures into real files,
// so that tests exercise RocksDB's and our error paths on a real store.
//
//   auto fs = std::make_shared<FaultyFileSystem>(rocksdb::FileSystem::Default());
//   std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
//   StoreOptions o;  o.env = env.get();
//   fs->FailWritesAfter(3);   // the 4th append from now fails, and all after it
//
// Thread-safe.
#ifndef LOYALTY_TESTS_TESTING_FAULTY_FS_H_
#define LOYALTY_TESTS_TESTING_FAULTY_FS_H_

#include <atomic>
#include <cstdint>
#include <memory>

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

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;

  // Consumes one append; false if it must fail.
  bool AllowAppend();

 private:
  std::atomic<int64_t> appends_left_{-1};
  std::atomic<int64_t> failed_{0};
};

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_FAULTY_FS_H_
