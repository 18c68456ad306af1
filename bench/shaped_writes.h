// File: bench/shaped_writes.h
// RocksDB write batches in the engine's measured write shape (a RecordShape),
// for the two benchmarks that reproduce the engine's store writes without the
// engine: the null pipeline (null_pipeline.h) and the RocksDB limit
// (loyalty_bench.cc, RocksDbLimit). The rules, in one place:
//
//   - per column family, the shape's puts and deletes per input record, the
//     fractions carried from record to record (and from batch to batch), so
//     that the counts per record match the shape's;
//   - keys under the "member" the caller gives for each record (the null
//     pipeline: the record's Kafka key; the RocksDB limit: random bytes),
//     padded or cut to the family's average key size (to whole bytes as
//     WritePlan::Options says), in the layout of engine/store/keys.h in
//     kind:
//       members, counters, due: under the member, overwritten batch after
//       batch when members repeat, as the engine's are;
//       orders, dedupe: a new key per put (the member, the record's offset);
//   - default (metadata): the next input offset under kNextOffsetKey with
//     every batch (the one value not cut from the pool: it is read back,
//     ReadNextOffset), and as many other small puts per batch as the shape
//     has there;
//   - journal: one value per batch of the shape's journal bytes per record
//     times the batch's records, keyed by the batch's first offset;
//   - values cut from the plan's pool of bytes at moving places (never the
//     same bytes twice in a row);
//   - what each batch wrote, as a WriteShape (KafkaEngine::Stats' terms).
//
//   LOYALTY_ASSIGN_OR_RETURN(auto plan, WritePlan::Create(plan_options));
//   ShapedBatchBuilder batch(plan, /*value_at=*/0, /*sort=*/true);
//   for (...) batch.AddRecord(member_key, offset);
//   WriteShape wrote;
//   LOYALTY_RETURN_IF_ERROR(batch.Write(store, first_offset, next_offset,
//                                       /*sync=*/false, &wrote));
//
// Thread-safety: a WritePlan is immutable once created (share it between
// threads); a ShapedBatchBuilder is used by one thread at a time.
#ifndef LOYALTY_BENCH_SHAPED_WRITES_H_
#define LOYALTY_BENCH_SHAPED_WRITES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/bench_report.h"
#include "engine/store/store.h"
#include "rocksdb/write_batch.h"

namespace loyalty::bench {

// The store key (default family) of the next input offset, written with
// every batch.
inline constexpr char kNextOffsetKey[] = "null.next_offset";

// The next offset ShapedBatchBuilder::Write stored in `store`, or nullopt if none.
std::optional<int64_t> ReadNextOffset(PartitionStore* store);

// What to write per input record, from a RecordShape; and the pool that
// values are cut from.
class WritePlan {
 public:
  struct Options {
    // Required: the engine's measured shape. Families with no puts and no
    // deletes are skipped; the metadata family is always written (the
    // offset).
    RecordShape shape;
    // The most records a batch will hold: the pool must hold the largest
    // journal value. Default: 4096.
    int64_t batch_records_max = 4096;
    // Other values the caller cuts from the pool (Cut), up to this size:
    // the pool holds them too. Default: 0.
    size_t other_value_bytes_max = 0;
    // Bytes that values are cut from; repeated until it holds 4 times the
    // largest value. Default: nullptr (4 MiB of seeded random bytes).
    std::shared_ptr<const std::string> value_pool;
    // A family's key size is its average key size in the shape rounded to
    // the nearest byte, or cut down to whole bytes with
    // key_bytes_round_down; and at least key_bytes_min, to which the fixed
    // metadata keys are padded too. Defaults: nearest and 1, the null
    // pipeline's keys, whose shape the report puts next to the engine's.
    // The RocksDB limit asks for down and 16: the sizes its keys have
    // always had.
    bool key_bytes_round_down = false;
    size_t key_bytes_min = 1;
  };

  // How a family's keys are made.
  enum class KeyKind {
    kPerMember,  // under the record's member, overwritten batch after batch
    kPerRecord,  // a new key per put
    kMeta,       // the partition's metadata: the offset and fixed keys
    kJournal,    // one value per batch
  };
  // One column family's writes per input record.
  struct Family {
    Cf cf = Cf::kMeta;
    KeyKind kind = KeyKind::kPerRecord;
    double puts = 0, deletes = 0;  // per record
    size_t key_bytes = 0;
    double value_bytes = 0;  // per put; the journal's per record
  };

  // InvalidArgument for a shape with an unknown column family or no store
  // writes, or an empty pool.
  static absl::StatusOr<std::shared_ptr<const WritePlan>> Create(const Options& options);

  const std::vector<Family>& families() const { return families_; }
  size_t key_bytes_min() const { return key_bytes_min_; }
  size_t pool_bytes() const { return pool_->size(); }
  // `n` bytes of the pool from *at (moved on; wrapped when the pool ends).
  // REQUIRES: n <= the largest value the plan was created for.
  absl::string_view Cut(size_t n, size_t* at) const;

 private:
  WritePlan() = default;

  std::vector<Family> families_;
  size_t key_bytes_min_ = 1;
  std::shared_ptr<const std::string> pool_;
};

// One store's batches in a plan's shape: records are staged one by one, and
// Write builds one rocksdb::WriteBatch of their writes plus the batch's
// metadata and journal value, and writes it. The fractional writes owed are
// carried to the next record and the next batch.
class ShapedBatchBuilder {
 public:
  // `value_at`: where the first value is cut from the pool (writers start at
  // different places). `sort`: order each batch's writes by (column family,
  // key), as the engine's StoreBatch does.
  ShapedBatchBuilder(std::shared_ptr<const WritePlan> plan, size_t value_at, bool sort);

  // Stages the puts and deletes of one input record: `member` is the prefix
  // of its keys, `offset` makes its new keys unique.
  void AddRecord(absl::string_view member, int64_t offset);
  // The records staged since the last Write.
  int64_t records() const { return records_; }

  // Adds the metadata (kNextOffsetKey = `next_offset`) and the journal value
  // (keyed by `first_offset`), writes the batch to `store` through one
  // rocksdb::WriteBatch (WAL synced if `sync`) and, if that succeeded, adds
  // what it held to *wrote. Then starts the next batch.
  absl::Status Write(PartitionStore* store, int64_t first_offset, int64_t next_offset, bool sync,
                     WriteShape* wrote);

 private:
  // One staged store write.
  struct Op {
    uint32_t key_at, key_size;  // in key_bytes_
    absl::string_view value;
    uint16_t family;  // index into plan_->families()
    bool del;
  };

  void StagePut(uint16_t family, absl::string_view key, size_t value_bytes);
  void StageDelete(uint16_t family, absl::string_view key);
  void StagePerBatch(int64_t first_offset, int64_t next_offset);
  absl::Status Build(PartitionStore* store, WriteShape* shape);

  std::shared_ptr<const WritePlan> plan_;
  bool sort_;
  std::vector<double> owed_puts_, owed_deletes_;  // per family, carried over
  size_t value_at_;
  int64_t records_ = 0;
  std::string key_bytes_;  // the batch's keys, back to back
  std::vector<Op> ops_;
  std::string offset_value_;  // the batch's next offset (BE64)
  std::string key_, suffix_;  // scratch
  rocksdb::WriteBatch wb_;
};

}  // namespace loyalty::bench

#endif  // LOYALTY_BENCH_SHAPED_WRITES_H_
