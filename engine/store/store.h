// File: engine/store/store.h
// One partition's RocksDB database, and the only module that knows its key
// layout (keys.h is private to it): typed reads of members, orders, dedupe
// digests, counters, the due index, the journal and the partition's
// metadata, and StoreBatch, the atomic write of one batch.
//
//   StoreOptions options;
//   LOYALTY_ASSIGN_OR_RETURN(auto store, PartitionStore::Open(dir + "/p-0000", options));
//   LOYALTY_ASSIGN_OR_RETURN(PartitionMeta meta, store->ReadMeta(programs.ids()));
//   StoreBatch batch(store.get());
//   LOYALTY_ASSIGN_OR_RETURN(auto digest, batch.GetDedupe(member, event_id));
//   batch.PutDedupe(member, event_id, digest16);
//   ...
//   LOYALTY_RETURN_IF_ERROR(store->Write(&batch));
//
// Cost (STYLE.md 14): a batch is one rocksdb::WriteBatch, its writes sorted
// by (column family, key) with only the last write of a key kept; the
// journal is one value per batch; members are written once per batch.
//
// Thread-safety: RocksDB is thread-safe; a PartitionStore has one writer of
// batches (the partition that owns it), the publisher noting how far it
// published, and any number of readers. A StoreBatch is thread-compatible.
#ifndef LOYALTY_ENGINE_STORE_STORE_H_
#define LOYALTY_ENGINE_STORE_STORE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/base/ids.h"
#include "engine/store/journal.h"
#include "loyalty/v1/ledger.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/write_batch.h"

namespace rocksdb {
class Cache;
class WriteBufferManager;
}  // namespace rocksdb

namespace loyalty {

// Column families, one per kind of data (keys.h has the layout).
enum class Cf : int {
  kMeta = 0,  // RocksDB's "default": offsets, sequence numbers, tick times
  kMembers,
  kJournal,
  kOrders,
  kDedupe,
  kCounters,
  kDue,
  kCount,
};

// A member's identity: the prefix of its keys.
struct MemberRef {
  ProgramId program_id;
  MemberId member_id;
};

// The identity of the member whose record or public state is given.
inline MemberRef MemberRefOf(const loyalty::v1::MemberState& state) {
  return MemberRef{ProgramId(state.program_id()), MemberId(state.member_id())};
}
inline MemberRef MemberRefOf(const loyalty::v1::MemberRecord& record) {
  return MemberRefOf(record.state());
}

// Memory shared by every store of a process, so that the total stays
// bounded however many partitions it owns: one block cache, and one budget
// for all memtables (RocksDB flushes the largest memtable when it is
// reached).
class StoreResources {
 public:
  static std::shared_ptr<StoreResources> Create(size_t block_cache_bytes,
                                                size_t memtable_bytes);
  // Defaults: 128 MiB of block cache and 256 MiB of memtables.
  static std::shared_ptr<StoreResources> Default();

  const std::shared_ptr<rocksdb::Cache>& cache() const { return cache_; }
  const std::shared_ptr<rocksdb::WriteBufferManager>& write_buffers() const {
    return write_buffers_;
  }

 private:
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
};

struct StoreOptions {
  // Create the database if it does not exist. Default: true.
  bool create_if_missing = true;
  // Open read-only (tools); writes fail. Works while another process writes.
  // Default: false.
  bool read_only = false;
  // fsync the WAL with every write (--durability=machine). Without it a
  // write survives a process crash (kill -9) but not a power loss.
  // Default: false.
  bool sync_writes = false;
  // Environment for all file I/O; tests pass a fault-injecting wrapper.
  // Default: nullptr (rocksdb::Env::Default()).
  rocksdb::Env* env = nullptr;
  // Block cache and memtable budget; share one between the stores of a
  // process. Default: nullptr (this store gets StoreResources::Default()).
  std::shared_ptr<StoreResources> resources;
};

// What a partition keeps besides its ledger: where it is in the input and
// in its outputs.
struct PartitionMeta {
  int64_t next_offset = 0;        // last applied input offset + 1
  int64_t next_seq = 1;           // the next output sequence number
  int64_t published_through = 0;  // last output seq known committed to Kafka
  std::map<std::string, int64_t, std::less<>> tick_time;  // program -> largest Tick.now (ns)
};

// Where a partition's input comes from (SPEC §8), recorded in its store so
// that the input of one source is never taken for the continuation of
// another: a Kafka offset and a file's line number are not comparable, nor
// are the line numbers of two files. Kafka sources are identified by their
// topic; a file by its content: the length and SHA-256 of the prefix
// applied so far (the same file grown longer still matches; a file named
// alike with other bytes does not).
struct InputSource {
  enum class Kind { kKafka, kFile };
  Kind kind = Kind::kKafka;
  // kKafka: the input topic. kFile: the path it was last given under (for
  // messages only: a file is identified by its content).
  std::string name;
  // kFile: the offset of the file's line n is offset_base + n. 0 for the
  // first file of a store; for a file that continues another (loyaltyd
  // replay --continue-with-new-file), the last offset applied before it.
  int64_t offset_base = 0;
  // kFile: the applied prefix of the file, through the line break of its
  // last applied line: its length and SHA-256 (64 hex digits).
  int64_t prefix_bytes = 0;
  std::string prefix_sha256;

  static InputSource Kafka(std::string topic) {
    InputSource s;
    s.kind = Kind::kKafka;
    s.name = std::move(topic);
    return s;
  }
  // "kafka:loyalty.events", or "file:events.jsonl (its first 1234 bytes,
  // SHA-256 ab12..., line n = offset 0 + n)".
  std::string Describe() const;
  // The stored value: "kafka:<topic>", or
  // "file:<offset_base>:<prefix_bytes>:<prefix_sha256>:<path>".
  std::string Encode() const;
  // DataLoss if `value` is not an Encode() result.
  static absl::StatusOr<InputSource> Decode(absl::string_view value);
  bool operator==(const InputSource& o) const {
    return kind == o.kind && name == o.name && offset_base == o.offset_base &&
           prefix_bytes == o.prefix_bytes && prefix_sha256 == o.prefix_sha256;
  }
  bool operator!=(const InputSource& o) const { return !(*this == o); }
};

// A program version applied in a partition (SPEC §10): recorded by the
// batch that first applied an effective time at or after its
// effective_from (StoreBatch::RecordProgramVersion), with the partition's
// largest effective time applied per program (SetAppliedTimeMax). The
// partition refuses to open with a program file that changed a version
// recorded here (engine/ledger). Provenance, not state: IsProvenanceKey.
struct AppliedProgramVersion {
  std::string program_id;
  std::string version;                    // its name
  std::string hash;                       // lowercase hex SHA-256 (CompiledProgram::hash)
  std::string effective_from;             // RFC 3339 UTC; empty for the base version
  int64_t effective_from_ns = INT64_MIN;  // INT64_MIN for the base version
};

class StoreBatch;

// What a write held, after the last-write-wins of each key: puts and deletes
// per column family and their bytes (loyalty-bench's null pipeline writes
// the same shape).
struct WriteShape {
  std::array<int64_t, static_cast<int>(Cf::kCount)> puts{};
  std::array<int64_t, static_cast<int>(Cf::kCount)> deletes{};
  std::array<int64_t, static_cast<int>(Cf::kCount)> key_bytes{};
  std::array<int64_t, static_cast<int>(Cf::kCount)> value_bytes{};
  void Add(const WriteShape& other);
  int64_t total_puts() const;
  int64_t total_deletes() const;
};

// The name of a column family ("default", "members", ...).
const char* CfName(Cf which);

class PartitionStore {
 public:
  static absl::StatusOr<std::unique_ptr<PartitionStore>> Open(const std::string& path,
                                                              const StoreOptions& options);
  ~PartitionStore();
  PartitionStore(const PartitionStore&) = delete;
  PartitionStore& operator=(const PartitionStore&) = delete;

  const std::string& path() const { return path_; }

  // Applies `batch` atomically (with the WAL synced if sync_writes) and
  // clears it. `shape` (may be null) receives what the write held.
  absl::Status Write(StoreBatch* batch, WriteShape* shape = nullptr);
  // Notes that outputs up to `seq` are committed to Kafka. Never synced:
  // if a power loss drops it, the output topics' tails still tell.
  absl::Status SetPublishedThrough(int64_t seq);

  // Metadata, with the tick times of `program_ids`.
  absl::StatusOr<PartitionMeta> ReadMeta(const std::vector<std::string>& program_ids);
  absl::StatusOr<int64_t> GetNextOffset();
  // The largest Tick.now of a program, or nullopt if none was applied.
  absl::StatusOr<std::optional<int64_t>> GetTickTime(ProgramId program_id);
  // A caller's metadata (StoreBatch::PutCaller, PutCallerInt), or nullopt.
  absl::StatusOr<std::optional<std::string>> GetCaller(absl::string_view name);
  absl::StatusOr<std::optional<int64_t>> GetCallerInt(absl::string_view name);

  // The input source recorded in this store (InputSource), or nullopt: a
  // new store, or one written before sources were recorded.
  absl::StatusOr<std::optional<InputSource>> GetSource();
  // Records `source` now, in a write of its own (StoreBatch::SetSource
  // records it with a batch).
  absl::Status SetSource(const InputSource& source);
  // For sources identified by name (Kafka topics): records `source` if no
  // source is recorded (a new store, or one from before sources were
  // recorded: the first source seen is adopted), succeeds if the recorded
  // one is of the same kind and name, and otherwise fails with
  // FailedPrecondition naming the store, the recorded source and `source`.
  absl::Status ClaimSource(const InputSource& source);

  // Program versions (SPEC §10). Every version recorded in this store, by
  // (program_id, effective_from); the backup metadata's "versions in force".
  absl::StatusOr<std::vector<AppliedProgramVersion>> AppliedVersions();
  // The largest effective time applied of a program (member events' t,
  // ticks' now), or nullopt if none is recorded.
  absl::StatusOr<std::optional<int64_t>> GetAppliedTimeMax(ProgramId program_id);

  // The member's record into *out; false if it does not exist.
  absl::StatusOr<bool> GetMember(const MemberRef& member, loyalty::v1::MemberRecord* out);
  // A named per-member counter; 0 when never set.
  absl::StatusOr<int64_t> GetCounter(const MemberRef& member, absl::string_view name);
  // Whether the due index holds `member` at `due_ns`.
  absl::StatusOr<bool> HasDue(const MemberRef& member, int64_t due_ns);

  // Calls `fn` for every member record in key order. Stops at the first
  // error, which it returns; malformed records are DataLoss.
  absl::Status ForEachMember(
      const std::function<absl::Status(const loyalty::v1::MemberRecord&)>& fn);
  // Calls `fn` for every journal record with seq > `after_seq`, ascending.
  absl::Status ForEachJournalRecord(
      int64_t after_seq, const std::function<absl::Status(const JournalRecordView&)>& fn);
  // Calls `fn` with every journal value (a batch's records) that holds
  // records with seq > `after_seq`, ascending.
  absl::Status ForEachJournalBatch(int64_t after_seq,
                                   const std::function<absl::Status(absl::string_view)>& fn);
  // Calls `fn` with every ledger entry of the journal in seq order (all
  // members of the partition; a member's entries in its order).
  absl::Status ForEachEntry(const std::function<absl::Status(const loyalty::v1::LedgerEntry&)>& fn);
  // The entries of one member: a scan of the whole journal (the journal is
  // ordered by sequence, not by member).
  absl::Status ForEachEntryOf(const MemberRef& member,
                              const std::function<absl::Status(const loyalty::v1::LedgerEntry&)>& fn);

  // Writes a RocksDB checkpoint of this store into `dir`, which must not
  // exist: hard links to its table files (copies across filesystems), a
  // copy of its live WAL and MANIFEST, openable as a store of its own. A
  // read-write store flushes its memtables first; a read-only one copies
  // the WAL it has (CheckpointPartition below says when that is a
  // consistent copy). FailedPrecondition if `dir` exists.
  absl::Status Checkpoint(const std::string& dir);

  // Raw access for tools that compact, checkpoint or hash the keyspace.
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf which) { return handles_[static_cast<int>(which)]; }

 private:
  friend class StoreBatch;
  PartitionStore() = default;
  absl::StatusOr<std::optional<std::string>> Get(Cf which, absl::string_view key);
  absl::StatusOr<std::optional<int64_t>> GetInt(Cf which, absl::string_view key);

  std::string path_;
  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
};

// The writes of one batch, staged in memory and handed to RocksDB sorted by
// (column family, key) with only the last write of each key: the same state
// as applying them in order, in one atomic WriteBatch, and memtable inserts
// that find their place next to the previous one. Point reads of orders,
// dedupe digests and counters see the batch's own earlier writes, and due
// scans merge its due-index writes with the store's.
//
// Allocation: keys and values go into one byte buffer and the read index
// holds positions in it; after the first batches nothing here allocates per
// write.
class StoreBatch {
 public:
  explicit StoreBatch(PartitionStore* store);
  ~StoreBatch();
  StoreBatch(const StoreBatch&) = delete;
  StoreBatch& operator=(const StoreBatch&) = delete;

  bool empty() const { return ops_.empty(); }
  size_t writes() const { return ops_.size(); }  // staged, before last-write-wins
  // Forgets every staged write.
  void Clear();

  // Dedupe: whether a digest is stored for (member, event_id); if so it is
  // copied into *digest (a buffer the caller reuses).
  absl::StatusOr<bool> GetDedupe(const MemberRef& member, absl::string_view event_id,
                                 std::string* digest);
  void PutDedupe(const MemberRef& member, absl::string_view event_id, absl::string_view digest);

  absl::StatusOr<bool> GetOrder(const MemberRef& member, absl::string_view order_id,
                                loyalty::v1::OrderRecord* out);
  void PutOrder(const MemberRef& member, absl::string_view order_id,
                const loyalty::v1::OrderRecord& order);

  absl::StatusOr<int64_t> GetCounter(const MemberRef& member, absl::string_view name);
  void PutCounter(const MemberRef& member, absl::string_view name, int64_t value);

  void PutMember(const MemberRef& member, const loyalty::v1::MemberRecord& record);
  // A member's record (from the read-ahead, else the store); false if none.
  // Members are written once per batch (PutMember) and read before: the
  // batch's own member writes are not seen here.
  absl::StatusOr<bool> GetMember(const MemberRef& member, loyalty::v1::MemberRecord* out);

  // Read-ahead: the keys that GetDedupe, GetOrder and GetMember are about
  // to ask for, fetched together by ReadAhead() with one batched lookup per
  // column family (RocksDB's MultiGet sorts the keys and probes the filters
  // of each file for all of them at once). Reads of these keys are then
  // answered from memory until Clear(); the batch's own writes still come
  // first.
  void ExpectDedupe(const MemberRef& member, absl::string_view event_id);
  void ExpectOrder(const MemberRef& member, absl::string_view order_id);
  void ExpectMember(const MemberRef& member);
  absl::Status ReadAhead();

  // The due index: `member` is to be visited by the tick that reaches
  // `due_ns`.
  void PutDue(const MemberRef& member, int64_t due_ns);
  void DeleteDue(const MemberRef& member, int64_t due_ns);
  // Members with due-index entries in [*from_ns, upto_ns] of program
  // `program_id`, in (due, member) order, at most `max` more, this batch's
  // writes merged with the store's; `*cursor` (empty at first) says where
  // the previous call stopped. Deleted keys stay as tombstones for a while:
  // both bounds keep the scan off them.
  absl::Status ScanDue(ProgramId program_id, int64_t from_ns, int64_t upto_ns,
                       size_t max, std::string* cursor, std::vector<std::string>* members);

  // One journal value (JournalWriter::bytes()) keyed by its first seq.
  void PutJournal(int64_t first_seq, absl::string_view value);

  void SetNextOffset(int64_t next_offset);
  void SetNextSeq(int64_t next_seq);
  void SetTickTime(ProgramId program_id, int64_t tick_ns);
  // Metadata a caller commits with the batch (e.g. how far an output file
  // was written); read back with PartitionStore::GetCaller.
  void PutCaller(absl::string_view name, absl::string_view value);
  void PutCallerInt(absl::string_view name, int64_t value);
  // Records the input source with the batch (PartitionStore::GetSource).
  void SetSource(const InputSource& source);
  // Program versions (PartitionStore::AppliedVersions, GetAppliedTimeMax),
  // recorded with the batch that applied them: no write of their own.
  void RecordProgramVersion(const AppliedProgramVersion& version);
  void SetAppliedTimeMax(ProgramId program_id, int64_t t_ns);

 private:
  friend class PartitionStore;
  struct Op {
    size_t key_at;
    uint32_t key_size;
    uint32_t value_size;  // the value follows the key in bytes_
    uint32_t seq;         // staging order: the last write of a key wins
    uint16_t cf;
    uint16_t del;
  };
  // What ReadAhead found for an expected key (parallel to ahead_ops_).
  struct AheadValue {
    size_t value_at = 0;  // in ahead_bytes_
    uint32_t value_size = 0;
    bool fetched = false;
    bool found = false;
  };
  struct IndexHash;
  struct IndexEq;
  // Positions in a list of ops whose keys live in a byte buffer, looked up
  // by (column family, key) without building a key.
  using Index = absl::flat_hash_set<uint32_t, IndexHash, IndexEq>;

  // key_ built from parts (the layout of keys.h), returned for the call.
  const std::string& UnderMemberKey(const MemberRef& member, absl::string_view id);
  const std::string& MemberKey(const MemberRef& member);
  const std::string& DueKey(const MemberRef& member, int64_t due_ns);
  void Stage(Cf cf, absl::string_view key, absl::string_view value, bool del);
  void Expect(Cf cf, absl::string_view key);
  // The latest staged value of (cf, key) for the point-read families:
  // nullopt if not staged; a staged delete reads as absent.
  std::optional<std::optional<absl::string_view>> Staged(Cf cf, absl::string_view key) const;
  absl::StatusOr<std::optional<absl::string_view>> Read(Cf cf, absl::string_view key);
  absl::string_view KeyOf(const Op& op) const {
    return absl::string_view(bytes_.data() + op.key_at, op.key_size);
  }
  absl::string_view ValueOf(const Op& op) const {
    return absl::string_view(bytes_.data() + op.key_at + op.key_size, op.value_size);
  }
  // Fills wb_ from the staged writes, sorted; returns it.
  rocksdb::WriteBatch* Build(WriteShape* shape);

  PartitionStore* store_;
  std::string bytes_;  // keys and values, back to back
  std::vector<Op> ops_;
  std::unique_ptr<Index> index_;  // point-read families: op of each key's latest write
  std::string ahead_bytes_;       // expected keys, then the values found
  std::vector<Op> ahead_ops_;     // expected keys (value fields unused)
  std::vector<AheadValue> ahead_values_;
  std::unique_ptr<Index> ahead_index_;
  std::vector<uint32_t> order_;   // Build's sort
  std::string key_, value_, read_;  // scratch
  rocksdb::WriteBatch wb_;
};

// Creates `dir` (and its parents) if missing and checks that stores can be
// written there: FailedPrecondition naming the path and the cause (a
// regular file in the way, a read-only file system, no permission),
// ResourceExhausted if the disk is full.
absl::Status MakeDirectory(const std::string& dir);

// "<data_dir>/p-0007": the directory of partition 7.
std::string PartitionDir(const std::string& data_dir, int32_t partition);
// Partitions present in a data directory, ascending.
absl::StatusOr<std::vector<int32_t>> ListPartitions(const std::string& data_dir);
// The partition store in `partition_dir`, opened read-only (works while an
// engine writes it); an error if there is none. `resources`: the memory it
// may use (default: StoreResources::Default()).
absl::StatusOr<std::unique_ptr<PartitionStore>> OpenPartitionReadOnly(
    const std::string& partition_dir, std::shared_ptr<StoreResources> resources = nullptr);
// Every partition store of a data directory, opened read-only (works while
// an engine writes them), ascending by partition. NotFound if there is none.
absl::StatusOr<std::vector<std::pair<int32_t, std::unique_ptr<PartitionStore>>>> OpenDataDir(
    const std::string& data_dir);

// A checkpoint of one partition store (CheckpointPartition).
struct PartitionCheckpoint {
  int32_t partition = 0;
  std::string dir;           // where it was written
  int64_t next_offset = 0;   // the input offset it continues from
  int64_t next_seq = 1;      // the next output sequence number
  bool store_in_use = false;  // another process (an engine) held the store
  int attempts = 0;           // copies made (more than 1 when the store moved)
};

// Checkpoints the partition store in `partition_dir` into `out_dir` (which
// must not exist), whether or not a running engine holds the store:
//
// RocksDB lets one process open a store read-write (its LOCK file), and a
// running engine is that process; but a read-only handle can make a
// checkpoint too: the table files and MANIFEST it opened, and the WAL files
// present, copied as they are. That copy is consistent (one point in time:
// every batch is one atomic WriteBatch, and a torn tail of the WAL is
// dropped on open) unless the writer flushed or compacted meanwhile, which
// may delete a WAL or table file the copy needs. Any such change first
// writes the MANIFEST: so the MANIFEST (CURRENT's name and its size) is read
// before the read-only open and again after the copy, and the copy is kept
// only if they are the same. Otherwise it is deleted and made again, up to
// `attempts_max` times; then Unavailable names the store and says to retry
// or stop the engine. When no engine holds the store the first copy is
// kept. The checkpoint is then opened and its offsets read back.
//
// Errors: NotFound for no store there, FailedPrecondition if `out_dir`
// exists, Unavailable as above, else RocksDB's error naming the path.
absl::StatusOr<PartitionCheckpoint> CheckpointPartition(const std::string& partition_dir,
                                                        const std::string& out_dir,
                                                        int attempts_max = 20);

// Checkpoints every partition store of `data_dir` into the same p-NNNN
// directories of `out_dir`, which must not exist or be empty: a data
// directory of its own, for `loyaltyctl --data-dir=OUT verify`, `loyaltyd
// run` or `replay`. Partitions are copied one after the other, each at its
// own point in time (each store holds its own offsets). NotFound when
// `data_dir` has no store. On failure the partitions done stay in `out_dir`.
absl::StatusOr<std::vector<PartitionCheckpoint>> CheckpointDataDir(const std::string& data_dir,
                                                                   const std::string& out_dir);
// Whether (which, key) is the input-source record: where the input came
// from, not what was applied, so digests of a store's state leave it out.
bool IsSourceKey(Cf which, absl::string_view key);
// Whether (which, key) is provenance: the input-source record, a program
// version record or a program's largest applied time. They say where the
// input came from and under which rules it was applied, not what the
// state is; digests of a store's state leave them out, so that digests of
// stores written before versions were recorded stay comparable.
bool IsProvenanceKey(Cf which, absl::string_view key);

// Converts a RocksDB status, naming `what`. A full disk is
// ResourceExhausted and says so; a read-only file system is
// FailedPrecondition; other I/O errors are Unavailable.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_STORE_STORE_H_
