// File: engine/base/rng.h
// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seeded generator whose
// sequence is the same on every platform and standard library, which the
// standard distributions are not. For generated streams (the demo, the
// tests' generators, the benchmark's workload), whose bytes for a seed must
// never change. The ledger's own random rewards do not use it: their draws
// are HMACs of the event (engine/apply).
//
//   SplitMix64 rng(seed);
//   if (rng.Below(100) < 20) ...;   // 20%
#ifndef LOYALTY_ENGINE_BASE_RNG_H_
#define LOYALTY_ENGINE_BASE_RNG_H_

#include <cstdint>

namespace loyalty {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), by modulo (the bias is below n / 2^64).
  // REQUIRES: n > 0.
  int64_t Below(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }
  // Uniform in [0, 1), from the top 53 bits.
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_RNG_H_
