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
#include "engine/base/rng.h"

namespace loyalty::testing {

// SplitMix64 (engine/base/rng.h), with the generators' vocabulary.
class Rng : public SplitMix64 {
 public:
  using SplitMix64::SplitMix64;
  int64_t Uniform(int64_t n) { return Below(n); }
  bool Permille(int p) { return Uniform(1000) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(static_cast<int64_t>(v.size()))];
  }
};

// Unix seconds as RFC 3339 in UTC, to the second ("2026-01-01T00:00:00Z").
inline std::string Rfc3339Utc(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_RNG_H_
