// Determinism (SPEC §3.5, §3.3): one generated stream of mixed events applied
// with batch sizes 1, 7 and 4096, and once with a restart in the middle,
// gives byte-identical state (the same digest of the whole keyspace) and
// byte-identical outputs (the same output records, numbered alike: the
// journal, whose bytes are what is published).
//
// LOYALTY_SEED and LOYALTY_DETERMINISM_EVENTS override the stream.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/audit/audit.h"
#include "connectors/file/replay.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

ReplayStats Replay(const ProgramSet& programs, const std::string& data_dir,
                   const std::string& events, int64_t batch_size, int64_t lines_max = INT64_MAX) {
  ReplayOptions o;
  o.data_dir = data_dir;
  o.events_path = events;
  o.batch_size = batch_size;
  o.lines_max = lines_max;
  auto stats = RunReplay(programs, o);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return stats.ok() ? *stats : ReplayStats();
}

TEST(DeterminismTest, BatchSizesAndRestartGiveByteIdenticalState) {
  const uint64_t seed = testing::TestSeed(20261122);
  const int64_t events = testing::EnvInt("LOYALTY_DETERMINISM_EVENTS", 200'000);
  SCOPED_TRACE(testing::Seeded(seed));
  std::fprintf(stderr, "determinism: seed %llu (replay with LOYALTY_SEED=%llu), %lld events\n",
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
               static_cast<long long>(events));
  const std::string root = testing::MakeTempDir("determinism");
  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = events;
  g.members = 2'000;
  testing::GeneratedStream stream = testing::GenerateStream(g);
  const std::string file = root + "/events.jsonl";
  testing::WriteLines(file, stream.lines);
  ProgramSet programs = testing::WriteAndLoadTestPrograms(root);

  std::vector<std::pair<std::string, std::string>> digests;  // (how, digest)
  std::vector<std::pair<std::string, std::string>> outputs;  // (how, digest of the journal)
  for (int64_t batch : {1, 7, 4096}) {
    const std::string dir = root + "/batch-" + std::to_string(batch);
    ReplayStats stats = Replay(programs, dir, file, batch);
    EXPECT_EQ(stats.lines, static_cast<int64_t>(stream.lines.size()));
    EXPECT_EQ(stats.rejected, stream.bad_lines);
    digests.emplace_back("batch " + std::to_string(batch),
                         testing::HashPartitionStore(PartitionDir(dir, 0)));
    outputs.emplace_back("batch " + std::to_string(batch),
                         testing::HashJournal(PartitionDir(dir, 0)));
  }
  {
    // Stop in the middle (the store is closed), then run the whole file
    // again with another batch size: the first half is skipped, not redone.
    const std::string dir = root + "/restart";
    const int64_t half = static_cast<int64_t>(stream.lines.size()) / 2 + 13;
    ReplayStats first = Replay(programs, dir, file, 4096, half);
    EXPECT_EQ(first.lines, half);
    ReplayStats second = Replay(programs, dir, file, 97);
    EXPECT_EQ(second.skipped, half);
    EXPECT_EQ(first.rejected + second.rejected, stream.bad_lines);
    // A third run applies nothing.
    ReplayStats third = Replay(programs, dir, file, 4096);
    EXPECT_EQ(third.skipped, static_cast<int64_t>(stream.lines.size()));
    EXPECT_EQ(third.applied, 0);
    digests.emplace_back("restart", testing::HashPartitionStore(PartitionDir(dir, 0)));
    outputs.emplace_back("restart", testing::HashJournal(PartitionDir(dir, 0)));

    auto store = OpenPartitionReadOnly(PartitionDir(dir, 0));
    ASSERT_TRUE(store.ok()) << store.status();
    auto report = VerifyStore(store->get());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
    EXPECT_GT(report->members, 1000);
    EXPECT_GT(report->entries, events / 4);
  }
  // Printed so that a refactoring can show it changed no byte (compare the
  // line before and after; the seed and event count must match).
  std::fprintf(stderr, "determinism: store digest %s, outputs digest %s\n",
               digests[0].second.c_str(), outputs[0].second.c_str());
  for (const auto& [how, digest] : outputs) {
    EXPECT_EQ(digest, outputs[0].second)
        << "the outputs of " << how << " differ from those of " << outputs[0].first;
  }
  for (const auto& [how, digest] : digests) {
    EXPECT_EQ(digest, digests[0].second) << how << " differs from " << digests[0].first;
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace loyalty
