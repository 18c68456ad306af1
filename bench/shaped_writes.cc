// File: bench/shaped_writes.cc
#include "bench/shaped_writes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"
#include "tests/testing/rng.h"

namespace loyalty::bench {
namespace {

using KeyKind = WritePlan::KeyKind;

KeyKind KindOf(Cf cf) {
  switch (cf) {
    case Cf::kMeta:
      return KeyKind::kMeta;
    case Cf::kJournal:
      return KeyKind::kJournal;
    case Cf::kMembers:
    case Cf::kCounters:
    case Cf::kDue:
      return KeyKind::kPerMember;
    case Cf::kOrders:
    case Cf::kDedupe:
      return KeyKind::kPerRecord;
    case Cf::kCount:
      break;
  }
  return KeyKind::kPerRecord;
}

absl::StatusOr<Cf> CfNamed(const std::string& name) {
  for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
    if (name == CfName(static_cast<Cf>(cf))) return static_cast<Cf>(cf);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown column family ", name));
}

// 4 MiB of seeded random bytes.
std::string RandomPool() {
  testing::Rng rng(1);
  std::string pool(size_t{4} << 20, '\0');
  for (size_t i = 0; i + 8 <= pool.size(); i += 8) {
    const uint64_t r = rng.Next();
    std::memcpy(pool.data() + i, &r, 8);
  }
  return pool;
}

}  // namespace

std::optional<int64_t> ReadNextOffset(PartitionStore* store) {
  std::string value;
  const rocksdb::Status s =
      store->db()->Get(rocksdb::ReadOptions(), store->cf(Cf::kMeta), kNextOffsetKey, &value);
  if (!s.ok() || value.size() != 8) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian64(value));
}

absl::StatusOr<std::shared_ptr<const WritePlan>> WritePlan::Create(const Options& options) {
  std::shared_ptr<WritePlan> plan(new WritePlan());
  plan->key_bytes_min_ = std::max<size_t>(1, options.key_bytes_min);
  size_t largest = options.other_value_bytes_max + 1;
  for (const RecordShape::Family& f : options.shape.families) {
    LOYALTY_ASSIGN_OR_RETURN(const Cf cf, CfNamed(f.name));
    if (f.puts_per_record + f.deletes_per_record <= 0) continue;
    Family p;
    p.cf = cf;
    p.kind = KindOf(cf);
    p.puts = f.puts_per_record;
    p.deletes = f.deletes_per_record;
    p.key_bytes =
        std::max(plan->key_bytes_min_, options.key_bytes_round_down
                                           ? static_cast<size_t>(f.key_bytes)
                                           : static_cast<size_t>(std::lround(f.key_bytes)));
    // The journal's value grows with its batch: bytes per record.
    p.value_bytes = p.kind == KeyKind::kJournal ? f.value_bytes * f.puts_per_record : f.value_bytes;
    const double biggest = p.kind == KeyKind::kJournal
                               ? p.value_bytes * static_cast<double>(options.batch_records_max)
                               : p.value_bytes;
    largest = std::max(largest, static_cast<size_t>(biggest) + 1);
    plan->families_.push_back(p);
  }
  if (plan->families_.empty()) return absl::InvalidArgumentError("the shape has no store writes");
  // The offset is written with every batch, whatever the shape says.
  if (std::none_of(plan->families_.begin(), plan->families_.end(),
                   [](const Family& p) { return p.kind == KeyKind::kMeta; })) {
    Family meta;
    meta.cf = Cf::kMeta;
    meta.kind = KeyKind::kMeta;
    plan->families_.push_back(meta);
  }
  // Values are cut from the pool at moving places; it must hold the largest
  // one with room to move.
  std::string pool = options.value_pool != nullptr ? *options.value_pool : RandomPool();
  if (pool.empty()) return absl::InvalidArgumentError("value_pool is empty");
  while (pool.size() < 4 * largest) pool.append(pool);
  plan->pool_ = std::make_shared<const std::string>(std::move(pool));
  return std::shared_ptr<const WritePlan>(std::move(plan));
}

absl::string_view WritePlan::Cut(size_t n, size_t* at) const {
  const std::string& pool = *pool_;
  if (*at + n > pool.size()) *at = (*at + n) % (pool.size() - n);
  const absl::string_view v(pool.data() + *at, n);
  *at += n + 1;  // never the same bytes twice in a row
  return v;
}

ShapedBatchBuilder::ShapedBatchBuilder(std::shared_ptr<const WritePlan> plan, size_t value_at,
                                       bool sort)
    : plan_(std::move(plan)),
      sort_(sort),
      owed_puts_(plan_->families().size(), 0),
      owed_deletes_(plan_->families().size(), 0),
      value_at_(value_at % plan_->pool_bytes()) {}

void ShapedBatchBuilder::StagePut(uint16_t family, absl::string_view key, size_t value_bytes) {
  const size_t at = key_bytes_.size();
  key_bytes_.append(key.data(), key.size());
  ops_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(key.size()),
                  plan_->Cut(value_bytes, &value_at_), family, false});
}

void ShapedBatchBuilder::StageDelete(uint16_t family, absl::string_view key) {
  const size_t at = key_bytes_.size();
  key_bytes_.append(key.data(), key.size());
  ops_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(key.size()), absl::string_view(),
                  family, true});
}

void ShapedBatchBuilder::AddRecord(absl::string_view member, int64_t offset) {
  const std::vector<WritePlan::Family>& families = plan_->families();
  char digits[24];
  for (size_t f = 0; f < families.size(); ++f) {
    const WritePlan::Family& p = families[f];
    if (p.kind == KeyKind::kMeta || p.kind == KeyKind::kJournal) continue;
    owed_puts_[f] += p.puts;
    owed_deletes_[f] += p.deletes;
    for (int n = 0; owed_puts_[f] >= 1 || owed_deletes_[f] >= 1; ++n) {
      const bool del = owed_puts_[f] < 1;
      (del ? owed_deletes_[f] : owed_puts_[f]) -= 1;
      // member \0 suffix, padded or cut to the family's key size; the
      // suffix (the offset for a new key, the put's ordinal under the
      // member) survives the cut.
      suffix_.clear();
      if (p.kind == KeyKind::kPerRecord) {
        char* end = absl::numbers_internal::FastIntToBuffer(offset, digits);
        suffix_.assign(1, '\0');
        suffix_.append(digits, static_cast<size_t>(end - digits));
        suffix_.push_back(static_cast<char>('a' + n % 26));
      } else if (n > 0) {
        suffix_.assign(1, '\0');
        suffix_.push_back(static_cast<char>('a' + n % 26));
      }
      const size_t head = std::min(
          member.size(), p.key_bytes > suffix_.size() ? p.key_bytes - suffix_.size() : size_t{0});
      key_.assign(member.data(), head);
      key_.append(suffix_);
      if (key_.size() < p.key_bytes) key_.resize(p.key_bytes, '.');
      if (del) {
        StageDelete(static_cast<uint16_t>(f), key_);
      } else {
        StagePut(static_cast<uint16_t>(f), key_, static_cast<size_t>(p.value_bytes));
      }
    }
  }
  ++records_;
}

// Per batch: the metadata (the offset first) and one journal value.
void ShapedBatchBuilder::StagePerBatch(int64_t first_offset, int64_t next_offset) {
  const std::vector<WritePlan::Family>& families = plan_->families();
  const auto n = static_cast<double>(records_);
  offset_value_.clear();
  AppendBigEndian64(&offset_value_, static_cast<uint64_t>(next_offset));
  for (size_t f = 0; f < families.size(); ++f) {
    const WritePlan::Family& p = families[f];
    const auto family = static_cast<uint16_t>(f);
    if (p.kind == KeyKind::kMeta) {
      // The offset's value is the one value not cut from the pool: it is
      // read back (ReadNextOffset). It is written with every batch, as the
      // engine's is, so it counts as one of the family's puts.
      owed_puts_[f] = std::max(-1.0, owed_puts_[f] + p.puts * n - 1);
      const size_t at = key_bytes_.size();
      key_bytes_.append(kNextOffsetKey);
      ops_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(sizeof(kNextOffsetKey) - 1),
                      offset_value_, family, false});
      for (int k = 1; owed_puts_[f] >= 1; ++k, owed_puts_[f] -= 1) {
        key_ = absl::StrCat("null.meta.", k);
        if (key_.size() < plan_->key_bytes_min()) key_.resize(plan_->key_bytes_min(), '.');
        StagePut(family, key_, static_cast<size_t>(p.value_bytes));
      }
    } else if (p.kind == KeyKind::kJournal) {
      key_.clear();
      AppendBigEndian64(&key_, static_cast<uint64_t>(first_offset));
      StagePut(family, key_, static_cast<size_t>(p.value_bytes * n));
    }
  }
}

// The staged writes into wb_ (sorted if asked), counted in *shape.
absl::Status ShapedBatchBuilder::Build(PartitionStore* store, WriteShape* shape) {
  const std::vector<WritePlan::Family>& families = plan_->families();
  if (sort_) {
    std::sort(ops_.begin(), ops_.end(), [&](const Op& a, const Op& b) {
      if (a.family != b.family) return families[a.family].cf < families[b.family].cf;
      return absl::string_view(key_bytes_.data() + a.key_at, a.key_size) <
             absl::string_view(key_bytes_.data() + b.key_at, b.key_size);
    });
  }
  wb_.Clear();
  for (const Op& op : ops_) {
    const WritePlan::Family& p = families[op.family];
    const int cf = static_cast<int>(p.cf);
    const rocksdb::Slice k(key_bytes_.data() + op.key_at, op.key_size);
    rocksdb::Status s;
    if (op.del) {
      s = wb_.Delete(store->cf(p.cf), k);
      shape->deletes[cf]++;
    } else {
      s = wb_.Put(store->cf(p.cf), k, rocksdb::Slice(op.value.data(), op.value.size()));
      shape->puts[cf]++;
      shape->value_bytes[cf] += static_cast<int64_t>(op.value.size());
    }
    shape->key_bytes[cf] += op.key_size;
    LOYALTY_RETURN_IF_ERROR(FromRocks(s, "staging a write"));
  }
  return absl::OkStatus();
}

absl::Status ShapedBatchBuilder::Write(PartitionStore* store, int64_t first_offset,
                                       int64_t next_offset, bool sync, WriteShape* wrote) {
  StagePerBatch(first_offset, next_offset);
  WriteShape shape;
  absl::Status s = Build(store, &shape);
  if (s.ok()) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    s = FromRocks(store->db()->Write(wo, &wb_), absl::StrCat("write ", store->path()));
  }
  if (s.ok()) wrote->Add(shape);
  ops_.clear();
  key_bytes_.clear();
  records_ = 0;
  return s;
}

}  // namespace loyalty::bench
