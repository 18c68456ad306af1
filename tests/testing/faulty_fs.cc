#include "tests/testing/faulty_fs.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace loyalty::testing {

using rocksdb::DataVerificationInfo;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// A file opened for writing while the power was on. Every call that may
// change the disk holds the filesystem's io_mu_ shared, and does nothing but
// report success once the filesystem is frozen.
class FaultyFileSystem::TrackedFile : public rocksdb::FSWritableFileWrapper {
 public:
  TrackedFile(std::unique_ptr<FSWritableFile> file, FaultyFileSystem* fs,
              std::shared_ptr<FileState> state)
      : rocksdb::FSWritableFileWrapper(file.get()),
        file_(std::move(file)),
        fs_(fs),
        state_(std::move(state)) {}

  // Releases the real file (which closes it if RocksDB did not) before the
  // filesystem stops counting it as open.
  ~TrackedFile() override {
    file_.reset();
    fs_->FileClosed();
  }

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    return Write(data.size(), std::nullopt, [&] { return target()->Append(data, o, dbg); });
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const DataVerificationInfo& info,
                  IODebugContext* dbg) override {
    return Write(data.size(), std::nullopt, [&] { return target()->Append(data, o, info, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            IODebugContext* dbg) override {
    return Write(data.size(), offset,
                 [&] { return target()->PositionedAppend(data, offset, o, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const DataVerificationInfo& info, IODebugContext* dbg) override {
    return Write(data.size(), offset,
                 [&] { return target()->PositionedAppend(data, offset, o, info, dbg); });
  }

  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* dbg) override {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) return IOStatus::OK();
    IOStatus s = target()->Truncate(size, o, dbg);
    if (s.ok()) {
      std::lock_guard lock(fs_->mu_);
      state_->size = size;
      state_->synced_size = std::min(state_->synced_size, size);
    }
    return s;
  }

  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Sync(o, dbg); });
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Fsync(o, dbg); });
  }
  // sync_file_range(2) persists no metadata: never counted as durable.
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& o,
                     IODebugContext* dbg) override {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) return IOStatus::OK();
    return target()->RangeSync(offset, nbytes, o, dbg);
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* dbg) override {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) return IOStatus::OK();
    return target()->Flush(o, dbg);
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& o,
                    IODebugContext* dbg) override {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) return IOStatus::OK();
    return target()->Allocate(offset, len, o, dbg);
  }
  void PrepareWrite(size_t offset, size_t len, const IOOptions& o, IODebugContext* dbg) override {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) return;
    target()->PrepareWrite(offset, len, o, dbg);
  }
  // Closing makes nothing durable. Frozen or not, the real file is closed so
  // that its descriptor is released; a frozen file's real size is what it
  // was at the freeze, since nothing after it reached the file.

 private:
  // Writes `n` bytes with `write`: appended, or at `offset`.
  IOStatus Write(size_t n, std::optional<uint64_t> offset, const std::function<IOStatus()>& write) {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) {
      fs_->lost_bytes_.fetch_add(static_cast<int64_t>(n));
      return IOStatus::OK();
    }
    if (!fs_->AllowAppend()) return IOStatus::IOError("injected write failure");
    IOStatus s = write();
    if (s.ok()) {
      std::lock_guard lock(fs_->mu_);
      state_->size =
          offset.has_value() ? std::max<uint64_t>(state_->size, *offset + n) : state_->size + n;
    }
    return s;
  }

  // Every byte written before `sync` starts is durable once it returns OK.
  IOStatus SyncWith(const std::function<IOStatus()>& sync) {
    std::shared_lock io(fs_->io_mu_);
    if (fs_->frozen_.load()) return IOStatus::OK();
    uint64_t covered = 0;
    {
      std::lock_guard lock(fs_->mu_);
      covered = state_->size;
    }
    IOStatus s = sync();
    if (s.ok()) {
      std::lock_guard lock(fs_->mu_);
      // A concurrent Truncate may have cut the file below `covered`.
      state_->synced_size = std::min(std::max(state_->synced_size, covered), state_->size);
    }
    return s;
  }

  std::unique_ptr<FSWritableFile> file_;
  FaultyFileSystem* fs_;
  std::shared_ptr<FileState> state_;
};

// A file opened for writing after the power went: nothing of it reaches the
// disk, not even its name.
class FaultyFileSystem::DiscardFile : public FSWritableFile {
 public:
  explicit DiscardFile(FaultyFileSystem* fs) : fs_(fs) {}

  IOStatus Append(const Slice& data, const IOOptions&, IODebugContext*) override {
    fs_->lost_bytes_.fetch_add(static_cast<int64_t>(data.size()));
    size_.fetch_add(data.size());
    return IOStatus::OK();
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions&,
                            IODebugContext*) override {
    fs_->lost_bytes_.fetch_add(static_cast<int64_t>(data.size()));
    uint64_t size = size_.load();
    while (size < offset + data.size() &&
           !size_.compare_exchange_weak(size, offset + data.size())) {
    }
    return IOStatus::OK();
  }
  IOStatus Truncate(uint64_t size, const IOOptions&, IODebugContext*) override {
    size_.store(size);
    return IOStatus::OK();
  }
  IOStatus Close(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Flush(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Sync(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  bool IsSyncThreadSafe() const override { return true; }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return size_.load(); }

 private:
  FaultyFileSystem* fs_;
  std::atomic<uint64_t> size_{0};
};

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

void FaultyFileSystem::Freeze() {
  std::unique_lock io(io_mu_);
  frozen_.store(true);
}

absl::Status FaultyFileSystem::SimulatePowerLoss() {
  std::unique_lock io(io_mu_);
  std::map<std::string, std::shared_ptr<FileState>> files;
  {
    std::lock_guard lock(mu_);
    if (open_files_ > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("power loss with ", open_files_,
                       " file(s) open for writing through the filesystem: close the store first"));
    }
    files.swap(files_);
  }
  for (const auto& [path, state] : files) {
    IOStatus s = target()->FileExists(path, IOOptions(), nullptr);
    if (s.IsNotFound()) continue;  // deleted behind our back
    uint64_t size = 0;
    if (s.ok()) s = target()->GetFileSize(path, IOOptions(), &size, nullptr);
    if (s.ok() && size > state->synced_size) {
      s = target()->Truncate(path, state->synced_size, IOOptions(), nullptr);
      if (s.IsNotSupported()) {  // RocksDB's POSIX filesystem has no Truncate
        std::error_code ec;
        std::filesystem::resize_file(path, state->synced_size, ec);
        s = ec ? IOStatus::IOError(ec.message()) : IOStatus::OK();
      }
      if (s.ok()) lost_bytes_.fetch_add(static_cast<int64_t>(size - state->synced_size));
    }
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("power loss: cannot cut ", path, ": ", s.ToString()));
    }
  }
  frozen_.store(false);
  return absl::OkStatus();
}

int64_t FaultyFileSystem::unsynced_bytes() const {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (const auto& [path, state] : files_) {
    if (state->size > state->synced_size)
      n += static_cast<int64_t>(state->size - state->synced_size);
  }
  return n;
}

void FaultyFileSystem::Track(const std::string& path, std::shared_ptr<FileState> state,
                             std::unique_ptr<FSWritableFile> file,
                             std::unique_ptr<FSWritableFile>* r) {
  {
    std::lock_guard lock(mu_);
    files_[path] = state;
    ++open_files_;
  }
  r->reset(new TrackedFile(std::move(file), this, std::move(state)));
}

void FaultyFileSystem::FileClosed() {
  std::lock_guard lock(mu_);
  --open_files_;
}

IOStatus FaultyFileSystem::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                           std::unique_ptr<FSWritableFile>* r,
                                           IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) {
    r->reset(new DiscardFile(this));
    return IOStatus::OK();
  }
  std::unique_ptr<FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(f, o, &file, dbg);
  if (s.ok()) Track(f, std::make_shared<FileState>(), std::move(file), r);
  return s;
}

IOStatus FaultyFileSystem::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                              std::unique_ptr<FSWritableFile>* r,
                                              IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) {
    r->reset(new DiscardFile(this));
    return IOStatus::OK();
  }
  uint64_t size = 0;
  if (!target()->GetFileSize(f, IOOptions(), &size, dbg).ok()) size = 0;  // a new file
  std::unique_ptr<FSWritableFile> file;
  IOStatus s = target()->ReopenWritableFile(f, o, &file, dbg);
  if (!s.ok()) return s;
  // Writing continues at the end: what is there keeps its durability.
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(f);
    if (it != files_.end()) {
      state = it->second;
      state->size = size;
      state->synced_size = std::min(state->synced_size, size);
    }
  }
  if (state == nullptr) {
    state = std::make_shared<FileState>();
    state->size = state->synced_size = size;
  }
  Track(f, std::move(state), std::move(file), r);
  return s;
}

IOStatus FaultyFileSystem::ReuseWritableFile(const std::string& f, const std::string& old_f,
                                             const rocksdb::FileOptions& o,
                                             std::unique_ptr<FSWritableFile>* r,
                                             IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) {
    r->reset(new DiscardFile(this));
    return IOStatus::OK();
  }
  std::unique_ptr<FSWritableFile> file;
  IOStatus s = target()->ReuseWritableFile(f, old_f, o, &file, dbg);
  if (!s.ok()) return s;
  // The old file, renamed, is overwritten from its start: conservatively
  // none of it is durable any more (a power loss cuts it to what is synced).
  {
    std::lock_guard lock(mu_);
    files_.erase(old_f);
  }
  Track(f, std::make_shared<FileState>(), std::move(file), r);
  return s;
}

IOStatus FaultyFileSystem::NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                           std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                           IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::IOError("FaultyFileSystem: the power is off");
  return target()->NewRandomRWFile(f, o, r, dbg);
}

IOStatus FaultyFileSystem::DeleteFile(const std::string& f, const IOOptions& o,
                                      IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  IOStatus s = target()->DeleteFile(f, o, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    files_.erase(f);
  }
  return s;
}

IOStatus FaultyFileSystem::Truncate(const std::string& f, size_t size, const IOOptions& o,
                                    IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  IOStatus s = target()->Truncate(f, size, o, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    auto it = files_.find(f);
    if (it != files_.end()) {
      it->second->size = size;
      it->second->synced_size = std::min<uint64_t>(it->second->synced_size, size);
    }
  }
  return s;
}

IOStatus FaultyFileSystem::RenameFile(const std::string& src, const std::string& dst,
                                      const IOOptions& o, IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  IOStatus s = target()->RenameFile(src, dst, o, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    auto it = files_.find(src);
    if (it == files_.end()) {
      files_.erase(dst);  // replaced by an untracked (durable) file
    } else {
      files_[dst] = std::move(it->second);
      files_.erase(src);
    }
  }
  return s;
}

IOStatus FaultyFileSystem::LinkFile(const std::string& src, const std::string& dst,
                                    const IOOptions& o, IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  return target()->LinkFile(src, dst, o, dbg);
}

IOStatus FaultyFileSystem::CreateDir(const std::string& d, const IOOptions& o,
                                     IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  return target()->CreateDir(d, o, dbg);
}

IOStatus FaultyFileSystem::CreateDirIfMissing(const std::string& d, const IOOptions& o,
                                              IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  return target()->CreateDirIfMissing(d, o, dbg);
}

IOStatus FaultyFileSystem::DeleteDir(const std::string& d, const IOOptions& o,
                                     IODebugContext* dbg) {
  std::shared_lock io(io_mu_);
  if (frozen_.load()) return IOStatus::OK();
  return target()->DeleteDir(d, o, dbg);
}

}  // namespace loyalty::testing
