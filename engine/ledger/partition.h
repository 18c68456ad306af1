// File: engine/ledger/partition.h
// A partition: applies batches of input records to its PartitionStore, one
// atomic write per batch holding the member records, orders, dedupe digests,
// counters, due-index changes, the batch's journal value (its output records)
// and the consumed offset together (SPEC §3.1).
//
//   LOYALTY_ASSIGN_OR_RETURN(auto partition, Partition::Open(&programs, store.get(), {}));
//   std::vector<InputRecord> batch = ...;   // offsets ascending
//   BatchOutputs outputs;
//   LOYALTY_RETURN_IF_ERROR(partition->ApplyBatch(batch, InputFormat::kBinary, &outputs));
//   Publish(outputs.journal.records());
//
// Records whose offset is below next_offset() were applied before and are
// skipped, so feeding the same input again changes nothing. Output records
// are numbered by the partition's output sequence (SPEC §3.3): the same
// input gives the same records with the same numbers, whatever the batch
// sizes.
//
// Cost per event (STYLE.md 14; docs/PERFORMANCE.md has the measured
// figures): no heap allocation on the apply path once warm (events and
// outcomes live in per-record arenas; keys and values go to the batch's one
// buffer); store writes: a dedupe digest, an order (purchases), counters
// (capped engagements), the member record once per batch, the due index only
// when a member's next maturity moves earlier than its entry; output
// records: one outcome, plus one balance update when the member changed.
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
// Program versions (SPEC §10): an event is applied under the version of its
// program in force at its effective time, a maturity under the one in force
// at its due time. The partition keeps, per program, the largest effective
// time it applied; the batch that moves it to or past a version's
// effective_from records that version (name, hash, effective_from) in the
// same atomic write. Open refuses, with FailedPrecondition naming the
// program, the version and the file, a program file that changed or
// dropped a recorded version, or that holds an unrecorded version whose
// effective_from is not after the largest effective time already applied
// (docs/semantics.md "Program versions").
//
// Thread-compatible: one thread applies to a partition at a time.
#ifndef LOYALTY_ENGINE_LEDGER_PARTITION_H_
#define LOYALTY_ENGINE_LEDGER_PARTITION_H_

#include <array>
#include <cstdint>
#include <functional>
#include <list>
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
#include "engine/store/journal.h"
#include "engine/store/store.h"
#include "loyalty/v1/ledger.pb.h"

namespace google::protobuf {
class Arena;
}  // namespace google::protobuf

namespace loyalty {

struct PartitionOptions {
  // The input partition this store belongs to (recorded in DLQ records).
  // Default: 0.
  int32_t partition = 0;
  // Decoded member records kept in memory. Bigger is faster for hot members;
  // each costs roughly 0.5-2 KiB. Default: 25,000.
  size_t members_cached_max = 25'000;
};

// One input record: its offset (Kafka offset, or line number) and bytes.
struct InputRecord {
  int64_t offset = 0;
  absl::string_view bytes;
};

// Outputs of a batch: its journal (every output record, in publish order,
// with its sequence number) and counters.
struct BatchOutputs {
  JournalWriter journal;
  int64_t applied = 0;     // events that reached the apply path
  int64_t duplicates = 0;  // outcome DUPLICATE
  int64_t rejected = 0;    // to the DLQ
  int64_t skipped = 0;     // offset below next_offset
  // Outcomes by Outcome::Status, and DLQ records by RejectReason (for
  // metrics).
  std::array<int64_t, loyalty::v1::Outcome::Status_ARRAYSIZE> by_status{};
  std::array<int64_t, loyalty::v1::RejectReason_ARRAYSIZE> by_reject_reason{};
  WriteShape writes;       // what the batch's store write held
  // Forgets everything (keeping the buffers' capacity).
  void Clear();
};

class Partition {
 public:
  // REQUIRES: programs and store outlive the partition. FailedPrecondition
  // if `programs` re-interprets what the store applied (program versions,
  // above).
  static absl::StatusOr<std::unique_ptr<Partition>> Open(const ProgramSet* programs,
                                                         PartitionStore* store,
                                                         const PartitionOptions& options);
  ~Partition();

  // Called once a batch is applied in memory, before it commits, with its
  // outputs and its store batch, to which it may add caller metadata
  // (StoreBatch::PutCaller) that commits atomically with it, e.g. how far
  // an output file was written. An error abandons the batch like a failed
  // write.
  using PreCommit = std::function<absl::Status(const BatchOutputs& outputs, StoreBatch* batch)>;

  // Applies `records` (offsets ascending) in one atomic write. `outputs` is
  // cleared first; it may be null when the caller does not want them.
  absl::Status ApplyBatch(absl::Span<const InputRecord> records, InputFormat format,
                          BatchOutputs* outputs, const PreCommit& pre_commit = nullptr);

  // The offset of the next record to apply: last applied + 1.
  int64_t next_offset() const { return meta_.next_offset; }
  // The sequence number the next output record gets.
  int64_t next_seq() const { return meta_.next_seq; }
  // The last output seq the store knew to be committed to Kafka when it
  // was opened.
  int64_t published_through() const { return meta_.published_through; }
  size_t cached_members() const { return cache_.size(); }

 private:
  class Batch;
  struct CacheEntry {
    std::string key;  // program \0 member, the cache's key
    loyalty::v1::MemberRecord record;
    bool dirty = false;  // written by the current batch
  };

  // What the partition applied of one program (SPEC §10): the largest
  // effective time, the versions that time has reached (a prefix of the
  // history: those whose effective_from <= it) and how many of those the
  // store has recorded (the rest are staged by the current batch).
  struct ProgramClock {
    const ProgramHistory* program = nullptr;
    int64_t applied_t_max = INT64_MIN;      // INT64_MIN: nothing applied
    size_t versions_applied = 0;            // versions [0, n) are in force by applied_t_max
    int64_t next_version_from = INT64_MIN;  // effective_from of version n; INT64_MAX: none
    size_t versions_stored = 0;             // of those, recorded in the store
    bool changed = false;                   // applied_t_max moved in this batch
  };

  Partition(const ProgramSet* programs, PartitionStore* store, const PartitionOptions& options);
  absl::Status Reload();
  // The clocks of every program, from the store.
  absl::Status LoadProgramClocks();
  // Refuses programs that re-interpret what the store applied (Open).
  absl::Status CheckProgramVersions();
  // Notes that an effective time `t` of `program` is applied. Cheap: a
  // compare, unless t passes the largest time applied.
  void NoteApplied(const ProgramHistory& program, int64_t t) {
    ProgramClock& c = ClockOf(program);
    if (t > c.applied_t_max) RaiseAppliedTime(&c, t);
  }
  ProgramClock& ClockOf(const ProgramHistory& program) {
    if (last_clock_ == nullptr || last_clock_->program != &program) {
      last_clock_ = &clocks_[clock_index_.at(&program)];
    }
    return *last_clock_;
  }
  void RaiseAppliedTime(ProgramClock* clock, int64_t t);
  // Stages the clocks that moved and the versions they reached.
  void StageProgramClocks(StoreBatch* batch);
  // After a committed write: what was staged is stored.
  void ProgramClocksStored();
  // The cached record of a member, loading it (nullptr if the member does
  // not exist).
  absl::StatusOr<CacheEntry*> FindMember(const MemberRef& member);
  bool IsCached(const MemberRef& member);
  // "program \0 member" in lookup_: the cache's key.
  const std::string& CacheKey(const MemberRef& member);
  CacheEntry* InsertMember(const MemberRef& member, loyalty::v1::MemberRecord record);
  void EvictIfNeeded();

  const ProgramSet* programs_;
  PartitionStore* store_;
  PartitionOptions options_;
  bool poisoned_ = false;  // memory may not match the store: Reload first
  PartitionMeta meta_;
  // LRU: most recently used at the front.
  std::list<CacheEntry> lru_;
  absl::flat_hash_map<std::string, std::list<CacheEntry>::iterator> cache_;
  std::string lookup_;  // scratch cache key
  std::vector<ProgramClock> clocks_;  // one per program, in ids() order
  absl::flat_hash_map<const ProgramHistory*, size_t> clock_index_;
  ProgramClock* last_clock_ = nullptr;  // the last ClockOf's answer
  // Kept between batches so that their buffers are reused.
  std::unique_ptr<StoreBatch> store_batch_;
  std::unique_ptr<Batch> batch_;
  BatchOutputs own_outputs_;  // ApplyBatch's when the caller passes none
};

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_LEDGER_PARTITION_H_
