// Micro-benchmarks of the ledger core (SPEC §9): decoding, validation, the
// pure apply path, and a whole partition batch (apply + WriteBatch + RocksDB
// write) on purchase-heavy generated events.
#include <filesystem>

#include "benchmark/benchmark.h"
#include "engine/apply/apply.h"
#include "engine/apply/validate.h"
#include "engine/ledger/partition.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"

namespace loyalty {
namespace {

ProgramSet Programs() {
  ProgramSet set;
  auto p = ParseProgramText(testing::CafeProgramText(), "cafe");
  if (!p.ok() || !set.Add(std::move(*p)).ok()) std::abort();
  return set;
}

std::vector<std::string> Lines(int64_t n) {
  testing::GeneratorOptions o;
  o.seed = 99;
  o.events = n;
  o.members = 100'000;
  o.two_programs = false;
  o.bad_permille = 0;
  o.duplicate_permille = 0;
  return testing::GenerateStream(o).lines;
}

void BM_DecodeJson(benchmark::State& state) {
  auto lines = Lines(10'000);
  loyalty::v1::Event e;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeEvent(lines[i++ % lines.size()], InputFormat::kJson, &e));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeJson);

void BM_DecodeBinary(benchmark::State& state) {
  auto lines = Lines(10'000);
  std::vector<std::string> binary;
  loyalty::v1::Event e;
  for (const auto& l : lines) {
    if (DecodeEvent(l, InputFormat::kJson, &e).ok()) binary.push_back(e.SerializeAsString());
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeEvent(binary[i++ % binary.size()], InputFormat::kBinary, &e));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeBinary);

// A whole batch through the partition: decode, validate, dedupe, apply, and
// the RocksDB write of the batch. Items = events.
// Input records as they come from a file (JSON) or from Kafka (binary).
std::vector<std::string> Inputs(int64_t n, InputFormat format) {
  auto lines = Lines(n);
  if (format == InputFormat::kJson) return lines;
  std::vector<std::string> out;
  loyalty::v1::Event e;
  for (const auto& l : lines) {
    if (DecodeEvent(l, InputFormat::kJson, &e).ok()) out.push_back(e.SerializeAsString());
  }
  return out;
}

void PartitionBatch(benchmark::State& state, InputFormat format) {
  const int64_t batch = state.range(0);
  ProgramSet programs = Programs();
  // Enough distinct events that the timed loop never wraps into duplicates.
  auto lines = Inputs(std::max<int64_t>(200'000, batch * 64), format);
  const std::string dir = testing::MakeTempDir("bench-partition");
  auto store = PartitionStore::Open(dir, StoreOptions());
  if (!store.ok()) std::abort();
  auto partition = Partition::Open(&programs, store->get(), PartitionOptions());
  if (!partition.ok()) std::abort();
  std::vector<InputRecord> records;
  int64_t offset = (*partition)->next_offset();
  size_t i = 0;
  BatchOutputs out;
  out.collect_records = false;
  for (auto _ : state) {
    records.clear();
    for (int64_t k = 0; k < batch; ++k) records.push_back({offset++, lines[i++ % lines.size()]});
    if (!(*partition)->ApplyBatch(records, format, &out).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  partition->reset();
  store->reset();
  std::filesystem::remove_all(dir);
}
void BM_PartitionBatchJson(benchmark::State& state) { PartitionBatch(state, InputFormat::kJson); }
void BM_PartitionBatchBinary(benchmark::State& state) {
  PartitionBatch(state, InputFormat::kBinary);
}
BENCHMARK(BM_PartitionBatchJson)->Arg(1)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PartitionBatchBinary)->Arg(1)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loyalty

BENCHMARK_MAIN();
