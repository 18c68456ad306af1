#include "engine/ledger/partition.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/apply/apply.h"
#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/status.h"
#include "engine/store/keys.h"
#include "rocksdb/write_batch.h"

namespace loyalty {

using loyalty::v1::Event;
using loyalty::v1::MemberRecord;
using loyalty::v1::OutboxRecord;

namespace {

// The writes of one batch, staged in memory and handed to RocksDB sorted by
// (column family, key), with only the last write of each key. RocksDB
// inserts each write into a memtable skiplist and remembers where the
// previous insert went: sorted keys are found next to the previous one
// instead of by a search from the top (the search was ~25% of a batch's
// time with keys in apply order). Keeping only the last write of a key
// gives the same state as applying them all in order; the batch stays one
// atomic WriteBatch.
class StagedWrites {
 public:
  void Put(Cf cf, absl::string_view key, absl::string_view value) { Add(cf, key, value, false); }
  void Delete(Cf cf, absl::string_view key) { Add(cf, key, {}, true); }

  // Appends the staged writes to `wb`, sorted, and forgets them.
  void MoveInto(PartitionStore* store, rocksdb::WriteBatch* wb) {
    std::sort(ops_.begin(), ops_.end(), [this](const Op& a, const Op& b) {
      if (a.cf != b.cf) return a.cf < b.cf;
      const int c = Key(a).compare(Key(b));
      if (c != 0) return c < 0;
      return a.seq < b.seq;
    });
    for (size_t i = 0; i < ops_.size(); ++i) {
      const Op& op = ops_[i];
      if (i + 1 < ops_.size() && ops_[i + 1].cf == op.cf && Key(ops_[i + 1]) == Key(op)) {
        continue;  // a later write of the same key replaces this one
      }
      const absl::string_view k = Key(op);
      const rocksdb::Slice key(k.data(), k.size());
      rocksdb::ColumnFamilyHandle* cf = store->cf(static_cast<Cf>(op.cf));
      if (op.del) {
        LOYALTY_CHECK_OK(FromRocks(wb->Delete(cf, key), "delete"));
      } else {
        const absl::string_view v = Value(op);
        LOYALTY_CHECK_OK(FromRocks(wb->Put(cf, key, rocksdb::Slice(v.data(), v.size())), "put"));
      }
    }
    ops_.clear();
    bytes_.clear();
  }

 private:
  struct Op {
    size_t key_offset;
    uint32_t key_size;
    uint32_t value_size;  // the value follows the key in bytes_
    uint32_t seq;         // staging order: the last write of a key wins
    uint16_t cf;
    uint16_t del;
  };

  void Add(Cf cf, absl::string_view key, absl::string_view value, bool del) {
    LOYALTY_CHECK(key.size() <= UINT32_MAX && value.size() <= UINT32_MAX &&
                  ops_.size() < UINT32_MAX);
    Op op;
    op.key_offset = bytes_.size();
    op.key_size = static_cast<uint32_t>(key.size());
    op.value_size = static_cast<uint32_t>(value.size());
    op.seq = static_cast<uint32_t>(ops_.size());
    op.cf = static_cast<uint16_t>(cf);
    op.del = del ? 1 : 0;
    ops_.push_back(op);
    bytes_.append(key.data(), key.size());
    bytes_.append(value.data(), value.size());
  }
  absl::string_view Key(const Op& op) const {
    return absl::string_view(bytes_.data() + op.key_offset, op.key_size);
  }
  absl::string_view Value(const Op& op) const {
    return absl::string_view(bytes_.data() + op.key_offset + op.key_size, op.value_size);
  }

  std::string bytes_;  // keys and values, back to back
  std::vector<Op> ops_;
};

}  // namespace

// Everything one ApplyBatch call writes, in one rocksdb::WriteBatch. Reads
// see the batch's own earlier writes through an overlay: hash maps for the
// point-read column families (orders, dedupe, counters) and an ordered map
// for the due index, which ticks scan merged with the store.
class Partition::Batch : public ApplyContext {
 public:
  Batch(Partition* p, BatchOutputs* outputs)
      : p_(p), outputs_(outputs), outbox_seq_(p->outbox_next_seq_) {}

  absl::Status ApplyRecord(const InputRecord& rec, InputFormat format);
  // Adds member records and partition metadata; returns the batch to commit.
  rocksdb::WriteBatch* Finish(int64_t next_offset,
                              const std::vector<std::pair<std::string, std::string>>& metadata);
  int64_t outbox_next_seq() const { return outbox_seq_; }

  // ApplyContext.
  absl::StatusOr<std::optional<loyalty::v1::OrderRecord>> GetOrder(
      const MemberRecord& member, absl::string_view order_id) override;
  void PutOrder(const MemberRecord& member, absl::string_view order_id,
                const loyalty::v1::OrderRecord& order) override;
  absl::StatusOr<int64_t> GetCounter(const MemberRecord& member, absl::string_view name) override;
  void PutCounter(const MemberRecord& member, absl::string_view name, int64_t value) override;

 private:
  // The key of the member being applied, computed once per event in
  // ApplyRecord. REQUIRES: `m` is that member (checked).
  const std::string& KeyOf(const MemberRecord& m) const {
    LOYALTY_CHECK(&m == applying_ && applying_key_ != nullptr)
        << "ApplyContext used for a member that is not being applied";
    return *applying_key_;
  }
  rocksdb::ColumnFamilyHandle* cf(Cf which) { return p_->store_->cf(which); }
  // A point read of orders, dedupe or counters: this batch's write, else
  // the store.
  absl::StatusOr<std::optional<std::string>> Get(Cf which, const std::string& key);
  // A write of orders, dedupe or counters, readable by Get.
  void Put(Cf which, std::string key, absl::string_view value);
  // Put or Delete of a due-index key, visible to DueMembers.
  void PutDue(std::string key, bool present);
  // Up to `max` members whose due-index keys lie in [*from, upper), in key
  // order, merging this batch's due writes with the store's. Advances *from
  // past the last key taken. Both bounds matter: deleted due keys stay as
  // tombstones for a while, and an unbounded scan would step over all of them.
  absl::Status DueMembers(std::string* from, const std::string& upper, size_t max,
                          std::vector<std::string>* members);
  bool collects() const { return outputs_ != nullptr && outputs_->collect_records; }
  bool wants_outputs() const { return collects() || p_->options_.outbox_enabled; }
  void Emit(OutboxRecord record);
  void Reject(const InputRecord& rec, const Rejection& why);
  void EmitOutcome(loyalty::v1::Outcome outcome, int64_t offset);
  absl::Status ApplyTick(const Event& e, const CompiledProgram& program, int64_t offset);
  // Records the effects of an application to `member`: ledger entries, the
  // due index, the dirty set and the outputs.
  void AfterMemberChange(const std::string& member_key, MemberRecord* member, MemberDelta* delta,
                         absl::string_view cause_event_id);

  Partition* p_;
  BatchOutputs* outputs_;
  StagedWrites staged_;
  rocksdb::WriteBatch wb_;  // built from staged_ by Finish
  absl::flat_hash_map<std::string, std::string> overlay_[static_cast<int>(Cf::kCount)];
  std::map<std::string, bool> due_overlay_;  // key -> present after this batch
  int64_t outbox_seq_;
  std::vector<std::string> dirty_;  // member keys, first-touched order
  absl::flat_hash_set<std::string> dirty_set_;
  std::set<std::string> ticked_programs_;   // ordered: written in Finish
  const MemberRecord* applying_ = nullptr;  // the member ApplyMemberEvent works on
  const std::string* applying_key_ = nullptr;
  std::string scratch_;
};

absl::StatusOr<std::optional<std::string>> Partition::Batch::Get(Cf which, const std::string& key) {
  const auto& overlay = overlay_[static_cast<int>(which)];
  if (auto it = overlay.find(key); it != overlay.end())
    return std::optional<std::string>(it->second);
  return p_->store_->Get(which, key);
}

void Partition::Batch::Put(Cf which, std::string key, absl::string_view value) {
  LOYALTY_CHECK(which == Cf::kOrders || which == Cf::kDedupe || which == Cf::kCounters);
  staged_.Put(which, key, value);
  overlay_[static_cast<int>(which)].insert_or_assign(std::move(key), std::string(value));
}

void Partition::Batch::PutDue(std::string key, bool present) {
  if (present) {
    staged_.Put(Cf::kDue, key, "");
  } else {
    staged_.Delete(Cf::kDue, key);
  }
  due_overlay_.insert_or_assign(std::move(key), present);
}

absl::Status Partition::Batch::DueMembers(std::string* from, const std::string& upper, size_t max,
                                          std::vector<std::string>* members) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(p_->store_->db()->NewIterator(ro, cf(Cf::kDue)));
  it->Seek(*from);
  auto ov = due_overlay_.lower_bound(*from);
  auto take = [&](absl::string_view key) -> absl::Status {
    absl::string_view program, member;
    int64_t due_ns = 0;
    if (!keys::ParseDue(key, &program, &due_ns, &member)) {
      return absl::DataLossError("malformed due-index key");
    }
    members->emplace_back(member);
    from->assign(key.data(), key.size());
    from->push_back('\0');  // the smallest key after `key`
    return absl::OkStatus();
  };
  while (members->size() < max) {
    const bool db_valid = it->Valid();
    const bool ov_valid = ov != due_overlay_.end() && ov->first < upper;
    if (!db_valid && !ov_valid) break;
    absl::string_view db_key =
        db_valid ? absl::string_view(it->key().data(), it->key().size()) : absl::string_view();
    // The smaller key goes first; on a tie the overlay decides.
    if (ov_valid && (!db_valid || ov->first <= db_key)) {
      if (db_valid && ov->first == db_key) it->Next();
      if (ov->second) LOYALTY_RETURN_IF_ERROR(take(ov->first));
      ++ov;
    } else {
      LOYALTY_RETURN_IF_ERROR(take(db_key));
      it->Next();
    }
  }
  return FromRocks(it->status(), "scan due index");
}

absl::StatusOr<std::optional<loyalty::v1::OrderRecord>> Partition::Batch::GetOrder(
    const MemberRecord& member, absl::string_view order_id) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kOrders, keys::UnderMember(KeyOf(member), order_id)));
  if (!v.has_value()) return std::optional<loyalty::v1::OrderRecord>();
  loyalty::v1::OrderRecord order;
  if (!order.ParseFromString(*v)) {
    return absl::DataLossError(
        absl::StrCat("unreadable order ", order_id, " of ", member.state().member_id()));
  }
  return std::optional<loyalty::v1::OrderRecord>(std::move(order));
}

void Partition::Batch::PutOrder(const MemberRecord& member, absl::string_view order_id,
                                const loyalty::v1::OrderRecord& order) {
  SerializeDeterministicTo(order, &scratch_);
  Put(Cf::kOrders, keys::UnderMember(KeyOf(member), order_id), scratch_);
}

absl::StatusOr<int64_t> Partition::Batch::GetCounter(const MemberRecord& member,
                                                     absl::string_view name) {
  LOYALTY_ASSIGN_OR_RETURN(auto v, Get(Cf::kCounters, keys::UnderMember(KeyOf(member), name)));
  if (!v.has_value()) return 0;
  if (v->size() != 8) return absl::DataLossError("bad counter value");
  return keys::DecodeInt(*v);
}

void Partition::Batch::PutCounter(const MemberRecord& member, absl::string_view name,
                                  int64_t value) {
  Put(Cf::kCounters, keys::UnderMember(KeyOf(member), name), keys::EncodeInt(value));
}

void Partition::Batch::Emit(OutboxRecord record) {
  if (p_->options_.outbox_enabled) {
    record.set_seq(outbox_seq_++);
  }
  if (p_->options_.outbox_enabled && record.seq() > p_->published_through_.load()) {
    SerializeDeterministicTo(record, &scratch_);
    staged_.Put(Cf::kOutbox, keys::Outbox(record.seq()), scratch_);
  }
  if (collects()) outputs_->records.push_back(std::move(record));
}

void Partition::Batch::Reject(const InputRecord& rec, const Rejection& why) {
  if (outputs_ != nullptr) outputs_->rejected++;
  if (!wants_outputs()) return;
  OutboxRecord out;
  auto* dlq = out.mutable_dlq();
  dlq->set_raw(rec.bytes.data(), rec.bytes.size());
  dlq->set_reason(why.reason);
  dlq->set_detail(why.detail);
  dlq->set_offset(rec.offset);
  dlq->set_partition(p_->options_.partition);
  Emit(std::move(out));
}

void Partition::Batch::EmitOutcome(loyalty::v1::Outcome outcome, int64_t offset) {
  if (!wants_outputs()) return;
  outcome.set_offset(offset);
  OutboxRecord out;
  *out.mutable_outcome() = std::move(outcome);
  Emit(std::move(out));
}

void Partition::Batch::AfterMemberChange(const std::string& member_key, MemberRecord* member,
                                         MemberDelta* delta, absl::string_view cause_event_id) {
  for (const auto& entry : delta->entries) {
    SerializeDeterministicTo(entry, &scratch_);
    staged_.Put(Cf::kLedger, keys::Ledger(member_key, entry.seq()), scratch_);
  }
  const UnixNanos due = NextDue(*member);
  if (due != member->indexed_due_ns()) {
    const auto& st = member->state();
    if (member->indexed_due_ns() != 0) {
      PutDue(keys::Due(st.program_id(), member->indexed_due_ns(), st.member_id()), false);
    }
    if (due != 0) {
      // Tick scans start at the previous tick time (ApplyTick) because of this.
      LOYALTY_CHECK(due > p_->tick_time_[st.program_id()])
          << "member " << st.member_id() << " due at " << due << ", not after the tick time";
      PutDue(keys::Due(st.program_id(), due, st.member_id()), true);
    }
    member->set_indexed_due_ns(due);
  }
  if (dirty_set_.insert(member_key).second) dirty_.push_back(member_key);
  if (!wants_outputs()) return;
  for (auto& entry : delta->entries) {
    OutboxRecord out;
    *out.mutable_entry() = std::move(entry);
    Emit(std::move(out));
  }
  if (delta->changed) {
    OutboxRecord out;
    *out.mutable_balance()->mutable_state() = member->state();
    out.mutable_balance()->set_cause_event_id(std::string(cause_event_id));
    Emit(std::move(out));
  }
}

absl::Status Partition::Batch::ApplyTick(const Event& e, const CompiledProgram& program,
                                         int64_t offset) {
  const UnixNanos now = *TimestampToNanos(e.tick().now());
  int64_t& tick_time = p_->tick_time_[program.program_id()];
  // Every due key at or before the previous tick time was matured by that
  // tick, and new keys are always due after the tick time: the scan starts
  // at the previous tick time.
  std::string from = keys::Due(program.program_id(), tick_time, "");
  if (now > tick_time) {
    tick_time = now;
    ticked_programs_.insert(program.program_id());
  }
  // Mature every member due at or before the tick time, through the due
  // index, in bounded passes: each pass collects up to kPassMax members, and
  // each matured member's index entry moves past tick_time or disappears.
  constexpr size_t kPassMax = 1024;
  const std::string upper = keys::Due(program.program_id(), tick_time + 1, "");
  std::vector<std::string> due_members;
  for (;;) {
    due_members.clear();
    LOYALTY_RETURN_IF_ERROR(DueMembers(&from, upper, kPassMax, &due_members));
    if (due_members.empty()) break;
    for (const std::string& member_id : due_members) {
      const std::string member_key = keys::Member(program.program_id(), member_id);
      LOYALTY_ASSIGN_OR_RETURN(MemberRecord * member, p_->FindMember(member_key));
      LOYALTY_CHECK(member != nullptr) << "due index names unknown member " << member_id;
      MemberDelta delta;
      ApplyMaturities(program, tick_time, member, &delta);
      std::vector<loyalty::v1::Outcome> tier_outcomes = std::move(delta.tier_outcomes);
      AfterMemberChange(member_key, member, &delta, e.event_id());
      for (auto& o : tier_outcomes) {
        o.set_event_id(e.event_id());
        EmitOutcome(std::move(o), offset);
      }
      LOYALTY_CHECK(member->indexed_due_ns() == 0 || member->indexed_due_ns() > tick_time)
          << "member " << member_id << " still due after its maturities";
    }
  }
  loyalty::v1::Outcome outcome;
  outcome.set_event_id(e.event_id());
  outcome.set_program_id(e.program_id());
  outcome.set_status(loyalty::v1::Outcome::APPLIED);
  *outcome.mutable_effective_at() = NanosToTimestamp(tick_time);
  EmitOutcome(std::move(outcome), offset);
  return absl::OkStatus();
}

absl::Status Partition::Batch::ApplyRecord(const InputRecord& rec, InputFormat format) {
  Event e;
  Rejection why = DecodeEvent(rec.bytes, format, &e);
  if (why.ok()) why = ValidateEvent(e, *p_->programs_);
  if (!why.ok()) {
    Reject(rec, why);
    return absl::OkStatus();
  }
  const CompiledProgram& program = *p_->programs_->Find(e.program_id());
  const std::string member_key = keys::Member(e.program_id(), e.member_id());

  // Dedupe on (program, member, event_id) with a digest of the payload.
  const std::string dedupe_key = keys::UnderMember(member_key, e.event_id());
  const Digest256 digest = Sha256(SerializeDeterministic(e));
  const std::string digest16(reinterpret_cast<const char*>(digest.data()), 16);
  LOYALTY_ASSIGN_OR_RETURN(auto seen, Get(Cf::kDedupe, dedupe_key));
  if (seen.has_value()) {
    if (*seen != digest16) {
      Reject(rec, Rejection{v1::DUPLICATE_CONFLICT,
                            absl::StrCat("event_id \"", e.event_id(),
                                         "\" was applied with another payload")});
      return absl::OkStatus();
    }
    if (outputs_ != nullptr) outputs_->duplicates++;
    loyalty::v1::Outcome outcome;
    outcome.set_event_id(e.event_id());
    outcome.set_program_id(e.program_id());
    outcome.set_member_id(e.member_id());
    outcome.set_status(loyalty::v1::Outcome::DUPLICATE);
    EmitOutcome(std::move(outcome), rec.offset);
    return absl::OkStatus();
  }
  if (e.has_purchase()) {
    LOYALTY_ASSIGN_OR_RETURN(
        auto order, Get(Cf::kOrders, keys::UnderMember(member_key, e.purchase().order_id())));
    if (order.has_value()) {
      Reject(rec,
             Rejection{v1::DUPLICATE_ORDER, absl::StrCat("order_id \"", e.purchase().order_id(),
                                                         "\" belongs to another event")});
      return absl::OkStatus();
    }
  }
  Put(Cf::kDedupe, dedupe_key, digest16);
  if (outputs_ != nullptr) outputs_->applied++;
  if (e.has_tick()) return ApplyTick(e, program, rec.offset);

  LOYALTY_ASSIGN_OR_RETURN(MemberRecord * member, p_->FindMember(member_key));
  if (member == nullptr)
    member = p_->InsertMember(member_key, NewMemberRecord(program, e.member_id()));
  const UnixNanos t = EffectiveTime(e, *member, p_->tick_time_[program.program_id()]);
  MemberDelta delta;
  applying_ = member;
  applying_key_ = &member_key;
  absl::Status applied = ApplyMemberEvent(program, e, t, member, this, &delta);
  applying_ = nullptr;
  applying_key_ = nullptr;
  LOYALTY_RETURN_IF_ERROR(applied);
  loyalty::v1::Outcome outcome = std::move(delta.outcome);
  std::vector<loyalty::v1::Outcome> tier_outcomes = std::move(delta.tier_outcomes);
  AfterMemberChange(member_key, member, &delta, e.event_id());
  EmitOutcome(std::move(outcome), rec.offset);
  for (auto& o : tier_outcomes) EmitOutcome(std::move(o), rec.offset);
  return absl::OkStatus();
}

rocksdb::WriteBatch* Partition::Batch::Finish(
    int64_t next_offset, const std::vector<std::pair<std::string, std::string>>& metadata) {
  for (const auto& [name, value] : metadata) {
    staged_.Put(Cf::kMeta, keys::Caller(name), value);
  }
  for (const std::string& key : dirty_) {
    auto it = p_->cache_.find(key);
    LOYALTY_CHECK(it != p_->cache_.end()) << "dirty member not cached";
    SerializeDeterministicTo(it->second->record, &scratch_);
    staged_.Put(Cf::kMembers, key, scratch_);
  }
  for (const std::string& program_id : ticked_programs_) {
    staged_.Put(Cf::kMeta, keys::Tick(program_id), keys::EncodeInt(p_->tick_time_[program_id]));
  }
  staged_.Put(Cf::kMeta, keys::kNextOffset, keys::EncodeInt(next_offset));
  if (p_->options_.outbox_enabled) {
    staged_.Put(Cf::kMeta, keys::kOutboxNextSeq, keys::EncodeInt(outbox_seq_));
  }
  staged_.MoveInto(p_->store_, &wb_);
  return &wb_;
}

Partition::Partition(const ProgramSet* programs, PartitionStore* store,
                     const PartitionOptions& options)
    : programs_(programs), store_(store), options_(options) {}

Partition::~Partition() = default;

absl::StatusOr<std::unique_ptr<Partition>> Partition::Open(const ProgramSet* programs,
                                                           PartitionStore* store,
                                                           const PartitionOptions& options) {
  auto p = std::unique_ptr<Partition>(new Partition(programs, store, options));
  LOYALTY_RETURN_IF_ERROR(p->Reload());
  return p;
}

absl::Status Partition::Reload() {
  // Drop everything in memory first: after this, nothing of a failed batch
  // remains, whatever the reads below do.
  poisoned_ = true;
  lru_.clear();
  cache_.clear();
  tick_time_.clear();
  auto read_int = [&](absl::string_view key, int64_t fallback) -> absl::StatusOr<int64_t> {
    LOYALTY_ASSIGN_OR_RETURN(auto v, store_->Get(Cf::kMeta, key));
    if (!v.has_value()) return fallback;
    if (v->size() != 8) {
      return absl::DataLossError(
          absl::StrCat(store_->path(), ": bad value of meta key ", absl::CHexEscape(key)));
    }
    return keys::DecodeInt(*v);
  };
  LOYALTY_ASSIGN_OR_RETURN(const int64_t next_offset, store_->GetNextOffset());
  LOYALTY_ASSIGN_OR_RETURN(const int64_t outbox_next_seq, read_int(keys::kOutboxNextSeq, 1));
  std::map<std::string, int64_t, std::less<>> tick_time;
  for (const std::string& id : programs_->ids()) {
    LOYALTY_ASSIGN_OR_RETURN(const int64_t t, read_int(keys::Tick(id), 0));
    if (t != 0) tick_time[id] = t;
  }
  next_offset_ = next_offset;
  outbox_next_seq_ = outbox_next_seq;
  tick_time_ = std::move(tick_time);
  poisoned_ = false;
  return absl::OkStatus();
}

absl::StatusOr<MemberRecord*> Partition::FindMember(const std::string& member_key) {
  auto it = cache_.find(member_key);
  if (it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->record;
  }
  LOYALTY_ASSIGN_OR_RETURN(auto v, store_->Get(Cf::kMembers, member_key));
  if (!v.has_value()) return nullptr;
  MemberRecord rec;
  if (!rec.ParseFromString(*v)) return absl::DataLossError("unreadable member record");
  return InsertMember(member_key, std::move(rec));
}

MemberRecord* Partition::InsertMember(const std::string& member_key, MemberRecord record) {
  lru_.push_front(CacheEntry{member_key, std::move(record)});
  cache_[member_key] = lru_.begin();
  return &lru_.front().record;
}

void Partition::EvictIfNeeded() {
  while (cache_.size() > options_.members_cached_max) {
    cache_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

absl::Status Partition::ApplyBatch(absl::Span<const InputRecord> records, InputFormat format,
                                   BatchOutputs* outputs, const PreCommit& pre_commit) {
  if (poisoned_) {
    // A failed batch could not be undone in memory; reading the store again
    // is the only way on.
    LOYALTY_RETURN_IF_ERROR(Reload());
  }
  Batch batch(this, outputs);
  int64_t last = -1;
  for (const InputRecord& rec : records) {
    if (rec.offset < next_offset_) {
      if (outputs != nullptr) outputs->skipped++;
      continue;
    }
    LOYALTY_CHECK(rec.offset > last) << "offsets must ascend: " << rec.offset << " after " << last;
    last = rec.offset;
    absl::Status s = batch.ApplyRecord(rec, format);
    if (!s.ok()) {
      (void)Reload();  // if this fails too, the next ApplyBatch retries it
      return s;
    }
  }
  if (last < 0) return absl::OkStatus();
  std::vector<std::pair<std::string, std::string>> metadata;
  absl::Status s;
  if (pre_commit) {
    static const BatchOutputs kNoOutputs;
    s = pre_commit(outputs != nullptr ? *outputs : kNoOutputs, &metadata);
  }
  if (s.ok()) s = store_->Write(batch.Finish(last + 1, metadata));
  if (!s.ok()) {
    // The cache holds this batch's effects, which did not land.
    (void)Reload();  // if this fails too, the next ApplyBatch retries it
    return s;
  }
  next_offset_ = last + 1;
  outbox_next_seq_ = batch.outbox_next_seq();
  EvictIfNeeded();
  return absl::OkStatus();
}

}  // namespace loyalty
