// Bad input (SPEC §7): malformed JSON, unknown programs, bad amounts,
// conflicting duplicates and every other DLQ reason mixed into good events.
// Every bad line lands in the DLQ file with its reason, every good event is
// applied, and nothing else changes: the ledger state equals that of the same
// stream with the bad lines taken out.
#include <filesystem>
#include <fstream>
#include <map>

#include "connectors/file/replay.h"
#include "engine/store/store.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

TEST(BadInputTest, EveryBadLineInTheDlqWithItsReasonAndNothingElseChanged) {
  const uint64_t seed = testing::TestSeed(7);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::string root = testing::MakeTempDir("bad-input");
  const ProgramSet programs = testing::WriteAndLoadTestPrograms(root);

  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = 20'000;
  g.members = 300;
  g.bad_permille = 120;
  testing::GeneratedStream stream = testing::GenerateStream(g);
  ASSERT_GE(stream.bad_by_reason.size(), 10u) << "the stream must hold every reason";

  // The same stream without its bad lines.
  std::vector<std::string> good;
  size_t next_bad = 0;
  for (size_t i = 0; i < stream.lines.size(); ++i) {
    if (next_bad < stream.bad_indices.size() && stream.bad_indices[next_bad] == i) {
      ++next_bad;
      continue;
    }
    good.push_back(stream.lines[i]);
  }
  testing::WriteLines(root + "/mixed.jsonl", stream.lines);
  testing::WriteLines(root + "/good.jsonl", good);

  ReplayOptions o;
  o.data_dir = root + "/mixed";
  o.events_path = root + "/mixed.jsonl";
  o.dlq_path = root + "/dlq.jsonl";
  auto mixed = RunReplay(programs, o);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  o.data_dir = root + "/good";
  o.events_path = root + "/good.jsonl";
  o.dlq_path = root + "/good-dlq.jsonl";
  auto clean = RunReplay(programs, o);
  ASSERT_TRUE(clean.ok()) << clean.status();

  EXPECT_EQ(mixed->rejected, stream.bad_lines);
  EXPECT_EQ(clean->rejected, 0);
  EXPECT_EQ(mixed->applied, clean->applied);
  EXPECT_EQ(mixed->duplicates, clean->duplicates);

  // Each DLQ line names its line number, reason and the raw input.
  std::map<std::string, int64_t> by_reason;
  std::ifstream dlq(root + "/dlq.jsonl");
  std::string line;
  size_t k = 0;
  while (std::getline(dlq, line)) {
    google::protobuf::Struct obj;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &obj).ok()) << line;
    const auto& f = obj.fields();
    ASSERT_LT(k, stream.bad_indices.size());
    EXPECT_EQ(static_cast<size_t>(f.at("line").number_value()), stream.bad_indices[k] + 1);
    EXPECT_EQ(f.at("raw").string_value(), stream.lines[stream.bad_indices[k]]);
    EXPECT_FALSE(f.at("detail").string_value().empty());
    by_reason[f.at("reason").string_value()]++;
    ++k;
  }
  EXPECT_EQ(k, stream.bad_indices.size());
  EXPECT_EQ(by_reason, stream.bad_by_reason);

  // Nothing but the offsets differs.
  EXPECT_EQ(testing::HashPartitionStore(PartitionDir(root + "/mixed", 0), /*state_only=*/true),
            testing::HashPartitionStore(PartitionDir(root + "/good", 0), /*state_only=*/true));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace loyalty
