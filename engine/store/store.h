// File: engine/store/store.h
// One partition's RocksDB database: opening it with the column families of
// keys.h, tuned per kind of data, and typed reads for the tools.
//
//   StoreOptions options;
//   LOYALTY_ASSIGN_OR_RETURN(auto store, PartitionStore::Open(dir + "/p-0000", options));
//   LOYALTY_ASSIGN_OR_RETURN(int64_t next, store->GetNextOffset());
//
// Thread-safety: RocksDB is thread-safe; a PartitionStore has one writer of
// the ledger (the partition that owns it), the publisher trimming the outbox,
// and any number of readers.
#ifndef LOYALTY_ENGINE_STORE_STORE_H_
#define LOYALTY_ENGINE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loyalty/v1/ledger.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"

namespace loyalty {

enum class Cf : int {
  kMeta = 0,  // RocksDB's "default"
  kMembers,
  kLedger,
  kOrders,
  kDedupe,
  kCounters,
  kDue,
  kOutbox,
  kCount,
};

struct StoreOptions {
  // Create the database if it does not exist. Default: true.
  bool create_if_missing = true;
  // Open read-only (tools); writes fail. Default: false.
  bool read_only = false;
  // fsync the WAL with every write (--durability=machine). Without it a
  // write survives a process crash (kill -9) but not a power loss.
  // Default: false.
  bool sync_writes = false;
  // Environment for all file I/O; tests pass a fault-injecting wrapper.
  // Default: nullptr (rocksdb::Env::Default()).
  rocksdb::Env* env = nullptr;
  // Shared block cache for reads of members, orders and dedupe keys.
  // Default: 64 MiB.
  size_t block_cache_bytes = 64 << 20;
  // Memtable size of the column families that take most writes (ledger,
  // members, dedupe, outbox). Default: 64 MiB.
  size_t write_buffer_bytes = 64 << 20;
};

class PartitionStore {
 public:
  static absl::StatusOr<std::unique_ptr<PartitionStore>> Open(const std::string& path,
                                                              const StoreOptions& options);
  ~PartitionStore();
  PartitionStore(const PartitionStore&) = delete;
  PartitionStore& operator=(const PartitionStore&) = delete;

  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf which) { return handles_[static_cast<int>(which)]; }
  const std::string& path() const { return path_; }

  // Applies `batch` atomically (with the WAL synced if sync_writes).
  absl::Status Write(rocksdb::WriteBatch* batch);
  // The same, never synced: for bookkeeping whose loss is harmless.
  absl::Status WriteUnsynced(rocksdb::WriteBatch* batch);

  // Raw value of `key` in `cf`, or nullopt.
  absl::StatusOr<std::optional<std::string>> Get(Cf which, absl::string_view key);

  // The next input offset to apply (0 for a new store).
  absl::StatusOr<int64_t> GetNextOffset();
  absl::StatusOr<std::optional<loyalty::v1::MemberRecord>> GetMember(absl::string_view program_id,
                                                                     absl::string_view member_id);

  // Calls `fn` for every member record in key order. Stops at the first
  // error, which it returns; malformed records are DataLoss.
  absl::Status ForEachMember(
      const std::function<absl::Status(const loyalty::v1::MemberRecord&)>& fn);
  // Calls `fn` for each ledger entry of a member in sequence order.
  absl::Status ForEachEntry(absl::string_view program_id, absl::string_view member_id,
                            const std::function<absl::Status(const loyalty::v1::LedgerEntry&)>& fn);
  // Calls `fn` for each outbox record with seq > `after_seq`, ascending.
  absl::Status ForEachOutbox(int64_t after_seq,
                             const std::function<absl::Status(loyalty::v1::OutboxRecord&&)>& fn);

 private:
  PartitionStore() = default;

  std::string path_;
  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
};

// "<data_dir>/p-0007": the directory of partition 7.
std::string PartitionDir(const std::string& data_dir, int32_t partition);
// Partitions present in a data directory, ascending.
absl::StatusOr<std::vector<int32_t>> ListPartitions(const std::string& data_dir);

// Converts a RocksDB status, naming `what`.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_STORE_STORE_H_
