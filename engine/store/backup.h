// File: engine/store/backup.h
// Incremental backups of partition stores (SPEC §10), with RocksDB's
// BackupEngine: partition p's backups live in <backup_dir>/p-NNNN, their
// table files shared between backups (a backup copies only the files the
// previous ones lack), each with a BackupMetadata (proto/loyalty/v1/backup.proto)
// saying which input offset it continues from.
//
//   BackupOptions o;  o.backup_dir = "/mnt/backups";
//   LOYALTY_ASSIGN_OR_RETURN(BackupInfo b, BackupPartition(store, 7, staging, o));
//   ...on another host, with no store for partition 7:
//   LOYALTY_ASSIGN_OR_RETURN(BackupInfo r, RestorePartition("/mnt/backups", 7, 0, dir + "/p-0007"));
//   // then re-apply the input from r.meta.next_offset()
//
// A backup is taken from a checkpoint (hard links of the store's files, at
// one point in time) rather than from the live store, so that the writer
// never waits for it and its metadata is read from exactly what was
// backed up. Processes on several hosts may share one backup directory:
// a partition's directory is locked (flock on <backup_dir>/p-NNNN.lock)
// while a backup is made or pruned (exclusive) and while one is restored
// (shared). The directory must support flock (local disks, NFSv4 do).
//
// Thread-safety: the functions may run concurrently for different
// partitions; for one partition, the lock serialises them.
#ifndef LOYALTY_ENGINE_STORE_BACKUP_H_
#define LOYALTY_ENGINE_STORE_BACKUP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/store/store.h"
#include "loyalty/v1/backup.pb.h"

namespace loyalty {

struct BackupOptions {
  // Where backups go; partition p's in <backup_dir>/p-NNNN. Required.
  std::string backup_dir;
  // Backups kept per partition: after each backup, older ones beyond this
  // many are deleted (files still shared with a kept one stay). Default: 8.
  int backups_kept = 8;
  // How long to wait for another process's backup of the same partition
  // before failing with Unavailable. Default: 120 s.
  int lock_wait_ms = 120'000;
  // Recorded in the metadata: who took the backup, and its version.
  std::string taken_by;
  std::string engine_version;
};

// One backup of one partition.
struct BackupInfo {
  int32_t partition = 0;
  uint32_t id = 0;             // BackupEngine's id, ascending per partition
  int64_t created_unix_s = 0;  // host clock when it was taken (a listing only)
  uint64_t size_bytes = 0;     // the files this backup refers to (shared ones included)
  uint32_t files = 0;
  loyalty::v1::BackupMetadata meta;
};

// Backs up `store` (partition `partition`, open read-write, possibly being
// written by its worker): a checkpoint into `staging_dir` (which must be on
// the store's file system, and is removed afterwards), then a backup of
// that checkpoint, then pruning to options.backups_kept. Returns the new
// backup. Errors name the partition and the path.
absl::StatusOr<BackupInfo> BackupPartition(PartitionStore* store, int32_t partition,
                                           const std::string& staging_dir,
                                           const BackupOptions& options);

// The same for a store that another process (a running engine) may hold:
// CheckpointPartition's consistent read-only copy into `staging_dir`.
absl::StatusOr<BackupInfo> BackupPartitionDir(const std::string& partition_dir,
                                              int32_t partition, const std::string& staging_dir,
                                              const BackupOptions& options);

// Partition p's backups, oldest first; empty if it has none.
absl::StatusOr<std::vector<BackupInfo>> ListBackups(const std::string& backup_dir,
                                                    int32_t partition);
// The partitions with a backup directory under `backup_dir`, ascending.
absl::StatusOr<std::vector<int32_t>> ListBackedUpPartitions(const std::string& backup_dir);
// The backup a restore would use: the one that continues from the largest
// input offset (the newest, unless an operator restored an older one and
// backups went on from there); nullopt if the partition has none.
absl::StatusOr<std::optional<BackupInfo>> NewestBackup(const std::string& backup_dir,
                                                       int32_t partition);

// OK if `backup` is of input `source` (InputSource::Encode()) or records
// none; FailedPrecondition naming both otherwise.
absl::Status CheckBackupSource(const BackupInfo& backup, const std::string& source);

// The newest backup of `partition` if it continues from further than
// `next_offset` (a store's), else nullopt. FailedPrecondition if that
// backup is of another input than `source` (InputSource::Encode()).
absl::StatusOr<std::optional<BackupInfo>> BackupAhead(const std::string& backup_dir,
                                                      int32_t partition, int64_t next_offset,
                                                      const std::string& source);

// Restores backup `backup_id` of partition `partition` (0: NewestBackup)
// into `partition_dir`, replacing what is there: the backup is restored
// (file checksums verified) into <partition_dir>.restoring, then the old
// directory is removed and the new one renamed into place, so an
// interruption leaves the old store or none, never a mix. The caller must
// hold the partition (no process may have the store open). NotFound if the
// partition has no such backup.
absl::StatusOr<BackupInfo> RestorePartition(const std::string& backup_dir, int32_t partition,
                                            uint32_t backup_id, const std::string& partition_dir);

// "<backup_dir>/p-0007".
std::string PartitionBackupDir(const std::string& backup_dir, int32_t partition);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_STORE_BACKUP_H_
