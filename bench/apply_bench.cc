// Micro-benchmarks of the ledger core (SPEC §9, issue 5): decoding,
// validation, the pure apply path per event kind, building the RocksDB
// WriteBatch of a batch, the random-reward draw, program loading, and a whole
// partition batch (decode .. RocksDB write). Items are events (programs for
// BM_ProgramLoad, draws for BM_RandomDraw), so items_per_second reads as
// events/s. bench/README.md lists what each one measures.
//
// Inputs are prepared outside the timed loops and cached across the runs
// Google Benchmark makes of one benchmark, so that
// `apply_bench --benchmark_min_time=0.01` stays quick enough for CI.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "bench/alloc_count.h"
#include "benchmark/benchmark.h"
#include "engine/apply/apply.h"
#include "engine/apply/validate.h"
#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/time.h"
#include "engine/ledger/partition.h"
#include "engine/program/program.h"
#include "engine/store/journal.h"
#include "engine/store/store.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"

#ifndef LOYALTY_PROGRAMS_DIR
#error "bench/CMakeLists.txt defines LOYALTY_PROGRAMS_DIR (the source tree's programs/)"
#endif

namespace loyalty {
namespace {

using loyalty::v1::Event;
using loyalty::v1::MemberRecord;
using loyalty::v1::OrderRecord;
using loyalty::v1::Outcome;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "apply_bench: %s\n", what.c_str());
  std::abort();
}

// ---------------------------------------------------------------------------
// Shared inputs, built once per process.

// The test café (tests/testing/event_gen.h): every programme rule of SPEC §5.
const ProgramSet& Programs() {
  static const ProgramSet* set = [] {
    auto* s = new ProgramSet;
    auto p = ParseProgramText(testing::CafeProgramText(), "cafe");
    if (!p.ok()) Die(p.status().ToString());
    if (!s->Add(std::move(*p)).ok()) Die("cannot add cafe");
    return s;
  }();
  return *set;
}
const CompiledProgram& Cafe() { return *Programs().Find("cafe"); }
// The café with its versions (one), as the apply path takes it.
const ProgramHistory& CafeHistory() { return *Programs().FindHistory("cafe"); }

// Generated café stream: all event kinds, a tick every 1000 lines, no bad
// lines or duplicates. Long enough that no partition-batch run wraps around
// into duplicates (checked in PartitionBatch).
constexpr int64_t kStreamEvents = 200'000;

// kStreamEvents lines of the café over `members` members.
std::vector<std::string> StreamLines(uint64_t seed, int64_t members) {
  testing::GeneratorOptions o;
  o.seed = seed;
  o.events = kStreamEvents;
  o.members = members;
  o.two_programs = false;
  o.bad_permille = 0;
  o.duplicate_permille = 0;
  return testing::GenerateStream(o).lines;
}

const std::vector<std::string>& JsonLines() {
  static const auto* lines = new std::vector<std::string>(StreamLines(99, 100'000));
  return *lines;
}

// `lines` as Kafka carries them: binary protobuf.
std::vector<std::string>* ToBinary(const std::vector<std::string>& lines) {
  auto* out = new std::vector<std::string>;
  Event e;
  for (const auto& l : lines) {
    if (DecodeEvent(l, InputFormat::kJson, &e).ok()) out->push_back(e.SerializeAsString());
  }
  return out;
}

// The same stream as Kafka carries it: binary protobuf.
const std::vector<std::string>& BinaryRecords() {
  static const std::vector<std::string>* records = ToBinary(JsonLines());
  return *records;
}

// A stream of the same mix over 2,000 members only: after its first
// batches every member is in the partition's cache, the steady state of hot
// members.
const std::vector<std::string>& WarmBinaryRecords() {
  static const std::vector<std::string>* records = ToBinary(StreamLines(98, 2'000));
  return *records;
}

// The first `n` events of the stream, decoded.
std::vector<Event> DecodedEvents(size_t n) {
  std::vector<Event> out;
  for (const auto& b : BinaryRecords()) {
    if (out.size() == n) break;
    Event e;
    if (!DecodeEvent(b, InputFormat::kBinary, &e).ok()) Die("undecodable generated event");
    out.push_back(std::move(e));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Decode and validate.

constexpr size_t kDecodeSample = 10'000;

void BM_DecodeJson(benchmark::State& state) {
  const auto& lines = JsonLines();
  const size_t n = std::min(kDecodeSample, lines.size());
  Event e;
  // Warm-up: protobuf builds its JSON type resolver on the first parse.
  if (!DecodeEvent(lines[0], InputFormat::kJson, &e).ok()) Die("undecodable line");
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeEvent(lines[i++ % n], InputFormat::kJson, &e));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeJson);

void BM_DecodeBinary(benchmark::State& state) {
  const auto& binary = BinaryRecords();
  const size_t n = std::min(kDecodeSample, binary.size());
  Event e;
  if (!DecodeEvent(binary[0], InputFormat::kBinary, &e).ok()) Die("undecodable record");
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeEvent(binary[i++ % n], InputFormat::kBinary, &e));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeBinary);

// The stateless SPEC §7 checks on decoded events of the generated mix.
void BM_Validate(benchmark::State& state) {
  const std::vector<Event> events = DecodedEvents(kDecodeSample);
  const ProgramSet& programs = Programs();
  for (const Event& e : events) {
    if (!ValidateEvent(e, programs).ok()) Die("generated event fails validation");
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ValidateEvent(events[i++ % events.size()], programs));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Validate);

// ---------------------------------------------------------------------------
// The pure apply path.

// ApplyContext over hash maps: what the partition's batch overlay does
// without the store behind it. Optionally logs its writes (for the
// WriteBatch benchmarks, which replay them).
class MapContext : public ApplyContext {
 public:
  struct OrderWrite {
    std::string order_id;
    OrderRecord order;
  };
  struct CounterWrite {
    std::string name;
    int64_t value = 0;
  };

  absl::StatusOr<std::optional<OrderRecord>> GetOrder(const MemberRecord& member,
                                                      absl::string_view order_id) override {
    auto it = orders_.find(Key(member, order_id));
    if (it == orders_.end()) return std::optional<OrderRecord>();
    return std::optional<OrderRecord>(it->second);
  }
  void PutOrder(const MemberRecord& member, absl::string_view order_id,
                const OrderRecord& order) override {
    orders_.insert_or_assign(Key(member, order_id), order);
    if (order_log_ != nullptr) order_log_->push_back({std::string(order_id), order});
  }
  absl::StatusOr<int64_t> GetCounter(const MemberRecord& member, absl::string_view name) override {
    auto it = counters_.find(Key(member, name));
    return it == counters_.end() ? 0 : it->second;
  }
  void PutCounter(const MemberRecord& member, absl::string_view name, int64_t value) override {
    counters_.insert_or_assign(Key(member, name), value);
    if (counter_log_ != nullptr) counter_log_->push_back({std::string(name), value});
  }

  void LogTo(std::vector<OrderWrite>* orders, std::vector<CounterWrite>* counters) {
    order_log_ = orders;
    counter_log_ = counters;
  }

 private:
  static std::string Key(const MemberRecord& m, absl::string_view name) {
    return absl::StrCat(m.state().member_id(), absl::string_view("\0", 1), name);
  }
  absl::flat_hash_map<std::string, OrderRecord> orders_;
  absl::flat_hash_map<std::string, int64_t> counters_;
  std::vector<OrderWrite>* order_log_ = nullptr;
  std::vector<CounterWrite>* counter_log_ = nullptr;
};

UnixNanos Rfc3339(absl::string_view text) {
  auto t = ParseRfc3339(text);
  if (!t.ok()) Die(t.status().ToString());
  return *t;
}

Event NewEvent(absl::string_view event_id, absl::string_view member_id, UnixNanos at) {
  Event e;
  e.set_event_id(std::string(event_id));
  e.set_program_id("cafe");
  e.set_member_id(std::string(member_id));
  *e.mutable_occurred_at() = NanosToTimestamp(at);
  e.set_source("pos");
  return e;
}

// A purchase of `items` line items, 4.50 EUR each, categories cycling
// through coffee (x2), food, pastry and gift_card (x0).
Event Purchase(absl::string_view event_id, absl::string_view member_id, absl::string_view order_id,
               int items, UnixNanos at) {
  static constexpr const char* kCategories[] = {"coffee", "food", "pastry", "coffee", "gift_card"};
  Event e = NewEvent(event_id, member_id, at);
  auto* p = e.mutable_purchase();
  p->set_order_id(std::string(order_id));
  p->set_currency("EUR");
  p->set_store_id("store-1");
  for (int i = 0; i < items; ++i) {
    auto* item = p->add_items();
    item->set_sku(absl::StrCat("sku-", i));
    item->set_category(kCategories[i % 5]);
    item->set_quantity(1);
    item->set_amount_minor(450);
  }
  p->set_amount_minor(450 * items);
  return e;
}

enum class Kind { kPurchase, kEngagement, kRedemption, kRefund, kAdjustment, kMembership, kTick };

// Members with a history: each got 1,000 points by adjustment and three
// purchases (orders that refunds can name), so that redemptions and
// clawbacks succeed, on Monday 2024-05-06 in Paris. The benchmarked events
// happen the next day, a Tuesday outside every promotion window; ticks
// mature the members a year later, when every lot has expired.
struct ApplyFixture {
  static constexpr int kMembers = 512;
  std::vector<MemberRecord> members;
  MapContext ctx;
  UnixNanos seed_at = Rfc3339("2024-05-06T08:00:00Z");
  UnixNanos event_at = Rfc3339("2024-05-07T10:00:00Z");
  UnixNanos tick_at = Rfc3339("2025-06-01T00:00:00Z");

  static std::string MemberId(int k) { return absl::StrCat("m", k); }
  static std::string SeedOrder(int k, int j) { return absl::StrCat("seed-o", k, "-", j); }

  ApplyFixture() {
    const CompiledProgram& cafe = Cafe();
    for (int k = 0; k < kMembers; ++k) {
      const std::string id = MemberId(k);
      MemberRecord rec = NewMemberRecord(cafe, id);
      std::vector<Event> seed;
      Event adj = NewEvent(absl::StrCat("seed-a", k), id, seed_at);
      adj.mutable_adjustment()->set_points(1000);
      adj.mutable_adjustment()->set_reason("welcome");
      seed.push_back(std::move(adj));
      for (int j = 0; j < 3; ++j) {
        seed.push_back(Purchase(absl::StrCat("seed-p", k, "-", j), id, SeedOrder(k, j), 3,
                                seed_at + (j + 1) * 3600 * kNanosPerSecond));
      }
      for (const Event& e : seed) {
        Outcome outcome;
        MemberDelta delta{&outcome};
        absl::Status s =
            ApplyMemberEvent(CafeHistory(), e, EffectiveTime(e, rec, 0), &rec, &ctx, &delta);
        if (!s.ok()) Die(s.ToString());
        if (outcome.status() != Outcome::APPLIED) Die("seed not applied");
      }
      members.push_back(std::move(rec));
    }
  }

  // One event of `kind` per member.
  std::vector<Event> Events(Kind kind, int items) const {
    std::vector<Event> out;
    for (int k = 0; k < kMembers; ++k) {
      const std::string id = MemberId(k);
      const std::string eid = absl::StrCat("bench-", k);
      Event e = NewEvent(eid, id, event_at);
      switch (kind) {
        case Kind::kPurchase:
          e = Purchase(eid, id, absl::StrCat("order-", k), items, event_at);
          break;
        case Kind::kEngagement:
          e.mutable_engagement()->set_action("like");
          e.mutable_engagement()->set_ref(absl::StrCat("post-", k));
          break;
        case Kind::kRedemption:
          e.mutable_redemption()->set_reward_id("free-coffee");
          break;
        case Kind::kRefund:
          e.mutable_refund()->set_order_id(SeedOrder(k, 0));
          e.mutable_refund()->set_amount_minor(450);
          break;
        case Kind::kAdjustment:
          e.mutable_adjustment()->set_points(k % 2 == 0 ? 25 : -25);
          e.mutable_adjustment()->set_reason("goodwill");
          e.mutable_adjustment()->set_operator_id("ops-1");
          break;
        case Kind::kMembership:
          e.mutable_membership()->set_plan_id("vip");
          break;
        case Kind::kTick:
          break;
      }
      out.push_back(std::move(e));
    }
    return out;
  }
};

const ApplyFixture& Fixture() {
  static const ApplyFixture* f = new ApplyFixture;
  return *f;
}

// Applies event k (or, for ticks, the maturities due at the tick time) to
// member k. REQUIRES: members and ctx as the fixture seeded them.
void ApplyOne(Kind kind, const ApplyFixture& f, const Event& e, MemberRecord* member,
              MapContext* ctx, MemberDelta* delta) {
  const ProgramHistory& cafe = CafeHistory();
  if (kind == Kind::kTick) {
    ApplyMaturities(cafe, f.tick_at, member, delta);
    return;
  }
  absl::Status s = ApplyMemberEvent(cafe, e, EffectiveTime(e, *member, 0), member, ctx, delta);
  if (!s.ok()) Die(s.ToString());
}

// Each timed iteration applies one event to its own seeded member; every
// kMembers events the members and the context are restored from the
// fixture with the timer paused, so the state never drifts (no member
// runs out of points, no order is refunded twice).
void BM_Apply(benchmark::State& state, Kind kind, int items) {
  const ApplyFixture& f = Fixture();
  const std::vector<Event> events = f.Events(kind, items);
  {
    // The work must be the real thing: every event applies and writes ledger
    // entries (membership: a tier change; tick: expiries).
    std::vector<MemberRecord> members = f.members;
    MapContext ctx = f.ctx;
    for (size_t k = 0; k < events.size(); ++k) {
      Outcome outcome;
      MemberDelta delta{&outcome};
      ApplyOne(kind, f, events[k], &members[k], &ctx, &delta);
      const bool applied = kind == Kind::kTick ? outcome.entries_size() > 0
                                               : outcome.status() == Outcome::APPLIED;
      if (!applied)
        Die(absl::StrCat("event ", k, " of kind ", static_cast<int>(kind),
                         " did not apply: ", outcome.reason()));
    }
  }
  std::vector<MemberRecord> members = f.members;
  MapContext ctx = f.ctx;
  Outcome outcome;
  size_t k = 0;
  for (auto _ : state) {
    if (k == members.size()) {
      state.PauseTiming();
      members = f.members;
      ctx = f.ctx;
      k = 0;
      state.ResumeTiming();
    }
    outcome.Clear();
    MemberDelta delta{&outcome};
    ApplyOne(kind, f, events[k], &members[k], &ctx, &delta);
    benchmark::DoNotOptimize(delta);
    ++k;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Apply, purchase_1, Kind::kPurchase, 1);
BENCHMARK_CAPTURE(BM_Apply, purchase_3, Kind::kPurchase, 3);
BENCHMARK_CAPTURE(BM_Apply, purchase_5, Kind::kPurchase, 5);
BENCHMARK_CAPTURE(BM_Apply, engagement, Kind::kEngagement, 0);
BENCHMARK_CAPTURE(BM_Apply, redemption, Kind::kRedemption, 0);
BENCHMARK_CAPTURE(BM_Apply, refund, Kind::kRefund, 0);
BENCHMARK_CAPTURE(BM_Apply, adjustment, Kind::kAdjustment, 0);
BENCHMARK_CAPTURE(BM_Apply, membership, Kind::kMembership, 0);
BENCHMARK_CAPTURE(BM_Apply, tick, Kind::kTick, 0);

// A member with history: `state.range(0)` earlier purchases, one every 10
// minutes (about 700 days for 10^5, so lots come and go with the year's
// expiry), then the same purchase again per iteration, on a Monday at 08:00Z
// whatever the history. SPEC §6: the work of
// an event must not grow with the member's history, so /100000 costs what
// /0 (a new member) costs. "lots" reports the lots the member held.
void BM_ApplyAfterHistory(benchmark::State& state) {
  const CompiledProgram& cafe = Cafe();
  const int64_t history = state.range(0);
  const UnixNanos start = Rfc3339("2024-05-06T08:00:00Z");
  MemberRecord member = NewMemberRecord(cafe, "regular");
  MapContext ctx;
  Outcome outcome;
  for (int64_t i = 0; i < history; ++i) {
    const Event e = Purchase(absl::StrCat("seed-", i), "regular", absl::StrCat("o-", i), 3,
                             start + i * 600 * kNanosPerSecond);
    outcome.Clear();
    MemberDelta delta{&outcome};
    absl::Status s =
        ApplyMemberEvent(CafeHistory(), e, EffectiveTime(e, member, 0), &member, &ctx, &delta);
    if (!s.ok() || outcome.status() != Outcome::APPLIED) Die("seed purchase refused");
  }
  // The timed purchase on the next Monday 08:00Z after the history (the
  // start is one), so that the same promotions match whatever the history.
  constexpr int64_t kWeekNs = 7 * kNanosPerDay;
  const UnixNanos after = start + history * 600 * kNanosPerSecond;
  const UnixNanos at = start + (after - start + kWeekNs - 1) / kWeekNs * kWeekNs;
  const Event purchase = Purchase("again", "regular", "o-again", 3, at);
  const int64_t allocations = bench::HeapAllocations();
  for (auto _ : state) {
    outcome.Clear();
    MemberDelta delta{&outcome};
    absl::Status s = ApplyMemberEvent(CafeHistory(), purchase, EffectiveTime(purchase, member, 0),
                                      &member, &ctx, &delta);
    if (!s.ok() || outcome.status() != Outcome::APPLIED) Die("purchase refused");
    benchmark::DoNotOptimize(delta);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["lots"] =
      static_cast<double>(member.lots_size() + member.pending_lots_size());
  state.counters["allocs_per_event"] =
      static_cast<double>(bench::HeapAllocations() - allocations) /
      static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(BM_ApplyAfterHistory)->Arg(0)->Arg(1000)->Arg(100000);

// ---------------------------------------------------------------------------
// The store write of a batch.
//
// Partition::Batch (engine/ledger/partition.cc) is private and ApplyBatch
// always writes, so this replays what a batch stages: the writes of N
// events of the generated stream, recorded once by applying them (dedupe
// digests, orders, counters, due-index moves, the member records, the
// journal of outcomes and balance updates). Not replayed: the partition's
// reads, ticks.

struct ShapedEvent {
  std::string program_id, member_id, event_id;
  std::string digest16;  // dedupe value
  std::vector<MapContext::OrderWrite> orders;
  std::vector<MapContext::CounterWrite> counters;
  Outcome outcome;
  std::optional<loyalty::v1::MemberState> balance;  // the state after, if it changed
  int64_t due_old_ns = 0, due_new_ns = 0;             // due-index move (0: none)
};

struct ShapedBatch {
  std::vector<ShapedEvent> events;
  std::vector<MemberRecord> dirty;  // final records
};

// The first `n` member events of the stream, applied to fresh members.
ShapedBatch Shape(size_t n) {
  const CompiledProgram& cafe = Cafe();
  ShapedBatch out;
  std::map<std::string, MemberRecord> members;
  std::vector<std::string> dirty_order;
  MapContext ctx;
  for (Event& e : DecodedEvents(n + n / 500 + 8)) {  // room for the ticks skipped
    if (out.events.size() == n) break;
    if (e.has_tick()) continue;
    ShapedEvent s;
    s.program_id = e.program_id();
    s.member_id = e.member_id();
    s.event_id = e.event_id();
    const Digest256 d = Sha256(SerializeDeterministic(e));
    s.digest16.assign(reinterpret_cast<const char*>(d.data()), 16);
    const std::string key = absl::StrCat(e.program_id(), "/", e.member_id());
    auto [it, inserted] = members.try_emplace(key, MemberRecord());
    if (inserted) {
      it->second = NewMemberRecord(cafe, e.member_id());
      dirty_order.push_back(key);
    }
    MemberRecord& rec = it->second;
    MemberDelta delta{&s.outcome};
    ctx.LogTo(&s.orders, &s.counters);
    absl::Status st =
        ApplyMemberEvent(CafeHistory(), e, EffectiveTime(e, rec, 0), &rec, &ctx, &delta);
    if (!st.ok()) Die(st.ToString());
    if (delta.changed) s.balance = rec.state();
    // The partition's rule: the entry moves only when the next maturity
    // comes earlier than it (or there was none).
    const UnixNanos due = NextDue(rec);
    const UnixNanos indexed = rec.indexed_due_ns();
    if (due != 0 && (indexed == 0 || due < indexed)) {
      s.due_old_ns = indexed;
      s.due_new_ns = due;
      rec.set_indexed_due_ns(due);
    }
    out.events.push_back(std::move(s));
  }
  if (out.events.size() != n) Die("stream too short for the write benchmarks");
  for (const auto& key : dirty_order) out.dirty.push_back(members[key]);
  return out;
}

// A store of its own for the write benchmarks.
struct ScratchStore {
  std::string dir = testing::MakeTempDir("bench-writebatch");
  std::unique_ptr<PartitionStore> store;
  ScratchStore() {
    auto s = PartitionStore::Open(dir, StoreOptions());
    if (!s.ok()) Die(s.status().ToString());
    store = std::move(*s);
  }
  ~ScratchStore() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

// Stages what the partition stages for `b`, with the journal encoded.
void StageBatch(const ShapedBatch& b, int64_t next_offset, StoreBatch* sb, JournalWriter* journal) {
  journal->Clear();
  int64_t seq = 1;
  for (const ShapedEvent& e : b.events) {
    const MemberRef ref{ProgramId(e.program_id), MemberId(e.member_id)};
    sb->PutDedupe(ref, e.event_id, e.digest16);
    for (const auto& o : e.orders) sb->PutOrder(ref, o.order_id, o.order);
    for (const auto& c : e.counters) sb->PutCounter(ref, c.name, c.value);
    journal->AddOutcome(seq++, e.outcome);
    if (e.balance.has_value()) journal->AddBalance(seq++, *e.balance, e.event_id);
    if (e.due_old_ns != 0) sb->DeleteDue(ref, e.due_old_ns);
    if (e.due_new_ns != 0) sb->PutDue(ref, e.due_new_ns);
  }
  for (const MemberRecord& record : b.dirty) {
    sb->PutMember(MemberRefOf(record), record);
  }
  sb->PutJournal(1, journal->bytes());
  sb->SetNextOffset(next_offset);
  sb->SetNextSeq(seq);
}

// What both write benchmarks use: the shaped batch of n events and a store.
struct BatchBench {
  explicit BatchBench(size_t events) : n(events), batch(Shape(events)), sb(s.store.get()) {}
  void Stage() {
    sb.Clear();
    StageBatch(batch, static_cast<int64_t>(n), &sb, &journal);
  }
  size_t n;
  ShapedBatch batch;
  ScratchStore s;
  StoreBatch sb;
  JournalWriter journal;
};

// Staging a batch: keys, deterministic serializations, the journal's
// encoding, the read index (no RocksDB call).
void BM_BatchStage(benchmark::State& state) {
  BatchBench b(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    b.Stage();
    benchmark::DoNotOptimize(b.journal.bytes().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b.n));
  state.counters["journal_bytes_per_event"] =
      static_cast<double>(b.journal.bytes().size()) / static_cast<double>(b.n);
  state.counters["writes_per_event"] =
      static_cast<double>(b.sb.writes()) / static_cast<double>(b.n);
}
BENCHMARK(BM_BatchStage)->Arg(1)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);

// The store write of such a batch (PartitionStore::Write: the sort, the
// last write of each key, the RocksDB write with its WAL, not synced):
// with BM_BatchStage, what a batch costs after the apply path. The batch is
// staged again with the timer paused; the same keys are rewritten.
void BM_StoreWrite(benchmark::State& state) {
  BatchBench b(static_cast<size_t>(state.range(0)));
  WriteShape shape;
  for (auto _ : state) {
    state.PauseTiming();
    b.Stage();
    shape = WriteShape();
    state.ResumeTiming();
    if (!b.s.store->Write(&b.sb, &shape).ok()) Die("store write");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b.n));
  state.counters["puts_per_event"] =
      static_cast<double>(shape.total_puts()) / static_cast<double>(b.n);
}
BENCHMARK(BM_StoreWrite)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// The random-reward draw: one HMAC-SHA256 per (rule, event).

void BM_RandomDraw(benchmark::State& state) {
  const CompiledProgram& cafe = Cafe();
  std::vector<std::string> event_ids;
  for (int i = 0; i < 1024; ++i) event_ids.push_back(absl::StrCat("e-2024-05-07-", i));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(RandomDraw(cafe, "coffee-luck", event_ids[i++ % event_ids.size()]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RandomDraw);

// The partition's dedupe digest of an event (engine/ledger/partition.cc):
// SHA-256 of its deterministic serialization, once per event of a batch.
void BM_DedupeDigest(benchmark::State& state) {
  const std::vector<Event> events = DecodedEvents(1024);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Sha256(SerializeDeterministic(events[i++ % events.size()])));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DedupeDigest);

// ---------------------------------------------------------------------------
// Program loading: parsing and validating programs/<name>.textproto (the
// file is read outside the loop).

void BM_ProgramLoad(benchmark::State& state, const char* name) {
  const std::string path = absl::StrCat(LOYALTY_PROGRAMS_DIR, "/", name, ".textproto");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) Die("cannot read " + path);
  const std::string program_text = text.str();
  if (auto p = ParseProgramFile(program_text, path); !p.ok()) Die(p.status().ToString());
  for (auto _ : state) {
    auto p = ParseProgramFile(program_text, path);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_ProgramLoad, cafe, "cafe")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ProgramLoad, travel, "travel")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ProgramLoad, retailer, "retailer")->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// A whole batch through the partition: decode, validate, dedupe, apply, and
// the RocksDB write of the batch. Items = events. Input records as they come
// from a file (JSON) or from Kafka (binary). Each run starts on a new store.

void PartitionBatch(benchmark::State& state, InputFormat format) {
  const int64_t batch = state.range(0);
  const std::vector<std::string>& lines =
      format == InputFormat::kJson ? JsonLines() : BinaryRecords();
  const std::string dir = testing::MakeTempDir("bench-partition");
  auto store = PartitionStore::Open(dir, StoreOptions());
  if (!store.ok()) std::abort();
  auto partition = Partition::Open(&Programs(), store->get(), PartitionOptions());
  if (!partition.ok()) std::abort();
  std::vector<InputRecord> records;
  int64_t offset = (*partition)->next_offset();
  size_t i = 0;
  BatchOutputs out;
  WriteShape writes;
  int64_t allocations = 0;
  for (auto _ : state) {
    // Wrapping around would feed duplicates, which are cheaper.
    if (i + static_cast<size_t>(batch) > lines.size()) {
      state.SkipWithError("input stream exhausted: raise kStreamEvents");
      break;
    }
    records.clear();
    for (int64_t k = 0; k < batch; ++k) records.push_back({offset++, lines[i++]});
    const int64_t before = bench::HeapAllocations();
    if (!(*partition)->ApplyBatch(records, format, &out).ok()) std::abort();
    allocations += bench::HeapAllocations() - before;
    writes.Add(out.writes);
  }
  const double events = static_cast<double>(std::max<int64_t>(1, state.iterations() * batch));
  state.SetItemsProcessed(state.iterations() * batch);
  // Per event: heap allocations (the apply path, the store's staging and
  // RocksDB's write; the first batches warm buffers up), and store puts.
  state.counters["allocs_per_event"] = static_cast<double>(allocations) / events;
  state.counters["puts_per_event"] = static_cast<double>(writes.total_puts()) / events;
  partition->reset();
  store->reset();
  std::filesystem::remove_all(dir);
}
// Batches of 4096 binary records of the 2,000-member stream, after 40,000
// records applied untimed: every member cached, the apply path's steady
// state. allocs_per_event: what is left of the heap allocations per event.
void BM_PartitionBatchWarm(benchmark::State& state) {
  const std::vector<std::string>& lines = WarmBinaryRecords();
  const std::string dir = testing::MakeTempDir("bench-partition-warm");
  auto store = PartitionStore::Open(dir, StoreOptions());
  if (!store.ok()) std::abort();
  auto partition = Partition::Open(&Programs(), store->get(), PartitionOptions());
  if (!partition.ok()) std::abort();
  constexpr int64_t kBatch = 4096;
  std::vector<InputRecord> records;
  BatchOutputs out;
  int64_t offset = 0;
  size_t i = 0;
  auto next_batch = [&]() {
    records.clear();
    for (int64_t k = 0; k < kBatch; ++k) records.push_back({offset++, lines[i++]});
  };
  while (i < 40'000) {
    next_batch();
    if (!(*partition)->ApplyBatch(records, InputFormat::kBinary, &out).ok()) std::abort();
  }
  int64_t allocations = 0, events = 0;
  for (auto _ : state) {
    if (i + kBatch > lines.size()) {
      state.SkipWithError("input stream exhausted: raise kStreamEvents");
      break;
    }
    state.PauseTiming();
    next_batch();
    state.ResumeTiming();
    const int64_t before = bench::HeapAllocations();
    if (!(*partition)->ApplyBatch(records, InputFormat::kBinary, &out).ok()) std::abort();
    allocations += bench::HeapAllocations() - before;
    events += kBatch;
  }
  state.SetItemsProcessed(events);
  state.counters["allocs_per_event"] =
      static_cast<double>(allocations) / static_cast<double>(std::max<int64_t>(1, events));
  partition->reset();
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PartitionBatchWarm)->Unit(benchmark::kMicrosecond)->Iterations(30);

void BM_PartitionBatchJson(benchmark::State& state) { PartitionBatch(state, InputFormat::kJson); }
void BM_PartitionBatchBinary(benchmark::State& state) {
  PartitionBatch(state, InputFormat::kBinary);
}
BENCHMARK(BM_PartitionBatchJson)->Arg(1)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PartitionBatchBinary)->Arg(1)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loyalty

BENCHMARK_MAIN();
