// File: engine/ledger/partition.h
// A partition: applies batches of input records to its PartitionStore, one
// atomic RocksDB WriteBatch per batch holding the ledger entries, member
// states, orders, dedupe keys, counters, due-index changes, outbox records and
// the consumed offset together (SPEC §3.1).
//
//   LOYALTY_ASSIGN_OR_RETURN(auto partition, Partition::Open(&programs, store.get(), {}));
//   std::vector<InputRecord> batch = ...;   // offsets ascending
//   LOYALTY_RETURN_IF_ERROR(partition->ApplyBatch(batch, InputFormat::kJson, &outputs));
//
// Records whose offset is below next_offset() were applied before and are
// skipped, so feeding the same input again changes nothing.
//
// Hot member records stay decoded in an in-memory LRU cache that always
// equals the store after a successful batch. If a batch fails (a read or the
// commit), the partition drops everything it holds in memory and reloads it
// from the store; if that reload fails too, every later ApplyBatch retries it
// first and fails until it succeeds. Nothing of a failed batch is ever
// applied. After a failed write RocksDB itself may refuse writes until the
// store is reopened: the caller then reopens the store and the partition and
// feeds records again from next_offset().
//
// Thread-compatible: one thread applies to a partition at a time.
#ifndef LOYALTY_ENGINE_LEDGER_PARTITION_H_
#define LOYALTY_ENGINE_LEDGER_PARTITION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/apply/validate.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {

struct PartitionOptions {
  // The input partition this store belongs to (recorded in DLQ records).
  // Default: 0.
  int32_t partition = 0;
  // Decoded member records kept in memory. Bigger is faster for hot members;
  // each costs roughly 0.5-2 KiB. Default: 1,000,000.
  size_t members_cached_max = 1'000'000;
  // Write every output (balance updates, ledger entries, outcomes, DLQ
  // records) to the outbox column family for a publisher to send. Off for
  // file replays, where nothing would ever drain it. Default: false.
  bool outbox_enabled = false;
};

// One input record: its offset (Kafka offset, or line number) and bytes.
struct InputRecord {
  int64_t offset = 0;
  absl::string_view bytes;
};

// Outputs of a batch, in publish order (each with its outbox sequence
// number when the outbox is on, else 0).
struct BatchOutputs {
  // Fill `records`; when false only the counters are kept (cheaper).
  bool collect_records = true;
  std::vector<loyalty::v1::OutboxRecord> records;
  int64_t applied = 0;     // events that reached the apply path
  int64_t duplicates = 0;  // outcome DUPLICATE
  int64_t rejected = 0;    // to the DLQ
  int64_t skipped = 0;     // offset below next_offset
};

class Partition {
 public:
  // REQUIRES: programs and store outlive the partition.
  static absl::StatusOr<std::unique_ptr<Partition>> Open(const ProgramSet* programs,
                                                         PartitionStore* store,
                                                         const PartitionOptions& options);
  ~Partition();

  // Called once a batch is applied in memory, before it commits, with its
  // outputs. It may add caller metadata (name -> value, see keys::Caller)
  // that commits atomically with the batch, e.g. how far an output file was
  // written. An error abandons the batch like a failed write.
  using PreCommit = std::function<absl::Status(
      const BatchOutputs& outputs, std::vector<std::pair<std::string, std::string>>* metadata)>;

  // Applies `records` (offsets ascending) in one atomic write. `outputs` may
  // be null when the caller does not want them.
  absl::Status ApplyBatch(absl::Span<const InputRecord> records, InputFormat format,
                          BatchOutputs* outputs, const PreCommit& pre_commit = nullptr);

  // Outbox records up to `seq` are committed to Kafka: later batches do not
  // store outputs numbered at or below it (a store behind Kafka re-derives
  // outputs that were published already). The publisher deletes published
  // records from the outbox itself. Thread-safe (the only method that is).
  void SetPublishedThrough(int64_t seq) {
    int64_t cur = published_through_.load();
    while (cur < seq && !published_through_.compare_exchange_weak(cur, seq)) {
    }
  }

  // The offset of the next record to apply: last applied + 1.
  int64_t next_offset() const { return next_offset_; }
  size_t cached_members() const { return cache_.size(); }

 private:
  class Batch;
  struct CacheEntry {
    std::string key;
    loyalty::v1::MemberRecord record;
  };

  Partition(const ProgramSet* programs, PartitionStore* store, const PartitionOptions& options);
  absl::Status Reload();
  // Returns the cached record of `member_key`, loading it (or nullptr if the
  // member does not exist).
  absl::StatusOr<loyalty::v1::MemberRecord*> FindMember(const std::string& member_key);
  loyalty::v1::MemberRecord* InsertMember(const std::string& member_key,
                                          loyalty::v1::MemberRecord record);
  void EvictIfNeeded();

  const ProgramSet* programs_;
  PartitionStore* store_;
  PartitionOptions options_;
  bool poisoned_ = false;  // memory may not match the store: Reload first
  int64_t next_offset_ = 0;
  int64_t outbox_next_seq_ = 1;
  std::atomic<int64_t> published_through_{0};
  std::map<std::string, int64_t, std::less<>> tick_time_;  // program -> largest Tick.now
  // LRU: most recently used at the front.
  std::list<CacheEntry> lru_;
  absl::flat_hash_map<std::string, std::list<CacheEntry>::iterator> cache_;
};

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_LEDGER_PARTITION_H_
