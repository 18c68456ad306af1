// File: tests/testing/engine_fixture.h
// What the tests of `loyaltyd run` against a real broker share: a broker per
// test binary, a seeded stream with its expected states (one uninterrupted
// file replay), producing it, `loyaltyd run` arguments, reading the
// partition stores of one or several data directories (read-only, which
// works while engines run), and the exactly-once check of the outputs with
// a reader that is not ours (kcat).
//
//   class MyTest : public testing::EngineTest {
//     static void SetUpTestSuite() { StartBroker(19892); }
//   };
//   TEST_F(MyTest, X) { auto lines = MakeStream(seed, 6'000); Produce(lines, 0, lines.size()); ... }
#ifndef LOYALTY_TESTS_TESTING_ENGINE_FIXTURE_H_
#define LOYALTY_TESTS_TESTING_ENGINE_FIXTURE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "connectors/kafka/kafka.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "tests/testing/kafka_broker.h"

namespace loyalty::testing {

using States = std::map<std::string, std::string>;  // program/member -> MemberState JSON

// Calls `fn` with every partition store under `data_dir`, opened read-only;
// a store that cannot be read fails the test.
void ForEachStore(const std::string& data_dir,
                  const std::function<void(int32_t, PartitionStore*)>& fn);

// The data directory, of `data_dirs`, whose store of each partition has
// applied the most (the partition's current owner, or its last one):
// partition -> directory.
std::map<int32_t, std::string> MostAdvancedStores(const std::vector<std::string>& data_dirs);

// Member states of the most advanced store of each partition across
// `data_dirs`; verifies every store of every directory (stale copies too).
States ReadStates(const std::vector<std::string>& data_dirs);
inline States ReadStates(const std::string& data_dir) {
  return ReadStates(std::vector<std::string>{data_dir});
}

// What the stores say was published: partition -> last outbox seq, and
// "program/member" -> version and last ledger entry seq.
struct StoreFacts {
  std::map<int, int64_t> last_seq;
  std::map<std::string, int64_t> version;
  std::map<std::string, int64_t> last_entry;
};
// Of the most advanced store of each partition across `data_dirs`.
StoreFacts ReadStoreFacts(const std::vector<std::string>& data_dirs);

// Per partition the largest stored next offset across `data_dirs`, summed
// (0 while a store cannot be read).
int64_t StoredOffsets(const std::vector<std::string>& data_dirs);
inline int64_t StoredOffsets(const std::string& data_dir) {
  return StoredOffsets(std::vector<std::string>{data_dir});
}

// Waits until `applied()` reaches `target` (at most `timeout_s`).
template <typename F>
bool WaitFor(F applied, int64_t target, int timeout_s = 120) {
  for (int i = 0; i < timeout_s * 10; ++i) {
    if (applied() >= target) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class EngineTest : public ::testing::Test {
 protected:
  // A broker for the test binary (LOYALTY_TEST_KAFKA_PORT overrides
  // `port`); call from SetUpTestSuite.
  static void StartBroker(int port);
  static void TearDownTestSuite();

  explicit EngineTest(int partitions = 4) : partitions_(partitions) {}
  void SetUp() override;     // root_, programs_, topics_ of the test's name
  void TearDown() override;  // removes root_

  // Generates a stream and replays it from a file into root_/replay for the
  // expected states; returns its lines. With versioned_cafe_, the café
  // program gets a version "2" (twice the earn rate, a new reward) in force
  // from the middle line's occurred_at: the stream crosses it.
  std::vector<std::string> MakeStream(uint64_t seed, int64_t events);
  // Produces lines [from, to) of `lines`; returns the records produced.
  int64_t Produce(const std::vector<std::string>& lines, size_t from, size_t to);
  // The sum of the input topic's end offsets.
  int64_t EndOffsetTotal();
  // `loyaltyd run` on this test's broker, topics, group, with data
  // directory root_/data unless `extra` gives one.
  std::vector<std::string> LoyaltydArgs(const std::vector<std::string>& extra) const;

  // A read_committed consumer that is not ours (kcat) finds every output
  // exactly once: output sequences 1..N per partition, balance versions
  // rising by 1 per member up to the stores', every ledger entry of a
  // member once inside its outcomes, in order, one DLQ record per bad line;
  // the ledger topic holds exactly those entries when `ledger` (published),
  // and nothing otherwise. The stores: the most advanced of each partition
  // across `data_dirs`.
  void ExpectOutputsExactlyOnce(const std::vector<std::string>& data_dirs, bool ledger = false);
  // The stores equal one uninterrupted replay, and their outputs were
  // published exactly once.
  void ExpectExactlyOnce(const std::vector<std::string>& data_dirs, bool ledger = false);
  void ExpectExactlyOnce(bool ledger = false) { ExpectExactlyOnce({root_ + "/data"}, ledger); }

  static KafkaBroker* broker_;
  const int partitions_;
  bool versioned_cafe_ = false;
  std::string cafe_version_from_;  // RFC 3339, set by MakeStream
  std::map<std::string, int64_t> bad_by_reason_;
  std::string root_;
  ProgramSet programs_;
  Topics topics_;
};

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_ENGINE_FIXTURE_H_
