// File: tests/testing/test_env.h
// Seeds and sizes of the end-to-end tests, overridable from the environment
// so that any failure replays: LOYALTY_SEED=<seed> reruns the same stream.
#ifndef LOYALTY_TESTS_TESTING_TEST_ENV_H_
#define LOYALTY_TESTS_TESTING_TEST_ENV_H_

#include <cstdint>
#include <cstdlib>
#include <string>

namespace loyalty::testing {

inline int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? fallback : std::strtoll(v, nullptr, 10);
}

inline uint64_t TestSeed(uint64_t fallback) {
  return static_cast<uint64_t>(EnvInt("LOYALTY_SEED", static_cast<int64_t>(fallback)));
}

// "seed 42 (LOYALTY_SEED=42 replays)", for SCOPED_TRACE.
inline std::string Seeded(uint64_t seed) {
  return "seed " + std::to_string(seed) + " (LOYALTY_SEED=" + std::to_string(seed) + " replays)";
}

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_TEST_ENV_H_
