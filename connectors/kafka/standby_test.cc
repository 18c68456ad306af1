// Which member keeps which standby copy, and what an operator sees of
// restores, backups, gaps and standbys in /metrics and /readyz.
#include "connectors/kafka/standby.h"

#include "absl/strings/match.h"
#include "connectors/kafka/engine_metrics.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

GroupMember Member(const std::string& instance_id, const std::string& member_id = "") {
  GroupMember m;
  m.instance_id = instance_id;
  m.member_id = member_id.empty() ? instance_id + "-0001" : member_id;
  return m;
}

// Members listed in any order; partitions 0..5 owned round-robin by a, b, c.
GroupDescription ThreeMembers() {
  GroupDescription g;
  g.members = {Member("host-c"), Member("host-a"), Member("host-b")};
  const GroupMember owners[] = {Member("host-a"), Member("host-b"), Member("host-c")};
  for (int p = 0; p < 6; ++p) g.owners.push_back(owners[p % 3]);
  return g;
}

TEST(StandbyPartitionsTest, TheNextMembersInKeyOrderKeepTheCopies) {
  const GroupDescription g = ThreeMembers();
  // One replica: b keeps a's, c keeps b's, a keeps c's.
  EXPECT_EQ(StandbyPartitions(g, "host-b", 1), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(StandbyPartitions(g, "host-c", 1), (std::vector<int32_t>{1, 4}));
  EXPECT_EQ(StandbyPartitions(g, "host-a", 1), (std::vector<int32_t>{2, 5}));
  // Two replicas: every other member's partitions; never its own.
  EXPECT_EQ(StandbyPartitions(g, "host-a", 2), (std::vector<int32_t>{1, 2, 4, 5}));
  // More replicas than other members: capped.
  EXPECT_EQ(StandbyPartitions(g, "host-a", 5), (std::vector<int32_t>{1, 2, 4, 5}));
  EXPECT_TRUE(StandbyPartitions(g, "host-a", 0).empty());
}

TEST(StandbyPartitionsTest, EveryPartitionGetsItsReplicasOnceAndNeverOnItsOwner) {
  GroupDescription g;
  for (const char* id : {"e", "a", "d", "b", "c"}) g.members.push_back(Member(id));
  for (int p = 0; p < 16; ++p) g.owners.push_back(g.members[static_cast<size_t>(p * 7 % 5)]);
  g.owners[9].reset();  // unassigned during a rebalance: no standby
  for (int replicas = 1; replicas <= 4; ++replicas) {
    std::map<int32_t, int> copies;
    for (const GroupMember& m : g.members) {
      for (int32_t p : StandbyPartitions(g, m.instance_id, replicas)) {
        EXPECT_NE(g.owners[static_cast<size_t>(p)]->instance_id, m.instance_id);
        copies[p]++;
      }
    }
    for (int p = 0; p < 16; ++p) {
      EXPECT_EQ(copies[p], p == 9 ? 0 : replicas) << "partition " << p << ", " << replicas;
    }
  }
}

TEST(StandbyPartitionsTest, DynamicMembersAreKeyedByMemberIdAndStrangersKeepNothing) {
  GroupDescription g;
  g.members = {Member("", "m-2"), Member("", "m-1")};
  g.owners = {Member("", "m-1"), Member("", "m-2")};
  EXPECT_EQ(StandbyPartitions(g, "m-2", 1), std::vector<int32_t>{0});
  EXPECT_EQ(StandbyPartitions(g, "m-1", 1), std::vector<int32_t>{1});
  EXPECT_TRUE(StandbyPartitions(g, "not-yet-a-member", 1).empty());
}

TEST(EngineMetricsTest, AStoppedPartitionIsNotReadyAndRestoresAreExported) {
  KafkaEngine::Metrics m;
  m.assigned = true;
  KafkaEngine::PartitionMetrics p;
  p.partition = 3;
  p.owned = true;
  p.next_offset = 100;
  p.end_offset = 100;
  p.restoring = true;
  p.restore_from_offset = 40;
  p.restore_target_offset = 160;
  p.restores = 1;
  p.backups = 2;
  p.backup_offset = 90;
  m.partitions.push_back(p);
  m.standbys.push_back({5, 10, 25});
  EXPECT_TRUE(EngineReadiness(m, ReadinessOptions()).ready);
  const std::string text = EngineMetricsText(m, true, "v", "c");
  for (const char* line :
       {"loyalty_restoring{partition=\"3\"} 1", "loyalty_restore_remaining_records{partition=\"3\"} 60",
        "loyalty_restores_total{partition=\"3\"} 1", "loyalty_backups_total{partition=\"3\"} 2",
        "loyalty_backup_offset{partition=\"3\"} 90", "loyalty_partition_stopped{partition=\"3\"} 0",
        "loyalty_standby_partitions 1", "loyalty_standby_lag{partition=\"5\"} 15"}) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "\n" << text;
  }
  m.partitions[0].stopped = true;
  m.partitions[0].stopped_reason = "partition 3 of t cannot continue: ...";
  const Readiness r = EngineReadiness(m, ReadinessOptions());
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.detail, "partition 3 of t cannot continue: ...");
  EXPECT_TRUE(absl::StrContains(EngineMetricsText(m, false, "v", "c"),
                                "loyalty_partition_stopped{partition=\"3\"} 1"));
}

}  // namespace
}  // namespace loyalty
