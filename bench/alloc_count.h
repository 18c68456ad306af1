// File: bench/alloc_count.h
// Counts heap allocations made through operator new (the standard library,
// protobuf and RocksDB allocate through it; C code calling malloc directly,
// such as librdkafka, is not counted). Linking alloc_count.cc into a binary
// replaces the global operator new of that binary: benchmarks only.
//
//   const int64_t before = bench::HeapAllocations();
//   DoWork();
//   const int64_t allocations = bench::HeapAllocations() - before;
#ifndef LOYALTY_BENCH_ALLOC_COUNT_H_
#define LOYALTY_BENCH_ALLOC_COUNT_H_

#include <cstdint>

namespace loyalty::bench {

// operator new calls since the process started, all threads.
int64_t HeapAllocations();

}  // namespace loyalty::bench

#endif  // LOYALTY_BENCH_ALLOC_COUNT_H_
