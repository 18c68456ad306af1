#include "engine/store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <system_error>
#include <thread>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"
#include "engine/store/keys.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_buffer_manager.h"

namespace loyalty {
namespace {

constexpr const char* kCfNames[] = {"default", "members",  "journal", "orders",
                                    "dedupe",  "counters", "due"};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<int>(Cf::kCount));

}  // namespace

const char* CfName(Cf which) { return kCfNames[static_cast<int>(which)]; }

void WriteShape::Add(const WriteShape& other) {
  for (size_t i = 0; i < puts.size(); ++i) {
    puts[i] += other.puts[i];
    deletes[i] += other.deletes[i];
    key_bytes[i] += other.key_bytes[i];
    value_bytes[i] += other.value_bytes[i];
  }
}

int64_t WriteShape::total_puts() const {
  int64_t n = 0;
  for (int64_t v : puts) n += v;
  return n;
}

int64_t WriteShape::total_deletes() const {
  int64_t n = 0;
  for (int64_t v : deletes) n += v;
  return n;
}

namespace {

bool PointRead(Cf which) {
  return which == Cf::kMembers || which == Cf::kOrders || which == Cf::kDedupe ||
         which == Cf::kCounters;
}

// Column families read by point lookups get bloom filters; the journal
// (scanned, append-only, big values) and the due index (scanned) get none.
rocksdb::ColumnFamilyOptions CfOptions(Cf which, const StoreResources& resources) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = resources.cache();
  if (PointRead(which)) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    // Most reads of dedupe keys and orders miss (a new event, a new order):
    // a memtable bloom filter answers them without a skiplist search.
    cf.memtable_prefix_bloom_size_ratio = 0.05;
    cf.memtable_whole_key_filtering = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // The shared WriteBufferManager bounds all memtables together; this is
  // the most one family may hold before it flushes on its own.
  const bool busy = which == Cf::kJournal || which == Cf::kMembers || which == Cf::kDedupe ||
                    which == Cf::kOrders;
  cf.write_buffer_size = busy ? (64 << 20) : (8 << 20);
  cf.compression = rocksdb::kLZ4Compression;
  cf.bottommost_compression = rocksdb::kZSTD;
  return cf;
}

}  // namespace

std::shared_ptr<StoreResources> StoreResources::Create(size_t block_cache_bytes,
                                                       size_t memtable_bytes) {
  auto r = std::shared_ptr<StoreResources>(new StoreResources());
  r->cache_ = rocksdb::NewLRUCache(block_cache_bytes);
  r->write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(memtable_bytes);
  return r;
}

std::shared_ptr<StoreResources> StoreResources::Default() {
  return Create(size_t{128} << 20, size_t{256} << 20);
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  // The causes an operator can fix, said first.
  if (s.IsNoSpace() || absl::StrContains(msg, "No space left on device")) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": the disk is full; free space and start again (nothing applied is lost): ",
        s.ToString()));
  }
  if (absl::StrContains(msg, "Read-only file system")) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": the file system is read-only: ", s.ToString()));
  }
  if (absl::StrContains(msg, "Permission denied")) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": permission denied: ", s.ToString()));
  }
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

namespace {

// The schema tag of a store whose column families are not ours (another
// schema), read through a read-only open of its default family alone.
std::string ForeignSchema(const std::string& path, const rocksdb::DBOptions& db_options) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(db_options, path, cfs, &handles, &raw).ok()) return "";
  std::string schema;
  rocksdb::Status s = raw->Get(rocksdb::ReadOptions(), handles[0], keys::kSchema, &schema);
  for (auto* h : handles) (void)raw->DestroyColumnFamilyHandle(h);
  delete raw;
  return s.ok() ? schema : "";
}

// RocksDB's info log (<store>/LOG), written through stdio rather than
// RocksDB's own EnvLogger: on a full disk the EnvLogger's next line after a
// failed write trips an assertion inside RocksDB 7.8 (Debian's build keeps
// assertions), aborting the process from a background thread before the
// write's error reaches us. This logger drops what it cannot write. The
// previous run's log is kept as LOG.old.
class StoreLogger : public rocksdb::Logger {
 public:
  StoreLogger(const std::string& dir, rocksdb::InfoLogLevel level) : rocksdb::Logger(level) {
    const std::string path = dir + "/LOG";
    std::rename(path.c_str(), (path + ".old").c_str());
    file_ = std::fopen(path.c_str(), "w");
  }
  ~StoreLogger() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (file_ == nullptr) return;
    const absl::Time now = absl::Now();
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(file_, "%s ", absl::FormatTime("%Y/%m/%d-%H:%M:%E6S", now, absl::UTCTimeZone()).c_str());
    std::vfprintf(file_, format, ap);
    std::fputc('\n', file_);
    std::fflush(file_);  // errors (a full disk) are dropped with the line
  }

 private:
  std::mutex mu_;
  FILE* file_ = nullptr;
};

absl::Status WrongSchema(const std::string& path, absl::string_view found) {
  return absl::FailedPreconditionError(absl::StrCat(
      path, ": schema \"", found, "\", expected \"", keys::kSchemaValue,
      "\"; this version does not migrate stores: apply the input again into a new data "
      "directory"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PartitionStore>> PartitionStore::Open(const std::string& path,
                                                                     const StoreOptions& options) {
  auto store = std::unique_ptr<PartitionStore>(new PartitionStore());
  store->path_ = path;
  store->options_ = options;
  if (store->options_.resources == nullptr) store->options_.resources = StoreResources::Default();
  const StoreResources& resources = *store->options_.resources;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = options.create_if_missing;
  db_options.env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  db_options.keep_log_file_num = 2;
  db_options.max_total_wal_size = 512 << 20;
  db_options.write_buffer_manager = resources.write_buffers();
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    cfs.emplace_back(kCfNames[i], CfOptions(static_cast<Cf>(i), resources));
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (!options.read_only) {
    if (options.create_if_missing) LOYALTY_RETURN_IF_ERROR(MakeDirectory(path));
    db_options.info_log = std::make_shared<StoreLogger>(path, db_options.info_log_level);
  }
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, path, cfs, &store->handles_, &raw);
  } else {
    s = rocksdb::DB::Open(db_options, path, cfs, &store->handles_, &raw);
  }
  if (s.IsInvalidArgument() && absl::StrContains(s.ToString(), "olumn famil")) {
    // Column families of another schema (a /2 store has "ledger" and
    // "outbox"): name it rather than RocksDB's complaint.
    const std::string found = ForeignSchema(path, db_options);
    if (!found.empty()) return WrongSchema(path, found);
  }
  LOYALTY_RETURN_IF_ERROR(FromRocks(s, absl::StrCat("open ", path)));
  store->db_.reset(raw);
  store->write_options_.sync = options.sync_writes;

  // Refuse a directory written by another program or schema.
  LOYALTY_ASSIGN_OR_RETURN(auto schema, store->Get(Cf::kMeta, keys::kSchema));
  if (schema.has_value() && *schema != keys::kSchemaValue) return WrongSchema(path, *schema);
  if (!schema.has_value() && !options.read_only) {
    rocksdb::WriteBatch batch;
    LOYALTY_RETURN_IF_ERROR(
        FromRocks(batch.Put(store->cf(Cf::kMeta), keys::kSchema, keys::kSchemaValue), "put"));
    LOYALTY_RETURN_IF_ERROR(FromRocks(store->db_->Write(store->write_options_, &batch),
                                      absl::StrCat("write ", path)));
  }
  return store;
}

PartitionStore::~PartitionStore() {
  if (db_ == nullptr) return;
  for (auto* h : handles_) {
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(h);
    (void)s;
  }
  rocksdb::Status s = db_->Close();
  (void)s;  // Nothing to do about a failed close while tearing down.
}

absl::Status PartitionStore::Write(StoreBatch* batch, WriteShape* shape) {
  LOYALTY_CHECK(batch->store_ == this) << "a batch of another store";
  absl::Status s =
      FromRocks(db_->Write(write_options_, batch->Build(shape)), absl::StrCat("write ", path_));
  batch->Clear();
  return s;
}

absl::Status PartitionStore::Checkpoint(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, ": exists; a checkpoint goes into a new directory"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  LOYALTY_RETURN_IF_ERROR(
      FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), absl::StrCat("checkpoint ", path_)));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir),
                   absl::StrCat("checkpoint ", path_, " into ", dir));
}

absl::Status PartitionStore::SetPublishedThrough(int64_t seq) {
  std::string value;
  keys::AppendInt(&value, seq);
  rocksdb::WriteBatch wb;
  LOYALTY_RETURN_IF_ERROR(FromRocks(wb.Put(cf(Cf::kMeta), keys::kPublishedThrough, value), "put"));
  rocksdb::WriteOptions o = write_options_;
  o.sync = false;
  return FromRocks(db_->Write(o, &wb), absl::StrCat("write ", path_));
}

absl::StatusOr<std::optional<std::string>> PartitionStore::Get(Cf which, absl::string_view key) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(which), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  LOYALTY_RETURN_IF_ERROR(FromRocks(s, absl::StrCat("get from ", path_)));
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<std::optional<int64_t>> PartitionStore::GetInt(Cf which, absl::string_view key) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(which, key));
  if (!v.has_value()) return std::optional<int64_t>();
  if (v->size() != 8) {
    return absl::DataLossError(absl::StrCat(path_, ": a value of ", kCfNames[static_cast<int>(which)],
                                            " is ", v->size(), " bytes, not 8"));
  }
  return std::optional<int64_t>(keys::DecodeInt(*v));
}

absl::StatusOr<PartitionMeta> PartitionStore::ReadMeta(const std::vector<std::string>& program_ids) {
  PartitionMeta meta;
  LOYALTY_ASSIGN_OR_RETURN(meta.next_offset, GetNextOffset());
  LOYALTY_ASSIGN_OR_RETURN(auto next_seq, GetInt(Cf::kMeta, keys::kNextSeq));
  meta.next_seq = next_seq.value_or(1);
  LOYALTY_ASSIGN_OR_RETURN(auto published, GetInt(Cf::kMeta, keys::kPublishedThrough));
  meta.published_through = published.value_or(0);
  for (const std::string& id : program_ids) {
    LOYALTY_ASSIGN_OR_RETURN(auto tick, GetTickTime(ProgramId(id)));
    if (tick.has_value()) meta.tick_time[id] = *tick;
  }
  return meta;
}

absl::StatusOr<int64_t> PartitionStore::GetNextOffset() {
  LOYALTY_ASSIGN_OR_RETURN(auto v, GetInt(Cf::kMeta, keys::kNextOffset));
  return v.value_or(0);
}

absl::StatusOr<std::optional<int64_t>> PartitionStore::GetTickTime(ProgramId program_id) {
  std::string key;
  keys::AppendTick(&key, program_id);
  return GetInt(Cf::kMeta, key);
}

absl::StatusOr<std::optional<std::string>> PartitionStore::GetCaller(absl::string_view name) {
  std::string key;
  keys::AppendCaller(&key, name);
  return Get(Cf::kMeta, key);
}

absl::StatusOr<std::optional<int64_t>> PartitionStore::GetCallerInt(absl::string_view name) {
  std::string key;
  keys::AppendCaller(&key, name);
  return GetInt(Cf::kMeta, key);
}

// --- Input sources ----------------------------------------------------------

std::string InputSource::Describe() const {
  switch (kind) {
    case Kind::kKafka:
      return absl::StrCat("kafka:", name);
    case Kind::kFile:
      return absl::StrCat("file:", name, " (its first ", prefix_bytes, " bytes, SHA-256 ",
                          prefix_sha256.substr(0, 16), "..., line n = offset ", offset_base,
                          " + n)");
  }
  return "?";
}

std::string InputSource::Encode() const {
  switch (kind) {
    case Kind::kKafka:
      return absl::StrCat("kafka:", name);
    case Kind::kFile:
      return absl::StrCat("file:", offset_base, ":", prefix_bytes, ":", prefix_sha256, ":", name);
  }
  return "";
}

absl::StatusOr<InputSource> InputSource::Decode(absl::string_view value) {
  InputSource s;
  auto bad = [&] {
    return absl::DataLossError(absl::StrCat("unreadable input source record \"",
                                            absl::CHexEscape(value), "\""));
  };
  if (absl::ConsumePrefix(&value, "kafka:")) {
    s.kind = Kind::kKafka;
    s.name = std::string(value);
    return s;
  }
  if (!absl::ConsumePrefix(&value, "file:")) return bad();
  s.kind = Kind::kFile;
  // offset_base:prefix_bytes:sha256:path (the path may hold ':').
  std::vector<absl::string_view> parts = absl::StrSplit(value, absl::MaxSplits(':', 3));
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &s.offset_base) ||
      !absl::SimpleAtoi(parts[1], &s.prefix_bytes) || s.offset_base < 0 || s.prefix_bytes < 0 ||
      parts[2].size() != 64) {
    return bad();
  }
  s.prefix_sha256 = std::string(parts[2]);
  s.name = std::string(parts[3]);
  return s;
}

bool IsSourceKey(Cf which, absl::string_view key) {
  return which == Cf::kMeta && key == keys::kSource;
}

absl::StatusOr<std::optional<InputSource>> PartitionStore::GetSource() {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kMeta, keys::kSource));
  if (!v.has_value()) return std::optional<InputSource>();
  auto source = InputSource::Decode(*v);
  if (!source.ok()) return absl::DataLossError(absl::StrCat(path_, ": ", source.status().message()));
  return std::optional<InputSource>(std::move(*source));
}

absl::Status PartitionStore::SetSource(const InputSource& source) {
  rocksdb::WriteBatch wb;
  LOYALTY_RETURN_IF_ERROR(FromRocks(wb.Put(cf(Cf::kMeta), keys::kSource, source.Encode()), "put"));
  return FromRocks(db_->Write(write_options_, &wb), absl::StrCat("write ", path_));
}

absl::Status PartitionStore::ClaimSource(const InputSource& source) {
  LOYALTY_ASSIGN_OR_RETURN(std::optional<InputSource> recorded, GetSource());
  if (!recorded.has_value()) return SetSource(source);
  if (recorded->kind == source.kind && recorded->name == source.name) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      path_, ": this store holds the input of ", recorded->Describe(), ", not of ",
      source.Describe(), ": the offsets of one source mean nothing in another (records would "
      "be skipped as already applied, or applied twice); use another data directory for ",
      source.Describe()));
}

namespace {

// A stored member record, parsed; DataLoss names the store and the member.
absl::Status ParseMember(absl::string_view value, absl::string_view path, const MemberRef& member,
                         loyalty::v1::MemberRecord* out) {
  if (!out->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(
        absl::StrCat(path, ": unreadable member record of ", member.member_id.value()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> PartitionStore::GetMember(const MemberRef& member,
                                               loyalty::v1::MemberRecord* out) {
  std::string key;
  keys::AppendMember(&key, member.program_id, member.member_id);
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kMembers, key));
  if (!v.has_value()) return false;
  LOYALTY_RETURN_IF_ERROR(ParseMember(*v, path_, member, out));
  return true;
}

absl::StatusOr<int64_t> PartitionStore::GetCounter(const MemberRef& member,
                                                   absl::string_view name) {
  std::string key;
  keys::AppendUnderMember(&key, member.program_id, member.member_id, name);
  LOYALTY_ASSIGN_OR_RETURN(auto v, GetInt(Cf::kCounters, key));
  return v.value_or(0);
}

absl::StatusOr<bool> PartitionStore::HasDue(const MemberRef& member, int64_t due_ns) {
  std::string key;
  keys::AppendDue(&key, member.program_id, due_ns, member.member_id);
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kDue, key));
  return v.has_value();
}

absl::Status PartitionStore::ForEachMember(
    const std::function<absl::Status(const loyalty::v1::MemberRecord&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kMembers)));
  loyalty::v1::MemberRecord rec;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!rec.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat(path_, ": unreadable member record at key ", it->key().ToString(true)));
    }
    LOYALTY_RETURN_IF_ERROR(fn(rec));
  }
  return FromRocks(it->status(), absl::StrCat("scan members of ", path_));
}

absl::Status PartitionStore::ForEachJournalRecord(
    int64_t after_seq, const std::function<absl::Status(const JournalRecordView&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kJournal)));
  // The batch that holds after_seq + 1 starts at or before it.
  std::string start;
  keys::AppendJournal(&start, after_seq + 1);
  it->SeekForPrev(start);
  if (!it->Valid()) it->SeekToFirst();
  std::vector<JournalRecordView> views;
  int64_t last = 0;
  for (; it->Valid(); it->Next()) {
    int64_t first_seq = 0;
    const absl::string_view key(it->key().data(), it->key().size());
    if (!keys::ParseJournal(key, &first_seq)) {
      return absl::DataLossError(absl::StrCat(path_, ": bad journal key ", it->key().ToString(true)));
    }
    views.clear();
    absl::Status read =
        ReadJournalBatch(absl::string_view(it->value().data(), it->value().size()), &views);
    if (!read.ok() || views.empty() || views.front().seq != first_seq) {
      return absl::DataLossError(absl::StrCat(path_, ": journal batch ", first_seq, ": ",
                                              read.ok() ? "does not start there" : read.message()));
    }
    if (views.front().seq <= last) {
      return absl::DataLossError(
          absl::StrCat(path_, ": journal batch ", first_seq, " overlaps the one before"));
    }
    last = views.back().seq;
    for (const JournalRecordView& v : views) {
      if (v.seq > after_seq) LOYALTY_RETURN_IF_ERROR(fn(v));
    }
  }
  return FromRocks(it->status(), absl::StrCat("scan the journal of ", path_));
}

absl::Status PartitionStore::ForEachJournalBatch(
    int64_t after_seq, const std::function<absl::Status(absl::string_view)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kJournal)));
  std::string start;
  keys::AppendJournal(&start, after_seq + 1);
  it->SeekForPrev(start);
  if (!it->Valid()) it->SeekToFirst();
  for (; it->Valid(); it->Next()) {
    LOYALTY_RETURN_IF_ERROR(fn(absl::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), absl::StrCat("scan the journal of ", path_));
}

absl::Status PartitionStore::ForEachEntry(
    const std::function<absl::Status(const loyalty::v1::LedgerEntry&)>& fn) {
  loyalty::v1::Outcome outcome;
  return ForEachJournalRecord(0, [&](const JournalRecordView& v) -> absl::Status {
    if (v.kind != JournalKind::kOutcome) return absl::OkStatus();
    if (!outcome.ParseFromArray(v.value.data(), static_cast<int>(v.value.size()))) {
      return absl::DataLossError(absl::StrCat(path_, ": unreadable outcome at seq ", v.seq));
    }
    for (const auto& e : outcome.entries()) LOYALTY_RETURN_IF_ERROR(fn(e));
    return absl::OkStatus();
  });
}

absl::Status PartitionStore::ForEachEntryOf(
    const MemberRef& member,
    const std::function<absl::Status(const loyalty::v1::LedgerEntry&)>& fn) {
  const std::string key = absl::StrCat(member.program_id.value(), "/", member.member_id.value());
  loyalty::v1::Outcome outcome;
  return ForEachJournalRecord(0, [&](const JournalRecordView& v) -> absl::Status {
    if (v.kind != JournalKind::kOutcome || v.key != key) return absl::OkStatus();
    if (!outcome.ParseFromArray(v.value.data(), static_cast<int>(v.value.size()))) {
      return absl::DataLossError(absl::StrCat(path_, ": unreadable outcome at seq ", v.seq));
    }
    for (const auto& e : outcome.entries()) LOYALTY_RETURN_IF_ERROR(fn(e));
    return absl::OkStatus();
  });
}

// --- StoreBatch -------------------------------------------------------------

// The read index holds op positions; it hashes and compares the (family,
// key) they point at, and looks up by a Probe without building a key.
struct StoreBatchProbe {
  uint16_t cf;
  absl::string_view key;
};

struct StoreBatch::IndexHash {
  using is_transparent = void;
  const std::vector<Op>* ops;
  const std::string* bytes;
  size_t operator()(uint32_t i) const {
    const Op& o = (*ops)[i];
    return absl::HashOf(o.cf, absl::string_view(bytes->data() + o.key_at, o.key_size));
  }
  size_t operator()(const StoreBatchProbe& p) const { return absl::HashOf(p.cf, p.key); }
};

struct StoreBatch::IndexEq {
  using is_transparent = void;
  const std::vector<Op>* ops;
  const std::string* bytes;
  StoreBatchProbe Of(uint32_t i) const {
    const Op& o = (*ops)[i];
    return {o.cf, absl::string_view(bytes->data() + o.key_at, o.key_size)};
  }
  static StoreBatchProbe Of(const StoreBatchProbe& p) { return p; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    const StoreBatchProbe x = Of(a), y = Of(b);
    return x.cf == y.cf && x.key == y.key;
  }
};

namespace {

// absl releases the table of a big set on clear(); erasing keeps it.
template <class Set>
void EraseAll(Set* set) {
  for (auto it = set->begin(); it != set->end();) set->erase(it++);
}

}  // namespace

StoreBatch::StoreBatch(PartitionStore* store)
    : store_(store),
      index_(std::make_unique<Index>(0, IndexHash{&ops_, &bytes_}, IndexEq{&ops_, &bytes_})),
      ahead_index_(std::make_unique<Index>(0, IndexHash{&ahead_ops_, &ahead_bytes_},
                                           IndexEq{&ahead_ops_, &ahead_bytes_})) {}

StoreBatch::~StoreBatch() = default;

void StoreBatch::Clear() {
  bytes_.clear();
  ops_.clear();
  EraseAll(index_.get());
  ahead_bytes_.clear();
  ahead_ops_.clear();
  ahead_values_.clear();
  EraseAll(ahead_index_.get());
  wb_.Clear();
}

void StoreBatch::Expect(Cf cf, absl::string_view key) {
  const uint16_t family = static_cast<uint16_t>(cf);
  if (ahead_index_->find(StoreBatchProbe{family, key}) != ahead_index_->end()) return;
  Op op{};
  op.key_at = ahead_bytes_.size();
  op.key_size = static_cast<uint32_t>(key.size());
  op.cf = family;
  ahead_bytes_.append(key.data(), key.size());
  ahead_ops_.push_back(op);
  ahead_values_.emplace_back();
  ahead_index_->insert(static_cast<uint32_t>(ahead_ops_.size() - 1));
}

const std::string& StoreBatch::UnderMemberKey(const MemberRef& member, absl::string_view id) {
  key_.clear();
  keys::AppendUnderMember(&key_, member.program_id, member.member_id, id);
  return key_;
}

const std::string& StoreBatch::MemberKey(const MemberRef& member) {
  key_.clear();
  keys::AppendMember(&key_, member.program_id, member.member_id);
  return key_;
}

const std::string& StoreBatch::DueKey(const MemberRef& member, int64_t due_ns) {
  key_.clear();
  keys::AppendDue(&key_, member.program_id, due_ns, member.member_id);
  return key_;
}

void StoreBatch::ExpectDedupe(const MemberRef& member, absl::string_view event_id) {
  Expect(Cf::kDedupe, UnderMemberKey(member, event_id));
}

void StoreBatch::ExpectOrder(const MemberRef& member, absl::string_view order_id) {
  Expect(Cf::kOrders, UnderMemberKey(member, order_id));
}

void StoreBatch::ExpectMember(const MemberRef& member) {
  Expect(Cf::kMembers, MemberKey(member));
}

absl::Status StoreBatch::ReadAhead() {
  std::vector<uint32_t> pending;
  std::vector<rocksdb::Slice> keys;
  for (Cf cf : {Cf::kMembers, Cf::kOrders, Cf::kDedupe}) {
    pending.clear();
    keys.clear();
    for (uint32_t i = 0; i < ahead_ops_.size(); ++i) {
      const Op& op = ahead_ops_[i];
      if (op.cf != static_cast<uint16_t>(cf) || ahead_values_[i].fetched) continue;
      pending.push_back(i);
    }
    if (pending.empty()) continue;
    // Sorted here (bytewise, the column families' order) rather than by
    // MultiGet, whose sort compares through the comparator's virtual call.
    auto key_of = [this](uint32_t i) {
      const Op& op = ahead_ops_[i];
      return absl::string_view(ahead_bytes_.data() + op.key_at, op.key_size);
    };
    std::sort(pending.begin(), pending.end(),
              [&](uint32_t a, uint32_t b) { return key_of(a) < key_of(b); });
    for (uint32_t i : pending) keys.emplace_back(key_of(i).data(), key_of(i).size());
    std::vector<rocksdb::PinnableSlice> values(pending.size());
    std::vector<rocksdb::Status> statuses(pending.size());
    store_->db_->MultiGet(rocksdb::ReadOptions(), store_->cf(cf), keys.size(), keys.data(),
                          values.data(), statuses.data(), /*sorted_input=*/true);
    // The keys' slices point into ahead_bytes_, which grows below: done
    // with them.
    for (size_t k = 0; k < pending.size(); ++k) {
      AheadValue& v = ahead_values_[pending[k]];
      v.fetched = true;
      if (statuses[k].IsNotFound()) continue;
      LOYALTY_RETURN_IF_ERROR(FromRocks(statuses[k], absl::StrCat("read ahead in ", store_->path())));
      v.found = true;
      v.value_at = ahead_bytes_.size();
      v.value_size = static_cast<uint32_t>(values[k].size());
      ahead_bytes_.append(values[k].data(), values[k].size());
    }
  }
  return absl::OkStatus();
}

void StoreBatch::Stage(Cf cf, absl::string_view key, absl::string_view value, bool del) {
  LOYALTY_CHECK(key.size() <= UINT32_MAX && value.size() <= UINT32_MAX &&
                ops_.size() < UINT32_MAX);
  Op op;
  op.key_at = bytes_.size();
  op.key_size = static_cast<uint32_t>(key.size());
  op.value_size = static_cast<uint32_t>(value.size());
  op.seq = static_cast<uint32_t>(ops_.size());
  op.cf = static_cast<uint16_t>(cf);
  op.del = del ? 1 : 0;
  bytes_.append(key.data(), key.size());
  bytes_.append(value.data(), value.size());
  ops_.push_back(op);
  if (PointRead(cf) && cf != Cf::kMembers) {
    auto it = index_->find(StoreBatchProbe{op.cf, key});
    if (it != index_->end()) index_->erase(it);
    index_->insert(op.seq);
  }
}

std::optional<std::optional<absl::string_view>> StoreBatch::Staged(Cf cf,
                                                                   absl::string_view key) const {
  auto it = index_->find(StoreBatchProbe{static_cast<uint16_t>(cf), key});
  if (it == index_->end()) return std::nullopt;
  const Op& op = ops_[*it];
  if (op.del) return std::optional<absl::string_view>();
  return std::optional<absl::string_view>(ValueOf(op));
}

absl::StatusOr<std::optional<absl::string_view>> StoreBatch::Read(Cf cf, absl::string_view key) {
  if (auto staged = Staged(cf, key); staged.has_value()) return *staged;
  if (auto it = ahead_index_->find(StoreBatchProbe{static_cast<uint16_t>(cf), key});
      it != ahead_index_->end() && ahead_values_[*it].fetched) {
    const AheadValue& v = ahead_values_[*it];
    if (!v.found) return std::optional<absl::string_view>();
    return std::optional<absl::string_view>(
        absl::string_view(ahead_bytes_.data() + v.value_at, v.value_size));
  }
  rocksdb::Status s = store_->db_->Get(rocksdb::ReadOptions(), store_->cf(cf),
                                       rocksdb::Slice(key.data(), key.size()), &read_);
  if (s.IsNotFound()) return std::optional<absl::string_view>();
  LOYALTY_RETURN_IF_ERROR(FromRocks(s, absl::StrCat("get from ", store_->path())));
  return std::optional<absl::string_view>(read_);
}

absl::StatusOr<bool> StoreBatch::GetDedupe(const MemberRef& member, absl::string_view event_id,
                                           std::string* digest) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Read(Cf::kDedupe, UnderMemberKey(member, event_id)));
  if (!v.has_value()) return false;
  digest->assign(v->data(), v->size());
  return true;
}

void StoreBatch::PutDedupe(const MemberRef& member, absl::string_view event_id,
                           absl::string_view digest) {
  Stage(Cf::kDedupe, UnderMemberKey(member, event_id), digest, false);
}

absl::StatusOr<bool> StoreBatch::GetOrder(const MemberRef& member, absl::string_view order_id,
                                          loyalty::v1::OrderRecord* out) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Read(Cf::kOrders, UnderMemberKey(member, order_id)));
  if (!v.has_value()) return false;
  if (!out->ParseFromArray(v->data(), static_cast<int>(v->size()))) {
    return absl::DataLossError(absl::StrCat(store_->path(), ": unreadable order ", order_id,
                                            " of ", member.member_id.value()));
  }
  return true;
}

void StoreBatch::PutOrder(const MemberRef& member, absl::string_view order_id,
                          const loyalty::v1::OrderRecord& order) {
  SerializeDeterministicTo(order, &value_);
  Stage(Cf::kOrders, UnderMemberKey(member, order_id), value_, false);
}

absl::StatusOr<int64_t> StoreBatch::GetCounter(const MemberRef& member, absl::string_view name) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Read(Cf::kCounters, UnderMemberKey(member, name)));
  if (!v.has_value()) return 0;
  if (v->size() != 8) {
    return absl::DataLossError(absl::StrCat(store_->path(), ": counter of ", member.member_id.value(),
                                            " is ", v->size(), " bytes, not 8"));
  }
  return keys::DecodeInt(*v);
}

void StoreBatch::PutCounter(const MemberRef& member, absl::string_view name, int64_t value) {
  value_.clear();
  keys::AppendInt(&value_, value);
  Stage(Cf::kCounters, UnderMemberKey(member, name), value_, false);
}

absl::StatusOr<bool> StoreBatch::GetMember(const MemberRef& member,
                                           loyalty::v1::MemberRecord* out) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Read(Cf::kMembers, MemberKey(member)));
  if (!v.has_value()) return false;
  LOYALTY_RETURN_IF_ERROR(ParseMember(*v, store_->path(), member, out));
  return true;
}

void StoreBatch::PutMember(const MemberRef& member, const loyalty::v1::MemberRecord& record) {
  SerializeDeterministicTo(record, &value_);
  Stage(Cf::kMembers, MemberKey(member), value_, false);
}

void StoreBatch::PutDue(const MemberRef& member, int64_t due_ns) {
  Stage(Cf::kDue, DueKey(member, due_ns), {}, false);
}

void StoreBatch::DeleteDue(const MemberRef& member, int64_t due_ns) {
  Stage(Cf::kDue, DueKey(member, due_ns), {}, true);
}

absl::Status StoreBatch::ScanDue(ProgramId program_id, int64_t from_ns, int64_t upto_ns,
                                 size_t max, std::string* cursor,
                                 std::vector<std::string>* members) {
  std::string lower = *cursor;
  if (lower.empty()) keys::AppendDue(&lower, program_id, from_ns, MemberId(""));
  std::string upper;
  keys::AppendDue(&upper, program_id, upto_ns + 1, MemberId(""));  // exclusive
  // This batch's due writes in the range, sorted, the last write of a key.
  std::vector<uint32_t> staged;
  for (uint32_t i = 0; i < ops_.size(); ++i) {
    const Op& op = ops_[i];
    if (op.cf != static_cast<uint16_t>(Cf::kDue)) continue;
    const absl::string_view k = KeyOf(op);
    if (k >= lower && k < upper) staged.push_back(i);
  }
  std::stable_sort(staged.begin(), staged.end(),
                   [this](uint32_t a, uint32_t b) { return KeyOf(ops_[a]) < KeyOf(ops_[b]); });
  size_t ov = 0;
  auto next_staged = [&]() {  // skips to the last write of the current key
    while (ov + 1 < staged.size() && KeyOf(ops_[staged[ov + 1]]) == KeyOf(ops_[staged[ov]])) ++ov;
  };
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store_->db_->NewIterator(ro, store_->cf(Cf::kDue)));
  it->Seek(lower);
  auto take = [&](absl::string_view key) -> absl::Status {
    absl::string_view program, member;
    int64_t due_ns = 0;
    if (!keys::ParseDue(key, &program, &due_ns, &member)) {
      return absl::DataLossError(absl::StrCat(store_->path(), ": malformed due-index key"));
    }
    members->emplace_back(member);
    cursor->assign(key.data(), key.size());
    cursor->push_back('\0');  // the smallest key after `key`
    return absl::OkStatus();
  };
  const size_t limit = members->size() + max;
  while (members->size() < limit) {
    if (ov < staged.size()) next_staged();
    const bool db_valid = it->Valid();
    const bool ov_valid = ov < staged.size();
    if (!db_valid && !ov_valid) break;
    const absl::string_view db_key =
        db_valid ? absl::string_view(it->key().data(), it->key().size()) : absl::string_view();
    const absl::string_view ov_key = ov_valid ? KeyOf(ops_[staged[ov]]) : absl::string_view();
    // The smaller key goes first; on a tie the batch's write decides.
    if (ov_valid && (!db_valid || ov_key <= db_key)) {
      if (db_valid && ov_key == db_key) it->Next();
      if (!ops_[staged[ov]].del) LOYALTY_RETURN_IF_ERROR(take(ov_key));
      ++ov;
    } else {
      LOYALTY_RETURN_IF_ERROR(take(db_key));
      it->Next();
    }
  }
  return FromRocks(it->status(), "scan due index");
}

void StoreBatch::PutJournal(int64_t first_seq, absl::string_view value) {
  key_.clear();
  keys::AppendJournal(&key_, first_seq);
  Stage(Cf::kJournal, key_, value, false);
}

void StoreBatch::SetNextOffset(int64_t next_offset) {
  value_.clear();
  keys::AppendInt(&value_, next_offset);
  Stage(Cf::kMeta, keys::kNextOffset, value_, false);
}

void StoreBatch::SetNextSeq(int64_t next_seq) {
  value_.clear();
  keys::AppendInt(&value_, next_seq);
  Stage(Cf::kMeta, keys::kNextSeq, value_, false);
}

void StoreBatch::SetTickTime(ProgramId program_id, int64_t tick_ns) {
  key_.clear();
  keys::AppendTick(&key_, program_id);
  value_.clear();
  keys::AppendInt(&value_, tick_ns);
  Stage(Cf::kMeta, key_, value_, false);
}

void StoreBatch::PutCaller(absl::string_view name, absl::string_view value) {
  key_.clear();
  keys::AppendCaller(&key_, name);
  Stage(Cf::kMeta, key_, value, false);
}

void StoreBatch::SetSource(const InputSource& source) {
  Stage(Cf::kMeta, keys::kSource, source.Encode(), false);
}

void StoreBatch::PutCallerInt(absl::string_view name, int64_t value) {
  read_.clear();
  keys::AppendInt(&read_, value);
  PutCaller(name, read_);
}

rocksdb::WriteBatch* StoreBatch::Build(WriteShape* shape) {
  wb_.Clear();
  order_.resize(ops_.size());
  for (uint32_t i = 0; i < ops_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [this](uint32_t a, uint32_t b) {
    const Op& x = ops_[a];
    const Op& y = ops_[b];
    if (x.cf != y.cf) return x.cf < y.cf;
    const int c = KeyOf(x).compare(KeyOf(y));
    if (c != 0) return c < 0;
    return x.seq < y.seq;
  });
  for (size_t i = 0; i < order_.size(); ++i) {
    const Op& op = ops_[order_[i]];
    if (i + 1 < order_.size()) {
      const Op& next = ops_[order_[i + 1]];
      if (next.cf == op.cf && KeyOf(next) == KeyOf(op)) continue;  // a later write wins
    }
    const absl::string_view k = KeyOf(op);
    const rocksdb::Slice key(k.data(), k.size());
    rocksdb::ColumnFamilyHandle* cf = store_->cf(static_cast<Cf>(op.cf));
    if (shape != nullptr) {
      (op.del ? shape->deletes : shape->puts)[op.cf]++;
      shape->key_bytes[op.cf] += op.key_size;
      shape->value_bytes[op.cf] += op.value_size;
    }
    if (op.del) {
      LOYALTY_CHECK_OK(FromRocks(wb_.Delete(cf, key), "delete"));
    } else {
      const absl::string_view v = ValueOf(op);
      LOYALTY_CHECK_OK(FromRocks(wb_.Put(cf, key, rocksdb::Slice(v.data(), v.size())), "put"));
    }
  }
  return &wb_;
}

// --- Data directories -------------------------------------------------------

namespace {

// Why `dir` cannot hold stores, or "" if it can: it exists, is a directory
// and may be written.
std::string DirectoryProblem(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) {
    return S_ISREG(st.st_mode) ? "not a directory (it is a regular file)" : "not a directory";
  }
  if (access(dir.c_str(), W_OK) != 0) {
    return errno == EROFS ? "the file system is read-only"
                          : absl::StrCat("cannot be written: ", std::strerror(errno));
  }
  return "";
}

}  // namespace

absl::Status MakeDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    // Name the part of the path in the way (a regular file, a read-only
    // file system) rather than the library's words alone.
    std::filesystem::path p(dir);
    while (!p.empty() && !std::filesystem::exists(p)) p = p.parent_path();
    const std::string in_the_way = p.empty() ? "" : DirectoryProblem(p.string());
    if (ec == std::errc::no_space_on_device) {
      return absl::ResourceExhaustedError(absl::StrCat(dir, ": cannot create: the disk is full"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        dir, ": cannot create: ",
        in_the_way.empty() ? ec.message() : absl::StrCat(p.string(), ": ", in_the_way)));
  }
  const std::string problem = DirectoryProblem(dir);
  if (!problem.empty()) return absl::FailedPreconditionError(absl::StrCat(dir, ": ", problem));
  return absl::OkStatus();
}

std::string PartitionDir(const std::string& data_dir, int32_t partition) {
  return absl::StrCat(data_dir, "/", absl::StrFormat("p-%04d", partition));
}

absl::StatusOr<std::vector<int32_t>> ListPartitions(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
    if (fs::exists(data_dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          data_dir, ": not a data directory (",
          fs::is_regular_file(data_dir, ec) ? "a regular file" : "not a directory", ")"));
    }
    return absl::NotFoundError(absl::StrCat(data_dir, ": no such data directory"));
  }
  std::vector<int32_t> out;
  for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
    int p = -1;
    char tail = 0;
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && std::sscanf(name.c_str(), "p-%d%c", &p, &tail) == 1 && p >= 0) {
      out.push_back(p);
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat(data_dir, ": ", ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::pair<int32_t, std::unique_ptr<PartitionStore>>>> OpenDataDir(
    const std::string& data_dir) {
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ListPartitions(data_dir));
  if (partitions.empty()) {
    return absl::NotFoundError(absl::StrCat(data_dir, ": no partition stores (p-NNNN)"));
  }
  const std::shared_ptr<StoreResources> resources = StoreResources::Default();
  std::vector<std::pair<int32_t, std::unique_ptr<PartitionStore>>> out;
  for (int32_t p : partitions) {
    LOYALTY_ASSIGN_OR_RETURN(auto store,
                             OpenPartitionReadOnly(PartitionDir(data_dir, p), resources));
    out.emplace_back(p, std::move(store));
  }
  return out;
}

namespace {

// Which MANIFEST a store's CURRENT names and how long it is: any flush or
// compaction (which may delete files a copy needs) changes it first.
std::string ManifestState(const std::string& dir) {
  std::ifstream current(dir + "/CURRENT", std::ios::binary);
  std::string name((std::istreambuf_iterator<char>(current)), {});
  while (!name.empty() && name.back() == '\n') name.pop_back();
  std::error_code ec;
  const auto size = std::filesystem::file_size(dir + "/" + name, ec);
  return absl::StrCat(name, ":", ec ? -1 : static_cast<int64_t>(size));
}

// The process that holds the store's LOCK (RocksDB's fcntl lock), or 0.
pid_t LockHolder(const std::string& dir) {
  const int fd = ::open((dir + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  const bool asked = ::fcntl(fd, F_GETLK, &lock) == 0;
  ::close(fd);
  return asked && lock.l_type != F_UNLCK ? lock.l_pid : 0;
}

// One read-only copy of `dir` into `out_dir`; whether the MANIFEST stayed
// the same from before the open to after the copy.
absl::StatusOr<bool> CheckpointOnce(const std::string& dir, const std::string& out_dir) {
  const std::string before = ManifestState(dir);
  absl::Status s;
  {
    auto store = OpenPartitionReadOnly(dir, StoreResources::Create(8 << 20, 8 << 20));
    s = store.ok() ? (*store)->Checkpoint(out_dir) : store.status();
  }
  const bool steady = ManifestState(dir) == before;
  if (!s.ok() && steady) return s;  // not the writer's doing
  return s.ok() && steady;
}

}  // namespace

absl::StatusOr<PartitionCheckpoint> CheckpointPartition(const std::string& partition_dir,
                                                        const std::string& out_dir,
                                                        int attempts_max) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(partition_dir + "/CURRENT", ec)) {
    return absl::NotFoundError(absl::StrCat(partition_dir, ": no partition store"));
  }
  if (fs::exists(out_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(out_dir, ": exists; a checkpoint goes into a new directory"));
  }
  PartitionCheckpoint out;
  out.dir = out_dir;
  const pid_t holder = LockHolder(partition_dir);
  out.store_in_use = holder != 0;
  bool done = false;
  while (!done && out.attempts < attempts_max) {
    if (out.attempts > 0) {
      fs::remove_all(out_dir, ec);
      fs::remove_all(out_dir + ".tmp", ec);  // RocksDB's staging directory
      std::this_thread::sleep_for(std::chrono::milliseconds(20 * out.attempts));
    }
    ++out.attempts;
    LOYALTY_ASSIGN_OR_RETURN(done, CheckpointOnce(partition_dir, out_dir));
  }
  if (!done) {
    fs::remove_all(out_dir, ec);
    return absl::UnavailableError(absl::StrCat(
        partition_dir, ": the store flushed or compacted during each of ", attempts_max,
        " copies", holder != 0 ? absl::StrCat(" (its LOCK is held by process ", holder, ")") : "",
        "; retry, or stop the engine first"));
  }
  auto copy = OpenPartitionReadOnly(out_dir, StoreResources::Create(8 << 20, 8 << 20));
  if (!copy.ok()) {
    return absl::DataLossError(absl::StrCat("the checkpoint ", out_dir,
                                            " does not open: ", copy.status().message()));
  }
  LOYALTY_ASSIGN_OR_RETURN(PartitionMeta meta, (*copy)->ReadMeta({}));
  out.next_offset = meta.next_offset;
  out.next_seq = meta.next_seq;
  return out;
}

absl::StatusOr<std::vector<PartitionCheckpoint>> CheckpointDataDir(const std::string& data_dir,
                                                                   const std::string& out_dir) {
  namespace fs = std::filesystem;
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ListPartitions(data_dir));
  if (partitions.empty()) {
    return absl::NotFoundError(absl::StrCat(data_dir, ": no partition stores (p-NNNN)"));
  }
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec))) {
    return absl::FailedPreconditionError(
        absl::StrCat(out_dir, ": exists and is not an empty directory"));
  }
  fs::create_directories(out_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(out_dir, ": ", ec.message()));
  std::vector<PartitionCheckpoint> out;
  for (int32_t p : partitions) {
    LOYALTY_ASSIGN_OR_RETURN(PartitionCheckpoint c, CheckpointPartition(PartitionDir(data_dir, p),
                                                                        PartitionDir(out_dir, p)));
    c.partition = p;
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PartitionStore>> OpenPartitionReadOnly(
    const std::string& partition_dir, std::shared_ptr<StoreResources> resources) {
  StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  o.resources = resources != nullptr ? std::move(resources) : StoreResources::Default();
  return PartitionStore::Open(partition_dir, o);
}

}  // namespace loyalty
