#include "engine/ledger/partition.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/apply/apply.h"
#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "google/protobuf/arena.h"

namespace loyalty {

using loyalty::v1::Event;
using loyalty::v1::MemberRecord;
using loyalty::v1::Outcome;

void BatchOutputs::Clear() {
  journal.Clear();
  applied = duplicates = rejected = skipped = 0;
  by_status.fill(0);
  by_reject_reason.fill(0);
  writes = WriteShape();
}

namespace {

// An arena that reuses one block of its own: Reset() frees only what
// outgrew it, so the steady state allocates nothing.
class ScratchArena {
 public:
  explicit ScratchArena(size_t block_bytes) : block_(new char[block_bytes]) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block_.get();
    o.initial_block_size = block_bytes;
    o.max_block_size = 1 << 20;
    arena_ = std::make_unique<google::protobuf::Arena>(o);
  }
  google::protobuf::Arena* get() { return arena_.get(); }
  void Reset() { arena_->Reset(); }

 private:
  std::unique_ptr<char[]> block_;
  std::unique_ptr<google::protobuf::Arena> arena_;  // after block_: destroyed first
};

}  // namespace

// The work of one ApplyBatch call; kept by the partition between batches so
// that its arenas and buffers are reused. It is the ApplyContext of the
// apply path: orders and counters read and write through the store batch,
// which sees the batch's own writes.
class Partition::Batch : public ApplyContext {
 public:
  explicit Batch(Partition* p) : p_(p), event_arena_(1 << 20), outcome_arena_(64 << 10) {}

  void Begin(StoreBatch* writes, BatchOutputs* outputs) {
    writes_ = writes;
    outputs_ = outputs;
    seq_ = p_->meta_.next_seq;
    dirty_.clear();
    ticked_.clear();
    decoded_.clear();
    event_arena_.Reset();
  }
  // Decodes and validates `rec` into the batch's arena, and tells the store
  // batch what its application will read (so that ReadAhead fetches the
  // batch's keys together).
  void Decode(const InputRecord& rec, InputFormat format);
  absl::Status ReadAhead() { return writes_->ReadAhead(); }
  // Applies the records Decode took, in order.
  absl::Status ApplyDecoded();
  // Stages member records, tick times, the journal value and the offsets.
  void Finish(int64_t next_offset);
  int64_t next_seq() const { return seq_; }
  // Clears the dirty marks (the batch committed, or never will).
  void EndBatch() {
    for (CacheEntry* e : dirty_) e->dirty = false;
    dirty_.clear();
  }

  // ApplyContext.
  absl::StatusOr<std::optional<loyalty::v1::OrderRecord>> GetOrder(
      const MemberRecord& member, absl::string_view order_id) override {
    loyalty::v1::OrderRecord order;
    LOYALTY_ASSIGN_OR_RETURN(bool found, writes_->GetOrder(MemberRefOf(member), order_id, &order));
    if (!found) return std::optional<loyalty::v1::OrderRecord>();
    return std::optional<loyalty::v1::OrderRecord>(std::move(order));
  }
  void PutOrder(const MemberRecord& member, absl::string_view order_id,
                const loyalty::v1::OrderRecord& order) override {
    writes_->PutOrder(MemberRefOf(member), order_id, order);
  }
  absl::StatusOr<int64_t> GetCounter(const MemberRecord& member, absl::string_view name) override {
    return writes_->GetCounter(MemberRefOf(member), name);
  }
  void PutCounter(const MemberRecord& member, absl::string_view name, int64_t value) override {
    writes_->PutCounter(MemberRefOf(member), name, value);
  }

 private:
  void Reject(const InputRecord& rec, const Rejection& why);
  // The outcome's journal record (and the member's balance update if it
  // changed). Resets the outcome arena.
  void Emit(Outcome* outcome, int64_t offset, const MemberRecord* changed_member);
  absl::Status ApplyTick(const Event& e, const ProgramHistory& program, int64_t offset);
  // Keeps the member's due-index entry at or before its next maturity:
  // moved only when the next maturity comes earlier than the entry (or the
  // member had none). At a tick (`visited`), set exactly.
  void Reindex(CacheEntry* entry, bool visited);
  void MarkDirty(CacheEntry* entry) {
    if (!entry->dirty) {
      entry->dirty = true;
      dirty_.push_back(entry);
    }
  }
  Outcome* NewOutcome() {
    return google::protobuf::Arena::CreateMessage<Outcome>(outcome_arena_.get());
  }

  Partition* p_;
  StoreBatch* writes_ = nullptr;
  BatchOutputs* outputs_ = nullptr;
  int64_t seq_ = 1;
  // A record decoded ahead of its application.
  struct Decoded {
    InputRecord rec;
    Event* event = nullptr;  // in event_arena_
    Rejection why;           // not ok: to the DLQ
  };
  absl::Status ApplyRecord(const Decoded& d);

  ScratchArena event_arena_;  // the batch's decoded events
  std::vector<Decoded> decoded_;
  ScratchArena outcome_arena_;      // the outcome being built
  std::vector<CacheEntry*> dirty_;  // first-touched order
  std::set<std::string> ticked_;    // programs whose tick time moved; written in Finish
  std::string serialized_;          // the event, for its dedupe digest
  std::string seen_digest_;         // a stored dedupe digest
  std::string tick_cursor_;
  std::vector<std::string> due_members_;
};

void Partition::Batch::Reject(const InputRecord& rec, const Rejection& why) {
  outputs_->rejected++;
  outputs_->by_reject_reason[static_cast<size_t>(why.reason)]++;
  loyalty::v1::DlqRecord dlq;
  dlq.set_raw(rec.bytes.data(), rec.bytes.size());
  dlq.set_reason(why.reason);
  // The detail may quote the input (a JSON parser's message); the DLQ
  // record is proto3, whose strings must be UTF-8 for every reader.
  if (IsValidUtf8(why.detail)) {
    dlq.set_detail(why.detail);
  } else {
    dlq.set_detail(ToValidUtf8(why.detail));
  }
  dlq.set_offset(rec.offset);
  dlq.set_partition(p_->options_.partition);
  outputs_->journal.AddDlq(seq_++, dlq);
}

void Partition::Batch::Emit(Outcome* outcome, int64_t offset, const MemberRecord* changed_member) {
  outcome->set_offset(offset);
  outputs_->by_status[static_cast<size_t>(outcome->status())]++;
  outputs_->journal.AddOutcome(seq_++, *outcome);
  if (changed_member != nullptr) {
    outputs_->journal.AddBalance(seq_++, changed_member->state(), outcome->event_id());
  }
  outcome_arena_.Reset();
}

void Partition::Batch::Reindex(CacheEntry* entry, bool visited) {
  MemberRecord& m = entry->record;
  const UnixNanos due = NextDue(m);
  const UnixNanos indexed = m.indexed_due_ns();
  if (due == indexed) return;
  // Between ticks an entry earlier than the next maturity is left alone
  // (the tick that reaches it re-indexes the member): a member whose grace
  // review moves with every event would otherwise move its entry with
  // every event.
  if (!visited && indexed != 0 && (due == 0 || due > indexed)) return;
  const MemberRef ref = MemberRefOf(m);
  if (indexed != 0) writes_->DeleteDue(ref, indexed);
  if (due != 0) {
    // Tick scans start at the previous tick time (ApplyTick) because of this.
    const auto tick = p_->meta_.tick_time.find(ref.program_id.value());
    LOYALTY_CHECK(tick == p_->meta_.tick_time.end() || due > tick->second)
        << "member " << ref.member_id << " due at " << due << ", not after the tick time";
    writes_->PutDue(ref, due);
  }
  m.set_indexed_due_ns(due);
  MarkDirty(entry);
}

absl::Status Partition::Batch::ApplyTick(const Event& e, const ProgramHistory& program,
                                         int64_t offset) {
  const UnixNanos now = CheckedNanos(e.tick().now(), "tick.now");
  const std::string& program_id = program.program_id();
  auto [it, inserted] = p_->meta_.tick_time.try_emplace(program_id, 0);
  const int64_t previous = it->second;
  Outcome* tick = NewOutcome();
  tick->set_event_id(e.event_id());
  tick->set_program_id(program_id);
  if (now <= previous) {
    // A tick that does not move the partition's clock changes nothing.
    if (inserted) p_->meta_.tick_time.erase(it);
    SetOutcomeReason(Outcome::STALE_TICK, tick);
    SetTimestamp(previous, tick->mutable_effective_at());
    Emit(tick, offset, nullptr);
    return absl::OkStatus();
  }
  it->second = now;
  ticked_.insert(program_id);
  p_->NoteApplied(program, now);
  // Every due-index entry at or before the previous tick time was visited
  // by that tick, and new entries are always after the tick time (Reindex):
  // the scan covers (previous, now], in bounded passes. A visited member's
  // entry moves past `now` or disappears.
  constexpr size_t kPassMax = 1024;
  tick_cursor_.clear();
  for (;;) {
    due_members_.clear();
    LOYALTY_RETURN_IF_ERROR(writes_->ScanDue(ProgramId(program_id), previous, now, kPassMax,
                                             &tick_cursor_, &due_members_));
    if (due_members_.empty()) break;
    for (const std::string& member_id : due_members_) {
      LOYALTY_ASSIGN_OR_RETURN(CacheEntry * entry, p_->FindMember(MemberRef{ProgramId(program_id),
                                                                            MemberId(member_id)}));
      LOYALTY_CHECK(entry != nullptr) << "due index names unknown member " << member_id;
      MemberRecord& member = entry->record;
      Outcome* matured = NewOutcome();
      MemberDelta delta{matured};
      ApplyMaturities(program, now, &member, &delta);
      Reindex(entry, /*visited=*/true);
      LOYALTY_CHECK(member.indexed_due_ns() == 0 || member.indexed_due_ns() > now)
          << "member " << member_id << " still due after its maturities";
      if (delta.changed) {
        MarkDirty(entry);
        matured->set_event_id(e.event_id());
        Emit(matured, offset, &member);
      } else {
        outcome_arena_.Reset();
      }
    }
  }
  // The scan's own outcomes were emitted; `tick` lives in the outcome
  // arena, which Emit reset: build it again.
  tick = NewOutcome();
  tick->set_event_id(e.event_id());
  tick->set_program_id(program_id);
  tick->set_status(Outcome::APPLIED);
  SetTimestamp(now, tick->mutable_effective_at());
  Emit(tick, offset, nullptr);
  return absl::OkStatus();
}

void Partition::Batch::Decode(const InputRecord& rec, InputFormat format) {
  Decoded& d = decoded_.emplace_back();
  d.rec = rec;
  d.event = google::protobuf::Arena::CreateMessage<Event>(event_arena_.get());
  d.why = DecodeEvent(rec.bytes, format, d.event);
  if (d.why.ok()) d.why = ValidateEvent(*d.event, *p_->programs_);
  if (!d.why.ok()) return;
  const Event& e = *d.event;
  const MemberRef ref{ProgramId(e.program_id()), MemberId(e.member_id())};
  writes_->ExpectDedupe(ref, e.event_id());
  if (e.has_purchase()) writes_->ExpectOrder(ref, e.purchase().order_id());
  if (e.has_refund()) writes_->ExpectOrder(ref, e.refund().order_id());
  if (!e.has_tick() && !p_->IsCached(ref)) writes_->ExpectMember(ref);
}

absl::Status Partition::Batch::ApplyDecoded() {
  for (const Decoded& d : decoded_) LOYALTY_RETURN_IF_ERROR(ApplyRecord(d));
  return absl::OkStatus();
}

absl::Status Partition::Batch::ApplyRecord(const Decoded& d) {
  outcome_arena_.Reset();
  const InputRecord& rec = d.rec;
  if (!d.why.ok()) {
    Reject(rec, d.why);
    return absl::OkStatus();
  }
  Event* e = d.event;
  const ProgramHistory& program = *p_->programs_->FindHistory(e->program_id());
  const MemberRef ref{ProgramId(e->program_id()), MemberId(e->member_id())};

  // Dedupe on (program, member, event_id) with a digest of the payload.
  SerializeDeterministicTo(*e, &serialized_);
  const Digest256 digest = Sha256(serialized_);
  const absl::string_view digest16(reinterpret_cast<const char*>(digest.data()), 16);
  LOYALTY_ASSIGN_OR_RETURN(bool seen, writes_->GetDedupe(ref, e->event_id(), &seen_digest_));
  if (seen) {
    if (seen_digest_ != digest16) {
      Reject(rec, Rejection{v1::DUPLICATE_CONFLICT,
                            absl::StrCat("event_id \"", e->event_id(),
                                         "\" was applied with another payload")});
      return absl::OkStatus();
    }
    outputs_->duplicates++;
    Outcome* outcome = NewOutcome();
    outcome->set_event_id(e->event_id());
    outcome->set_program_id(e->program_id());
    outcome->set_member_id(e->member_id());
    outcome->set_status(Outcome::DUPLICATE);
    Emit(outcome, rec.offset, nullptr);
    return absl::OkStatus();
  }
  if (e->has_purchase()) {
    loyalty::v1::OrderRecord order;
    LOYALTY_ASSIGN_OR_RETURN(bool exists, writes_->GetOrder(ref, e->purchase().order_id(), &order));
    if (exists) {
      Reject(rec,
             Rejection{v1::DUPLICATE_ORDER, absl::StrCat("order_id \"", e->purchase().order_id(),
                                                         "\" belongs to another event")});
      return absl::OkStatus();
    }
  }
  writes_->PutDedupe(ref, e->event_id(), digest16);
  outputs_->applied++;
  if (e->has_tick()) return ApplyTick(*e, program, rec.offset);

  LOYALTY_ASSIGN_OR_RETURN(CacheEntry * entry, p_->FindMember(ref));
  if (entry == nullptr) {
    entry = p_->InsertMember(ref, NewMemberRecord(program.base(), e->member_id()));
  }
  MemberRecord& member = entry->record;
  const auto tick = p_->meta_.tick_time.find(program.program_id());
  const UnixNanos t =
      EffectiveTime(*e, member, tick == p_->meta_.tick_time.end() ? 0 : tick->second);
  Outcome* outcome = NewOutcome();
  MemberDelta delta{outcome};
  p_->NoteApplied(program, t);
  LOYALTY_RETURN_IF_ERROR(ApplyMemberEvent(program, *e, t, &member, this, &delta));
  // The clock moved at least: the record is written whatever the outcome.
  MarkDirty(entry);
  Reindex(entry, /*visited=*/false);
  Emit(outcome, rec.offset, delta.changed ? &member : nullptr);
  return absl::OkStatus();
}

void Partition::Batch::Finish(int64_t next_offset) {
  for (CacheEntry* entry : dirty_) {
    // Checked before it is written (and after it is read): a broken
    // invariant never reaches the store.
    LOYALTY_CHECK_OK(CheckMemberRecord(entry->record));
    writes_->PutMember(MemberRefOf(entry->record), entry->record);
  }
  for (const std::string& program_id : ticked_) {
    writes_->SetTickTime(ProgramId(program_id), p_->meta_.tick_time.at(program_id));
  }
  p_->StageProgramClocks(writes_);
  if (!outputs_->journal.empty()) {
    writes_->PutJournal(outputs_->journal.first_seq(), outputs_->journal.bytes());
  }
  writes_->SetNextOffset(next_offset);
  writes_->SetNextSeq(seq_);
}

Partition::Partition(const ProgramSet* programs, PartitionStore* store,
                     const PartitionOptions& options)
    : programs_(programs),
      store_(store),
      options_(options),
      store_batch_(std::make_unique<StoreBatch>(store)),
      batch_(std::make_unique<Batch>(this)) {}

Partition::~Partition() = default;

absl::StatusOr<std::unique_ptr<Partition>> Partition::Open(const ProgramSet* programs,
                                                           PartitionStore* store,
                                                           const PartitionOptions& options) {
  auto p = std::unique_ptr<Partition>(new Partition(programs, store, options));
  LOYALTY_RETURN_IF_ERROR(p->Reload());
  LOYALTY_RETURN_IF_ERROR(p->CheckProgramVersions());
  return p;
}

absl::Status Partition::Reload() {
  // Drop everything in memory first: after this, nothing of a failed batch
  // remains, whatever the reads below do.
  poisoned_ = true;
  lru_.clear();
  cache_.clear();
  store_batch_->Clear();
  LOYALTY_ASSIGN_OR_RETURN(meta_, store_->ReadMeta(programs_->ids()));
  LOYALTY_RETURN_IF_ERROR(LoadProgramClocks());
  poisoned_ = false;
  return absl::OkStatus();
}

const std::string& Partition::CacheKey(const MemberRef& member) {
  lookup_.clear();
  const absl::string_view program_id = member.program_id.value();
  const absl::string_view member_id = member.member_id.value();
  lookup_.append(program_id.data(), program_id.size());
  lookup_.push_back('\0');
  lookup_.append(member_id.data(), member_id.size());
  return lookup_;
}

bool Partition::IsCached(const MemberRef& member) { return cache_.contains(CacheKey(member)); }

absl::StatusOr<Partition::CacheEntry*> Partition::FindMember(const MemberRef& member) {
  auto it = cache_.find(CacheKey(member));
  if (it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
  }
  MemberRecord rec;
  LOYALTY_ASSIGN_OR_RETURN(bool found, store_batch_->GetMember(member, &rec));
  if (!found) return nullptr;
  absl::Status check = CheckMemberRecord(rec);
  if (!check.ok()) {
    return absl::DataLossError(absl::StrCat(store_->path(), ": ", check.message()));
  }
  return InsertMember(member, std::move(rec));
}

Partition::CacheEntry* Partition::InsertMember(const MemberRef& member, MemberRecord record) {
  std::string key = CacheKey(member);
  lru_.push_front(CacheEntry{key, std::move(record), false});
  cache_[std::move(key)] = lru_.begin();
  return &lru_.front();
}

void Partition::EvictIfNeeded() {
  while (cache_.size() > options_.members_cached_max) {
    LOYALTY_CHECK(!lru_.back().dirty) << "evicting a member the batch has not written";
    cache_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

absl::Status Partition::ApplyBatch(absl::Span<const InputRecord> records, InputFormat format,
                                   BatchOutputs* outputs, const PreCommit& pre_commit) {
  if (outputs == nullptr) outputs = &own_outputs_;
  outputs->Clear();
  if (poisoned_) {
    // A failed batch could not be undone in memory; reading the store again
    // is the only way on.
    LOYALTY_RETURN_IF_ERROR(Reload());
  }
  // Everything staged from here on is this batch's.
  StoreBatch* writes = store_batch_.get();
  writes->Clear();
  batch_->Begin(writes, outputs);
  auto fail = [&](absl::Status s) {
    batch_->EndBatch();
    writes->Clear();
    (void)Reload();  // if this fails too, the next ApplyBatch retries it
    return s;
  };
  // Decode every record first, so that the reads their application makes
  // (dedupe digests, orders, members not cached) go to the store together.
  int64_t last = -1;
  for (const InputRecord& rec : records) {
    if (rec.offset < meta_.next_offset) {
      outputs->skipped++;
      continue;
    }
    LOYALTY_CHECK(rec.offset > last) << "offsets must ascend: " << rec.offset << " after " << last;
    last = rec.offset;
    batch_->Decode(rec, format);
  }
  if (last < 0) return absl::OkStatus();
  if (absl::Status s = batch_->ReadAhead(); !s.ok()) return fail(s);
  if (absl::Status s = batch_->ApplyDecoded(); !s.ok()) return fail(s);
  batch_->Finish(last + 1);
  absl::Status s;
  if (pre_commit) s = pre_commit(*outputs, writes);
  if (s.ok()) s = store_->Write(writes, &outputs->writes);
  if (!s.ok()) return fail(s);
  batch_->EndBatch();  // written: nothing is dirty any more
  ProgramClocksStored();
  meta_.next_offset = last + 1;
  meta_.next_seq = batch_->next_seq();
  EvictIfNeeded();
  return absl::OkStatus();
}

// --- Program versions (SPEC §10) --------------------------------------------

namespace {

constexpr char kVersionsHelp[] =
    "restore the version as it was, and put the change in a new version with a future "
    "effective_from (docs/operations.md, \"Rolling out a new program version\")";

std::string ShortHash(const std::string& hash) { return hash.substr(0, 12); }

}  // namespace

absl::Status Partition::LoadProgramClocks() {
  clocks_.clear();
  clock_index_.clear();
  last_clock_ = nullptr;
  for (const std::string& id : programs_->ids()) {
    ProgramClock& c = clocks_.emplace_back();
    c.program = programs_->FindHistory(id);
    LOYALTY_ASSIGN_OR_RETURN(std::optional<int64_t> t_max,
                             store_->GetAppliedTimeMax(ProgramId(id)));
    if (t_max.has_value()) c.applied_t_max = *t_max;
    // The versions in force by then were recorded with the batches that
    // reached them (CheckProgramVersions holds the file to that).
    while (c.versions_applied < c.program->size() &&
           c.program->version(c.versions_applied).effective_from_ns() <= c.applied_t_max &&
           c.applied_t_max != INT64_MIN) {
      ++c.versions_applied;
    }
    c.versions_stored = c.versions_applied;
    c.next_version_from = c.versions_applied < c.program->size()
                              ? c.program->version(c.versions_applied).effective_from_ns()
                              : INT64_MAX;
    clock_index_[c.program] = clocks_.size() - 1;
  }
  return absl::OkStatus();
}

void Partition::RaiseAppliedTime(ProgramClock* c, int64_t t) {
  c->applied_t_max = t;
  c->changed = true;
  while (t >= c->next_version_from) {
    ++c->versions_applied;
    c->next_version_from = c->versions_applied < c->program->size()
                               ? c->program->version(c->versions_applied).effective_from_ns()
                               : INT64_MAX;
  }
}

void Partition::StageProgramClocks(StoreBatch* batch) {
  for (ProgramClock& c : clocks_) {
    if (!c.changed) continue;
    const ProgramId id(c.program->program_id());
    batch->SetAppliedTimeMax(id, c.applied_t_max);
    for (size_t i = c.versions_stored; i < c.versions_applied; ++i) {
      const CompiledProgram& v = c.program->version(i);
      batch->RecordProgramVersion(AppliedProgramVersion{c.program->program_id(), v.version(),
                                                        v.hash(), v.effective_from(),
                                                        v.effective_from_ns()});
    }
  }
}

void Partition::ProgramClocksStored() {
  for (ProgramClock& c : clocks_) {
    c.changed = false;
    c.versions_stored = c.versions_applied;
  }
}

absl::Status Partition::CheckProgramVersions() {
  LOYALTY_ASSIGN_OR_RETURN(std::vector<AppliedProgramVersion> applied, store_->AppliedVersions());
  // (a) Every recorded version of a loaded program is in its file, unchanged.
  // A program no longer loaded is not checked: its events are refused as
  // UNKNOWN_PROGRAM, nothing is applied under other rules.
  for (const AppliedProgramVersion& a : applied) {
    const ProgramHistory* program = programs_->FindHistory(a.program_id);
    if (program == nullptr) continue;
    const CompiledProgram* v = program->FindVersion(a.version);
    if (v == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "program \"", a.program_id, "\" version \"", a.version, "\" is missing from ",
          program->source_path(), ", but ", store_->path(), " applied it (hash ", ShortHash(a.hash),
          a.effective_from.empty() ? ", the base version"
                                   : absl::StrCat(", effective from ", a.effective_from),
          "); a version in force may not change or go (events already applied would be "
          "re-interpreted): ",
          kVersionsHelp));
    }
    if (v->hash() != a.hash) {
      return absl::FailedPreconditionError(
          absl::StrCat("program \"", a.program_id, "\" version \"", a.version, "\" in ",
                       program->source_path(), " is not the version ", store_->path(),
                       " applied: hash ", ShortHash(v->hash()), " in the file, ", ShortHash(a.hash),
                       " recorded when it came into force there; a version in force may not change "
                       "(events already applied would be re-interpreted): ",
                       kVersionsHelp));
    }
  }
  // (b) No version of the file comes into force at or before what was
  // applied without having been recorded: it would re-interpret events
  // applied under the versions before it.
  for (const ProgramClock& c : clocks_) {
    if (c.applied_t_max == INT64_MIN) continue;
    for (size_t i = 0; i < c.program->size(); ++i) {
      const CompiledProgram& v = c.program->version(i);
      if (v.effective_from_ns() > c.applied_t_max) break;
      const bool recorded = std::any_of(applied.begin(), applied.end(), [&](const auto& a) {
        return a.program_id == c.program->program_id() && a.version == v.version();
      });
      if (recorded) continue;
      const std::string applied_until = FormatRfc3339(c.applied_t_max);
      return absl::FailedPreconditionError(absl::StrCat(
          "program \"", c.program->program_id(), "\" version \"", v.version(), "\" in ",
          c.program->source_path(), " takes effect at ",
          v.effective_from().empty() ? "the beginning of time" : v.effective_from(), ", but ",
          store_->path(), " has already applied events of \"", c.program->program_id(), "\" up to ",
          applied_until,
          " under the versions before it, which it would re-interpret: give the new version "
          "an effective_from after ",
          applied_until, " (docs/operations.md, \"Rolling out a new program version\")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace loyalty
