// Topic creation and producing input files against a real Kafka broker
// (deploy/kafka/kafka.sh): partition counts, member keys and partitions,
// ticks to every partition, unparsable lines kept for the engine's DLQ.
#include <map>
#include <set>

#include "connectors/kafka/kafka.h"
#include "gtest/gtest.h"
#include "loyalty/v1/events.pb.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/kafka_broker.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

class KafkaProduceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new testing::KafkaBroker(
        static_cast<int>(testing::EnvInt("LOYALTY_TEST_KAFKA_PORT", 19492)));
    absl::Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << "the real Kafka broker is required: " << s;
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }
  static testing::KafkaBroker* broker_;
};

testing::KafkaBroker* KafkaProduceTest::broker_ = nullptr;

TEST_F(KafkaProduceTest, CreatesTopicsAndProducesKeyedEventsTicksAndRawBadLines) {
  ASSERT_NE(broker_, nullptr);
  const std::string brokers = broker_->brokers();
  Topics topics;
  ASSERT_TRUE(EnsureTopics(brokers, topics, 4, 30'000).ok());
  ASSERT_TRUE(EnsureTopics(brokers, topics, 4, 30'000).ok()) << "a second call must be a no-op";
  for (const std::string& t : topics.outputs()) {
    auto n = PartitionCount(brokers, t, 10'000);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 4) << t;
  }
  EXPECT_EQ(EnsureTopics(brokers, topics, 6, 30'000).code(), absl::StatusCode::kFailedPrecondition);

  const uint64_t seed = testing::TestSeed(31);
  SCOPED_TRACE(testing::Seeded(seed));
  testing::GeneratorOptions g;
  g.seed = seed;
  g.events = 3'000;
  g.members = 80;
  g.tick_every = 500;
  const std::string dir = testing::MakeTempDir("produce");
  testing::GeneratedStream stream = testing::GenerateStream(g);
  testing::WriteLines(dir + "/events.jsonl", stream.lines);
  ProduceOptions o;
  o.brokers = brokers;
  o.path = dir + "/events.jsonl";
  auto stats = ProduceFile(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->lines, static_cast<int64_t>(stream.lines.size()));
  EXPECT_GT(stats->ticks, 0);
  EXPECT_GT(stats->unkeyed, 0);  // the generator's MALFORMED lines
  EXPECT_EQ(stats->records, stats->events + 4 * stats->ticks + stats->unkeyed);

  std::map<int, std::vector<std::string>> keys;
  auto records = testing::ReadTopic(brokers, topics.events, &keys);
  ASSERT_TRUE(records.ok()) << records.status();
  int64_t total = 0, raw = 0;
  std::map<std::string, std::set<int>> partitions_of_member;
  std::map<int, int64_t> ticks_per_partition;
  for (const auto& [partition, values] : *records) {
    total += static_cast<int64_t>(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      loyalty::v1::Event e;
      if (!e.ParseFromString(values[i]) || e.event_id().empty() ||
          (!e.has_tick() && e.member_id().empty())) {
        ++raw;  // no Event, or no member to key it by
        continue;
      }
      if (e.has_tick()) {
        ++ticks_per_partition[partition];
        continue;
      }
      EXPECT_EQ(keys[partition][i], e.member_id());
      partitions_of_member[e.program_id() + "/" + e.member_id()].insert(partition);
    }
  }
  EXPECT_EQ(total, stats->records);
  EXPECT_EQ(raw, stats->unkeyed);
  for (int p = 0; p < 4; ++p) EXPECT_EQ(ticks_per_partition[p], stats->ticks) << "partition " << p;
  for (const auto& [member, parts] : partitions_of_member) {
    EXPECT_EQ(parts.size(), 1u) << member << " is spread over partitions";
  }
  EXPECT_GT(partitions_of_member.size(), 50u);
}

}  // namespace
}  // namespace loyalty
