#include "engine/store/backup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "google/protobuf/util/json_util.h"
#include "rocksdb/utilities/backup_engine.h"

namespace loyalty {
namespace {

namespace fs = std::filesystem;

// flock on <backup_dir>/p-NNNN.lock, held for the object's life: exclusive
// while a backup is made and pruned, shared while one is restored.
class BackupLock {
 public:
  static absl::StatusOr<std::unique_ptr<BackupLock>> Take(const std::string& path, bool exclusive,
                                                          int wait_ms) {
    const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": cannot open the backup lock: ", std::strerror(errno)));
    }
    auto lock = std::unique_ptr<BackupLock>(new BackupLock(fd));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, ": cannot lock (the backup directory must support flock): ",
            std::strerror(errno)));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::UnavailableError(absl::StrCat(
            path, ": another process has held this partition's backups for over ", wait_ms / 1000,
            " s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return lock;
  }
  ~BackupLock() { ::close(fd_); }  // closing releases the lock

 private:
  explicit BackupLock(int fd) : fd_(fd) {}
  int fd_;
};

rocksdb::BackupEngineOptions EngineOptions(const std::string& dir) {
  rocksdb::BackupEngineOptions o(dir);
  // Table files are shared between backups, named by their checksum, size
  // and session id: a backup copies only what earlier ones lack.
  o.share_table_files = true;
  o.share_files_with_checksum = true;
  o.sync = true;
  o.max_background_operations = 1;
  return o;
}

absl::Status FromIo(const rocksdb::IOStatus& s, absl::string_view what) {
  return FromRocks(rocksdb::Status(s), what);
}

absl::StatusOr<BackupInfo> InfoOf(int32_t partition, const rocksdb::BackupInfo& b,
                                  const std::string& dir) {
  BackupInfo info;
  info.partition = partition;
  info.id = b.backup_id;
  info.created_unix_s = b.timestamp;
  info.size_bytes = b.size;
  info.files = b.number_files;
  const auto s = google::protobuf::util::JsonStringToMessage(b.app_metadata, &info.meta);
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat(dir, ": backup ", b.backup_id,
                                            " has unreadable metadata: ", s.ToString()));
  }
  return info;
}

// What `store` (a checkpoint nobody writes) covers.
absl::StatusOr<loyalty::v1::BackupMetadata> MetadataOf(PartitionStore* store, int32_t partition,
                                                       const BackupOptions& options) {
  LOYALTY_ASSIGN_OR_RETURN(PartitionMeta meta, store->ReadMeta({}));
  LOYALTY_ASSIGN_OR_RETURN(std::optional<InputSource> source, store->GetSource());
  loyalty::v1::BackupMetadata m;
  m.set_partition(partition);
  m.set_next_offset(meta.next_offset);
  m.set_next_seq(meta.next_seq);
  m.set_published_through(meta.published_through);
  if (source.has_value()) m.set_source(source->Encode());
  m.set_taken_by(options.taken_by);
  m.set_engine_version(options.engine_version);
  LOYALTY_ASSIGN_OR_RETURN(std::vector<AppliedProgramVersion> versions, store->AppliedVersions());
  for (const AppliedProgramVersion& v : versions) {
    loyalty::v1::BackupProgramVersion* b = m.add_program_versions();
    b->set_program_id(v.program_id);
    b->set_version(v.version);
    b->set_hash(v.hash);
    b->set_effective_from(v.effective_from);
  }
  return m;
}

// Backs up the checkpoint in `staging_dir`, prunes, and removes the
// checkpoint.
absl::StatusOr<BackupInfo> BackupCheckpoint(const std::string& staging_dir, int32_t partition,
                                            const BackupOptions& options) {
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{staging_dir};
  const std::string dir = PartitionBackupDir(options.backup_dir, partition);
  LOYALTY_RETURN_IF_ERROR(MakeDirectory(options.backup_dir));
  StoreOptions so;
  so.create_if_missing = false;
  // The checkpoint is opened only to be read and flushed: a small budget.
  so.resources = StoreResources::Create(size_t{8} << 20, size_t{64} << 20);
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<PartitionStore> store,
                           PartitionStore::Open(staging_dir, so));
  LOYALTY_ASSIGN_OR_RETURN(loyalty::v1::BackupMetadata meta,
                           MetadataOf(store.get(), partition, options));
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  LOYALTY_CHECK(google::protobuf::util::MessageToJsonString(meta, &json, print).ok());

  LOYALTY_ASSIGN_OR_RETURN(auto lock, BackupLock::Take(dir + ".lock", /*exclusive=*/true,
                                                       options.lock_wait_ms));
  rocksdb::BackupEngine* raw = nullptr;
  LOYALTY_RETURN_IF_ERROR(FromIo(
      rocksdb::BackupEngine::Open(EngineOptions(dir), rocksdb::Env::Default(), &raw),
      absl::StrCat("open the backups of partition ", partition, " in ", dir)));
  std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = true;  // table files only: nothing to replay from a WAL
  rocksdb::BackupID id = 0;
  LOYALTY_RETURN_IF_ERROR(
      FromIo(engine->CreateNewBackupWithMetadata(create, store->db(), json, &id),
             absl::StrCat("back up partition ", partition, " into ", dir)));
  if (options.backups_kept > 0) {
    LOYALTY_RETURN_IF_ERROR(
        FromIo(engine->PurgeOldBackups(static_cast<uint32_t>(options.backups_kept)),
               absl::StrCat("prune the backups of partition ", partition, " in ", dir)));
  }
  rocksdb::BackupInfo b;
  LOYALTY_RETURN_IF_ERROR(FromRocks(engine->GetBackupInfo(id, &b),
                                    absl::StrCat("read backup ", id, " in ", dir)));
  return InfoOf(partition, b, dir);
}

}  // namespace

std::string PartitionBackupDir(const std::string& backup_dir, int32_t partition) {
  return PartitionDir(backup_dir, partition);
}

absl::StatusOr<BackupInfo> BackupPartition(PartitionStore* store, int32_t partition,
                                           const std::string& staging_dir,
                                           const BackupOptions& options) {
  if (options.backup_dir.empty()) return absl::InvalidArgumentError("backup_dir is required");
  std::error_code ec;
  fs::remove_all(staging_dir, ec);  // a checkpoint left by a crash
  LOYALTY_RETURN_IF_ERROR(store->Checkpoint(staging_dir));
  return BackupCheckpoint(staging_dir, partition, options);
}

absl::StatusOr<BackupInfo> BackupPartitionDir(const std::string& partition_dir,
                                              int32_t partition, const std::string& staging_dir,
                                              const BackupOptions& options) {
  if (options.backup_dir.empty()) return absl::InvalidArgumentError("backup_dir is required");
  std::error_code ec;
  fs::remove_all(staging_dir, ec);
  LOYALTY_RETURN_IF_ERROR(CheckpointPartition(partition_dir, staging_dir).status());
  return BackupCheckpoint(staging_dir, partition, options);
}

absl::StatusOr<std::vector<BackupInfo>> ListBackups(const std::string& backup_dir,
                                                    int32_t partition) {
  const std::string dir = PartitionBackupDir(backup_dir, partition);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::vector<BackupInfo>();
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  LOYALTY_RETURN_IF_ERROR(FromIo(
      rocksdb::BackupEngineReadOnly::Open(EngineOptions(dir), rocksdb::Env::Default(), &raw),
      absl::StrCat("open the backups of partition ", partition, " in ", dir)));
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw);
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  std::vector<BackupInfo> out;
  for (const rocksdb::BackupInfo& b : infos) {
    LOYALTY_ASSIGN_OR_RETURN(BackupInfo info, InfoOf(partition, b, dir));
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const BackupInfo& a, const BackupInfo& b) { return a.id < b.id; });
  return out;
}

absl::StatusOr<std::vector<int32_t>> ListBackedUpPartitions(const std::string& backup_dir) {
  return ListPartitions(backup_dir);
}

absl::StatusOr<std::optional<BackupInfo>> NewestBackup(const std::string& backup_dir,
                                                       int32_t partition) {
  LOYALTY_ASSIGN_OR_RETURN(std::vector<BackupInfo> all, ListBackups(backup_dir, partition));
  std::optional<BackupInfo> best;
  for (BackupInfo& b : all) {
    if (!best.has_value() || b.meta.next_offset() > best->meta.next_offset() ||
        (b.meta.next_offset() == best->meta.next_offset() && b.id > best->id)) {
      best = std::move(b);
    }
  }
  return best;
}

absl::StatusOr<std::optional<BackupInfo>> BackupAhead(const std::string& backup_dir,
                                                      int32_t partition, int64_t next_offset,
                                                      const std::string& source) {
  LOYALTY_ASSIGN_OR_RETURN(std::optional<BackupInfo> newest, NewestBackup(backup_dir, partition));
  if (!newest.has_value() || newest->meta.next_offset() <= next_offset) {
    return std::optional<BackupInfo>();
  }
  LOYALTY_RETURN_IF_ERROR(CheckBackupSource(*newest, source));
  return newest;
}

absl::Status CheckBackupSource(const BackupInfo& backup, const std::string& source) {
  if (backup.meta.source().empty() || backup.meta.source() == source) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "partition ", backup.partition, ": backup ", backup.id, " is of input ",
      backup.meta.source(), ", not ", source, ": point --backup-dir at this input's backups"));
}

absl::StatusOr<BackupInfo> RestorePartition(const std::string& backup_dir, int32_t partition,
                                            uint32_t backup_id, const std::string& partition_dir) {
  const std::string dir = PartitionBackupDir(backup_dir, partition);
  LOYALTY_ASSIGN_OR_RETURN(auto lock,
                           BackupLock::Take(dir + ".lock", /*exclusive=*/false, 120'000));
  std::optional<BackupInfo> chosen;
  if (backup_id == 0) {
    LOYALTY_ASSIGN_OR_RETURN(chosen, NewestBackup(backup_dir, partition));
  } else {
    LOYALTY_ASSIGN_OR_RETURN(std::vector<BackupInfo> all, ListBackups(backup_dir, partition));
    for (BackupInfo& b : all) {
      if (b.id == backup_id) chosen = std::move(b);
    }
  }
  if (!chosen.has_value()) {
    return absl::NotFoundError(
        backup_id == 0
            ? absl::StrCat(dir, ": partition ", partition, " has no backup")
            : absl::StrCat(dir, ": partition ", partition, " has no backup ", backup_id));
  }
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  LOYALTY_RETURN_IF_ERROR(FromIo(
      rocksdb::BackupEngineReadOnly::Open(EngineOptions(dir), rocksdb::Env::Default(), &raw),
      absl::StrCat("open the backups of partition ", partition, " in ", dir)));
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw);
  const std::string restoring = partition_dir + ".restoring";
  std::error_code ec;
  fs::remove_all(restoring, ec);
  LOYALTY_RETURN_IF_ERROR(MakeDirectory(restoring));
  LOYALTY_RETURN_IF_ERROR(FromIo(
      engine->RestoreDBFromBackup(rocksdb::RestoreOptions(), chosen->id, restoring, restoring),
      absl::StrCat("restore backup ", chosen->id, " of partition ", partition, " from ", dir,
                   " into ", restoring)));
  fs::remove_all(partition_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat(partition_dir, ": cannot remove the old store: ", ec.message()));
  }
  fs::rename(restoring, partition_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("rename ", restoring, " to ", partition_dir, ": ", ec.message()));
  }
  return *chosen;
}

}  // namespace loyalty
