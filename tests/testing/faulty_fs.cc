#include "tests/testing/faulty_fs.h"

namespace loyalty::testing {
namespace {

class FaultyFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyFile(std::unique_ptr<rocksdb::FSWritableFile> f, FaultyFileSystem* fs)
      : rocksdb::FSWritableFileOwnerWrapper(std::move(f)), fs_(fs) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (!fs_->AllowAppend()) return rocksdb::IOStatus::IOError("injected write failure");
    return rocksdb::FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (!fs_->AllowAppend()) return rocksdb::IOStatus::IOError("injected write failure");
    return rocksdb::FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
  }

 private:
  FaultyFileSystem* fs_;
};

}  // namespace

bool FaultyFileSystem::AllowAppend() {
  int64_t left = appends_left_.load();
  while (left > 0 && !appends_left_.compare_exchange_weak(left, left - 1)) {
  }
  if (left == 0) {
    failed_.fetch_add(1);
    return false;
  }
  return true;
}

rocksdb::IOStatus FaultyFileSystem::NewWritableFile(const std::string& f,
                                                    const rocksdb::FileOptions& o,
                                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                                    rocksdb::IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = target()->NewWritableFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FaultyFile(std::move(file), this));
  return s;
}

}  // namespace loyalty::testing
