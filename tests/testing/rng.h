// File: tests/testing/rng.h
// What the seeded generators (event_gen.cc, year_gen.cc) share: the random
// number generator and the timestamp format of the lines they write. Both
// generators' bytes for a seed depend on this, so keep it unchanged.
#ifndef LOYALTY_TESTS_TESTING_RNG_H_
#define LOYALTY_TESTS_TESTING_RNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace loyalty::testing {

// splitmix64: tiny, seeded, identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int64_t Uniform(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }
  bool Permille(int p) { return Uniform(1000) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(static_cast<int64_t>(v.size()))];
  }

 private:
  uint64_t state_;
};

// Unix seconds as RFC 3339 in UTC, to the second ("2026-01-01T00:00:00Z").
inline std::string Rfc3339Utc(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_RNG_H_
