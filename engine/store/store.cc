#include "engine/store/store.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/status.h"
#include "engine/store/keys.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"

namespace loyalty {
namespace {

constexpr const char* kCfNames[] = {"default", "members",  "ledger", "orders",
                                    "dedupe",  "counters", "due",    "outbox"};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<int>(Cf::kCount));

// Column families read by point lookups get bloom filters; the append-only
// ones (ledger, outbox) are only scanned and get none.
rocksdb::ColumnFamilyOptions CfOptions(Cf which, const StoreOptions& o,
                                       const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  bool point_reads = which == Cf::kMembers || which == Cf::kOrders || which == Cf::kDedupe ||
                     which == Cf::kCounters;
  if (point_reads) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    // Most reads of dedupe keys and orders miss (a new event, a new order):
    // a memtable bloom filter answers them without a skiplist search.
    cf.memtable_prefix_bloom_size_ratio = 0.05;
    cf.memtable_whole_key_filtering = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  bool busy = which == Cf::kLedger || which == Cf::kMembers || which == Cf::kDedupe ||
              which == Cf::kOutbox || which == Cf::kOrders;
  cf.write_buffer_size = busy ? o.write_buffer_bytes : (8 << 20);
  cf.compression = rocksdb::kLZ4Compression;
  cf.bottommost_compression = rocksdb::kZSTD;
  return cf;
}

}  // namespace

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::unique_ptr<PartitionStore>> PartitionStore::Open(const std::string& path,
                                                                     const StoreOptions& options) {
  auto store = std::unique_ptr<PartitionStore>(new PartitionStore());
  store->path_ = path;
  store->options_ = options;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = options.create_if_missing;
  db_options.env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  db_options.keep_log_file_num = 2;
  db_options.max_total_wal_size = 512 << 20;
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    cfs.emplace_back(kCfNames[i], CfOptions(static_cast<Cf>(i), options, cache));
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, path, cfs, &store->handles_, &raw);
  } else {
    if (options.create_if_missing) std::filesystem::create_directories(path);
    s = rocksdb::DB::Open(db_options, path, cfs, &store->handles_, &raw);
  }
  LOYALTY_RETURN_IF_ERROR(FromRocks(s, absl::StrCat("open ", path)));
  store->db_.reset(raw);
  store->write_options_.sync = options.sync_writes;

  // Refuse a directory written by another program or schema.
  LOYALTY_ASSIGN_OR_RETURN(auto schema, store->Get(Cf::kMeta, keys::kSchema));
  if (schema.has_value() && *schema != keys::kSchemaValue) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": schema \"", *schema, "\", expected \"", keys::kSchemaValue, "\""));
  }
  if (!schema.has_value() && !options.read_only) {
    rocksdb::WriteBatch batch;
    batch.Put(store->cf(Cf::kMeta), keys::kSchema, keys::kSchemaValue);
    LOYALTY_RETURN_IF_ERROR(store->Write(&batch));
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

absl::Status PartitionStore::Write(rocksdb::WriteBatch* batch) {
  return FromRocks(db_->Write(write_options_, batch), absl::StrCat("write ", path_));
}

absl::Status PartitionStore::WriteUnsynced(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions o = write_options_;
  o.sync = false;
  return FromRocks(db_->Write(o, batch), absl::StrCat("write ", path_));
}

absl::StatusOr<std::optional<std::string>> PartitionStore::Get(Cf which, absl::string_view key) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(which), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  LOYALTY_RETURN_IF_ERROR(FromRocks(s, absl::StrCat("get from ", path_)));
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<int64_t> PartitionStore::GetNextOffset() {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kMeta, keys::kNextOffset));
  if (!v.has_value()) return 0;
  if (v->size() != 8) return absl::DataLossError(absl::StrCat(path_, ": bad next_offset"));
  return keys::DecodeInt(*v);
}

absl::StatusOr<std::optional<loyalty::v1::MemberRecord>> PartitionStore::GetMember(
    absl::string_view program_id, absl::string_view member_id) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kMembers, keys::Member(program_id, member_id)));
  if (!v.has_value()) return std::optional<loyalty::v1::MemberRecord>();
  loyalty::v1::MemberRecord rec;
  if (!rec.ParseFromString(*v)) {
    return absl::DataLossError(absl::StrCat(path_, ": unreadable member record of ", member_id));
  }
  return std::optional<loyalty::v1::MemberRecord>(std::move(rec));
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

absl::Status PartitionStore::ForEachOutbox(
    int64_t after_seq, const std::function<absl::Status(loyalty::v1::OutboxRecord&&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kOutbox)));
  for (it->Seek(keys::Outbox(after_seq + 1)); it->Valid(); it->Next()) {
    loyalty::v1::OutboxRecord rec;
    if (!rec.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat(path_, ": unreadable outbox record at key ", it->key().ToString(true)));
    }
    LOYALTY_RETURN_IF_ERROR(fn(std::move(rec)));
  }
  return FromRocks(it->status(), absl::StrCat("scan the outbox of ", path_));
}

absl::Status PartitionStore::ForEachEntry(
    absl::string_view program_id, absl::string_view member_id,
    const std::function<absl::Status(const loyalty::v1::LedgerEntry&)>& fn) {
  const std::string prefix = keys::LedgerPrefix(keys::Member(program_id, member_id));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kLedger)));
  loyalty::v1::LedgerEntry entry;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat(path_, ": unreadable ledger entry of ", member_id));
    }
    LOYALTY_RETURN_IF_ERROR(fn(entry));
  }
  return FromRocks(it->status(), absl::StrCat("scan ledger of ", path_));
}

std::string PartitionDir(const std::string& data_dir, int32_t partition) {
  return absl::StrCat(data_dir, "/", absl::StrFormat("p-%04d", partition));
}

absl::StatusOr<std::vector<int32_t>> ListPartitions(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
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

}  // namespace loyalty
