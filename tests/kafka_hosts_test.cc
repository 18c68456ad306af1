// SPEC §10 against a real broker: `loyaltyd run` processes on "hosts" that
// share nothing but a backup directory. A partition's state follows it
// through backups and a replay of the input; a host lost with its disk
// costs nothing but time, and a gap in the input stops its partition with
// an error that names it.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "connectors/kafka/kafka.h"
#include "engine/store/backup.h"
#include "gtest/gtest.h"
#include "connectors/kafka/inspect.h"
#include "tests/testing/command.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/output_check.h"
#include "tests/testing/test_env.h"

namespace loyalty {
namespace {

using testing::Spawn;
using testing::StoredOffsets;
using testing::WaitFor;

constexpr int kPartitions = 8;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class HostsTest : public testing::EngineTest {
 protected:
  // The café program's version "2" comes into force mid-stream: replay,
  // restore and standby must all apply each event under the same version.
  explicit HostsTest(int partitions) : EngineTest(partitions) { versioned_cafe_ = true; }
  static void SetUpTestSuite() { StartBroker(19892); }

  // A `loyaltyd run` process with a data directory of its own.
  struct Host {
    std::string name;
    std::string dir;  // its data directory
    std::string log;  // its stderr
    pid_t pid = -1;
  };
  Host StartHost(const std::string& name, const std::vector<std::string>& extra = {}) {
    Host h{name, root_ + "/" + name, root_ + "/" + name + ".log"};
    std::vector<std::string> args = {"--data-dir=" + h.dir, "--instance-id=" + name,
                                     "--backup-dir=" + backups(), "--batch-size=128"};
    args.insert(args.end(), extra.begin(), extra.end());
    h.pid = Spawn(LoyaltydArgs(args), h.log);
    EXPECT_GT(h.pid, 0);
    return h;
  }
  // Sends `sig` and waits; true if it exited 0 (SIGTERM) or was killed by
  // `sig`.
  static bool Stop(Host* h, int sig) {
    kill(h->pid, sig);
    int status = 0;
    waitpid(h->pid, &status, 0);
    h->pid = -1;
    return sig == SIGKILL ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                          : WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  static std::string Log(const Host& h) {
    std::ifstream in(h.log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string backups() const { return root_ + "/backups"; }
  // The time of the first line of `log` with message `msg` about one of
  // `partitions` logged after `after`.
  static std::optional<absl::Time> FirstLineAfter(const std::string& log, const std::string& msg,
                                                  const std::vector<int>& partitions,
                                                  absl::Time after) {
    for (int p : partitions) {
      const std::string line = absl::StrCat("msg=\"", msg, "\" partition=", p, " ");
      for (size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) {
        const size_t start = log.rfind("ts=", at) + 3;
        absl::Time t;
        std::string err;
        if (absl::ParseTime(absl::RFC3339_full, log.substr(start, log.find(' ', start) - start),
                            &t, &err) &&
            t > after) {
          return t;
        }
      }
    }
    return std::nullopt;
  }
  // Partitions whose newest backup continues from their input's end.
  int BackedUpToEnd() {
    auto ends = EndOffsets(broker_->brokers(), topics_.events, 10'000);
    if (!ends.ok()) return 0;
    int n = 0;
    for (int p = 0; p < partitions_; ++p) {
      auto b = NewestBackup(backups(), p);
      n += b.ok() && b->has_value() && (*b)->meta.next_offset() >= (*ends)[p];
    }
    return n;
  }
  static int Partitions(const std::string& dir) {
    auto p = ListPartitions(dir);
    return p.ok() ? static_cast<int>(p->size()) : 0;
  }
};

class KafkaHostsTest : public HostsTest {
 protected:
  KafkaHostsTest() : HostsTest(kPartitions) {}
};

// Three hosts, each with its own data directory; one is killed with SIGKILL
// and its disk wiped (a lost host): its partitions move to the others,
// which restore them from backups and re-apply the input after the
// backups' offsets. Then a fresh host with an empty disk joins and takes
// partitions back the same way. The states equal one uninterrupted replay,
// every store verifies, and kcat finds every output exactly once.
TEST_F(KafkaHostsTest, ThreeHostsSurviveALostHostAndARejoin) {
  const uint64_t seed = testing::TestSeed(101);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines =
      MakeStream(seed, testing::EnvInt("LOYALTY_HOSTS_EVENTS", 9'000));
  const size_t q = lines.size() / 4;
  Produce(lines, 0, q);
  Host a = StartHost("host-a", {"--backup-interval=1s"});
  Host b = StartHost("host-b", {"--backup-interval=1s"});
  Host c = StartHost("host-c", {"--backup-interval=1s"});
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets({a.dir, b.dir, c.dir}); }, EndOffsetTotal()))
      << "stalled at " << StoredOffsets({a.dir, b.dir, c.dir}) << " of " << EndOffsetTotal();
  ASSERT_TRUE(WaitFor([&] { return Partitions(b.dir) > 0 && Partitions(c.dir) > 0; }, 1, 60))
      << "a host got no partition";
  // Events flow; every partition's backup catches up with them, then a few
  // more arrive, which the lost host applies (and publishes) after its last
  // backup: the new owners re-derive them and skip their outputs.
  Produce(lines, q, 2 * q);
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets({a.dir, b.dir, c.dir}); }, EndOffsetTotal()));
  ASSERT_TRUE(WaitFor([&] { return BackedUpToEnd(); }, kPartitions, 60))
      << BackedUpToEnd() << " of " << kPartitions << " partitions backed up";
  Produce(lines, 2 * q, 2 * q + 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(Stop(&b, SIGKILL));
  std::filesystem::remove_all(b.dir);
  Produce(lines, 2 * q + 200, 3 * q);
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets({a.dir, c.dir}); }, EndOffsetTotal(), 180))
      << "the lost host's partitions stalled: " << StoredOffsets({a.dir, c.dir}) << " of "
      << EndOffsetTotal();
  EXPECT_GE(Count(Log(a) + Log(c), "msg=\"partition restored from a backup\""), 1)
      << "no partition was restored";
  // A fresh host joins with an empty disk and takes partitions back.
  Host d = StartHost("host-d", {"--backup-interval=1s"});
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets({d.dir}) > 0; }, 1, 120))
      << "the new host restored nothing";
  Produce(lines, 3 * q, lines.size());
  const std::vector<std::string> dirs = {a.dir, c.dir, d.dir};
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets(dirs); }, EndOffsetTotal(), 180))
      << "stalled at " << StoredOffsets(dirs) << " of " << EndOffsetTotal();
  EXPECT_TRUE(Stop(&a, SIGTERM)) << Log(a);
  EXPECT_TRUE(Stop(&c, SIGTERM)) << Log(c);
  EXPECT_TRUE(Stop(&d, SIGTERM)) << Log(d);
  for (const Host* h : {&a, &c, &d}) {
    const std::string log = Log(*h);
    std::fprintf(stderr, "%s: %d partitions assigned, %d restored from a backup, %d backups\n",
                 h->name.c_str(), Count(log, "msg=\"partition assigned\""),
                 Count(log, "msg=\"partition restored from a backup\""),
                 Count(log, "msg=\"partition backed up\""));
  }
  EXPECT_GE(Count(Log(d), "msg=\"partition restored from a backup\""), 1) << Log(d);
  EXPECT_GE(Count(Log(a) + Log(c) + Log(d), "msg=\"partition backed up\" partition="), kPartitions);
  ExpectExactlyOnce(dirs);
  // The backups say which program versions their partition applied: the
  // café's version "2" since the middle of the stream.
  int with_v2 = 0;
  for (int p = 0; p < kPartitions; ++p) {
    auto newest = NewestBackup(backups(), p);
    ASSERT_TRUE(newest.ok() && newest->has_value());
    for (const auto& v : (*newest)->meta.program_versions()) {
      with_v2 += v.program_id() == "cafe" && v.version() == "2" && v.hash().size() == 64;
    }
  }
  EXPECT_GT(with_v2, 0) << "no backup recorded the café's version 2";
  // A version in force may not change: an engine given a program file whose
  // version "2" earns differently refuses the partitions that applied it.
  {
    std::ifstream in(root_ + "/cafe.textproto");
    std::stringstream text;
    text << in.rdbuf();
    std::string changed = text.str();
    const std::string earn = "earn { points: 2 per_minor: 100 }";
    const size_t at = changed.find(earn);
    ASSERT_NE(at, std::string::npos);
    changed.replace(at, earn.size(), "earn { points: 3 per_minor: 100 }");
    std::ofstream(root_ + "/cafe.textproto", std::ios::trunc) << changed;
  }
  Host again = StartHost("host-a");
  int status = 0;
  ASSERT_TRUE(WaitFor([&] { return waitpid(again.pid, &status, WNOHANG) == again.pid; }, 1, 90))
      << "an engine with a changed version in force kept running: " << Log(again);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_TRUE(absl::StrContains(Log(again), "program \"cafe\" version \"2\" in ")) << Log(again);
  EXPECT_TRUE(absl::StrContains(Log(again), "a version in force may not change")) << Log(again);
}

// Input records are deleted (kafka-delete-records) past the newest backup's
// offset of partition 0, and the host is lost: the new owner restores the
// backup, finds the input starting after it, and stops that partition with
// the documented error; nothing is applied or published for it, and the
// other partitions go on.
TEST_F(KafkaHostsTest, ARetentionGapStopsThePartitionNamingIt) {
  const uint64_t seed = testing::TestSeed(103);
  SCOPED_TRACE(testing::Seeded(seed));
  const std::vector<std::string> lines = MakeStream(seed, 3'000);
  const size_t half = lines.size() / 2;
  Produce(lines, 0, half);
  Host a = StartHost("host-a", {"--backup-interval=0"});
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets({a.dir}); }, EndOffsetTotal()));
  ASSERT_TRUE(Stop(&a, SIGTERM)) << Log(a);  // backs up every partition as it releases it
  auto backup = NewestBackup(backups(), 0);
  ASSERT_TRUE(backup.ok() && backup->has_value()) << Log(a);
  const int64_t backed_up = (*backup)->meta.next_offset();
  Produce(lines, half, lines.size());
  auto ends = EndOffsets(broker_->brokers(), topics_.events, 10'000);
  ASSERT_TRUE(ends.ok());
  ASSERT_GT((*ends)[0], backed_up + 5);
  const int64_t log_start = backed_up + 5;
  {
    const std::string json = root_ + "/delete.json";
    std::ofstream(json) << "{\"partitions\":[{\"topic\":\"" << topics_.events
                        << "\",\"partition\":0,\"offset\":" << log_start << "}],\"version\":1}";
    const char* src = std::getenv("LOYALTY_SOURCE_DIR");
    testing::CommandResult r = testing::Sh(
        absl::StrCat(src != nullptr ? src : ".",
                     "/deploy/kafka/kafka.sh run-class org.apache.kafka.tools.DeleteRecordsCommand "
                     "--bootstrap-server ",
                     broker_->brokers(), " --offset-json-file ", json));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto before = testing::CheckOutputs(broker_->brokers(), topics_);
  ASSERT_TRUE(before.ok()) << before.status();
  std::filesystem::remove_all(a.dir);  // the host is lost
  Host e = StartHost("host-e", {"--backup-interval=0"});
  // The other partitions apply everything.
  ASSERT_TRUE(WaitFor([&] { return StoredOffsets({e.dir}); }, EndOffsetTotal() - (*ends)[0] +
                                                                  backed_up))
      << StoredOffsets({e.dir});
  ASSERT_TRUE(WaitFor([&] { return Count(Log(e), "msg=\"partition stopped\""); }, 1, 30))
      << Log(e);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_TRUE(Stop(&e, SIGTERM)) << Log(e);
  const std::string log = Log(e);
  EXPECT_TRUE(absl::StrContains(
      log, absl::StrCat("partition 0 of ", topics_.events,
                        " cannot continue: its state needs the input from offset ", backed_up,
                        ", but the topic's log starts at offset ", log_start)))
      << log;
  EXPECT_EQ(Count(log, "msg=\"partition stopped\""), 1) << log;
  if (const size_t at = log.find("msg=\"partition stopped\""); at != std::string::npos) {
    const size_t start = log.rfind('\n', at) + 1;
    std::fprintf(stderr, "%s\n", log.substr(start, log.find('\n', at) - start).c_str());
  }
  // Nothing applied or published for partition 0; the rest caught up.
  auto store = OpenPartitionReadOnly(PartitionDir(e.dir, 0));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->GetNextOffset(), backed_up);
  auto after = testing::CheckOutputs(broker_->brokers(), topics_);
  ASSERT_TRUE(after.ok()) << after.status();
  for (const std::string& p : after->problems) ADD_FAILURE() << p;
  EXPECT_EQ(after->last_seq[0], before->last_seq[0]) << "partition 0 published after the gap";
  for (int p = 1; p < kPartitions; ++p) {
    EXPECT_GT(after->last_seq[p], before->last_seq[p]) << "partition " << p << " stalled";
  }
}

}  // namespace
}  // namespace loyalty

namespace loyalty {
namespace {

// Two hosts, two partitions: each owns one and, with --standby-replicas=1,
// keeps a warm copy of the other's.
class KafkaStandbyTest : public HostsTest {
 protected:
  KafkaStandbyTest() : HostsTest(2) {}

  // Seconds from a kill -9 of host-a to the first output that host-b
  // commits for a partition host-a owned. With a standby copy, host-b opens
  // it caught up; without, it restores the backup taken half-way and
  // re-applies the input since. Sessions of 2 s (what detecting the loss
  // costs). LOYALTY_STANDBY_EVENTS sizes it (the note: 2,000,000, 10^6 per
  // partition).
  double TakeoverSeconds(bool standby) {
    const uint64_t seed = testing::TestSeed(107);
    SCOPED_TRACE(testing::Seeded(seed));
    const std::vector<std::string> lines =
        MakeStream(seed, testing::EnvInt("LOYALTY_STANDBY_EVENTS", 6'000));
    const size_t half = lines.size() / 2, three_q = lines.size() * 3 / 4;
    const std::vector<std::string> extra = {
        "--session-timeout-ms=2000", "--backup-interval=0",
        absl::StrCat("--standby-replicas=", standby ? 1 : 0)};
    Produce(lines, 0, half);
    Host a = StartHost("host-a", extra);
    Host b = StartHost("host-b", extra);
    const int timeout_s = static_cast<int>(60 + lines.size() / 5'000);
    auto owners = [&] {
      std::set<std::string> out;
      auto group = DescribeGroup(broker_->brokers(), topics_.events + ".group", topics_.events,
                                 partitions_, 10'000);
      for (int p = 0; group.ok() && p < partitions_; ++p) {
        if (group->owners[p].has_value()) out.insert(group->owners[p]->instance_id);
      }
      return out;
    };
    EXPECT_TRUE(WaitFor([&] { return static_cast<int64_t>(owners().size()); }, 2, 60))
        << "one host owns both partitions: " << Log(a) << Log(b);
    EXPECT_TRUE(WaitFor([&] { return StoredOffsets({a.dir, b.dir}); }, EndOffsetTotal(),
                        timeout_s));
    // A backup of host-a's stores half-way (beside the running engine).
    testing::CommandResult backup = testing::Sh(
        testing::Bin("loyaltyctl") + " --data-dir=" + a.dir + " --backup-dir=" + backups() +
        " backup");
    EXPECT_EQ(backup.exit_code, 0) << backup.output;
    Produce(lines, half, three_q);
    // Both copies of every partition caught up (with standbys, each host has
    // both partitions).
    EXPECT_TRUE(WaitFor([&] { return StoredOffsets({a.dir, b.dir}); }, EndOffsetTotal(),
                        timeout_s));
    if (standby) {
      EXPECT_TRUE(WaitFor([&] { return StoredOffsets({b.dir}); }, EndOffsetTotal(), timeout_s))
          << "host-b's standby copy did not catch up: " << Log(b);
    }
    auto group = DescribeGroup(broker_->brokers(), topics_.events + ".group", topics_.events,
                               partitions_, 10'000);
    EXPECT_TRUE(group.ok()) << group.status();
    std::vector<int> owned_by_a;
    for (int p = 0; group.ok() && p < partitions_; ++p) {
      if (group->owners[p].has_value() && group->owners[p]->instance_id == "host-a") {
        owned_by_a.push_back(p);
      }
    }
    EXPECT_EQ(owned_by_a.size(), 1u);
    if (!standby) {
      // host-b may hold a stale copy of host-a's partition from before the
      // group settled (closed: it is not a standby); without it the
      // takeover is a restore from the backup and a replay since.
      for (int p : owned_by_a) std::filesystem::remove_all(PartitionDir(b.dir, p));
    }
    const absl::Time killed = absl::Now();
    EXPECT_TRUE(Stop(&a, SIGKILL));
    Produce(lines, three_q, three_q + 100);
    // host-b logs when its first output transaction of a partition it took
    // over commits.
    auto committed = [&] {
      return FirstLineAfter(Log(b), "partition first output committed", owned_by_a, killed);
    };
    const bool took_over = WaitFor([&] { return committed().has_value(); }, 1, 120);
    EXPECT_TRUE(took_over) << Log(b);
    const double seconds = took_over ? absl::ToDoubleSeconds(*committed() - killed) : -1;
    Produce(lines, three_q + 100, lines.size());
    EXPECT_TRUE(WaitFor([&] { return StoredOffsets({b.dir}); }, EndOffsetTotal(), timeout_s));
    EXPECT_TRUE(Stop(&b, SIGTERM)) << Log(b);
    const std::string log = Log(b);
    std::fprintf(stderr,
                 "takeover after kill -9 (%s, %zu lines): first output of the new owner after "
                 "%.2f s; host-b: %d restored from a backup, %d standby copies opened\n",
                 standby ? "standby" : "no standby", lines.size(), seconds,
                 Count(log, "msg=\"partition restored from a backup\""),
                 Count(log, "msg=\"standby copy opened\""));
    // The partition taken over: opened warm, or restored from the backup.
    const bool restored =
        FirstLineAfter(log, "partition restored from a backup", owned_by_a, killed).has_value();
    EXPECT_EQ(restored, !standby) << log;
    if (standby) {
      EXPECT_GE(Count(log, "msg=\"standby copy opened\""), 1) << log;
    }
    ExpectExactlyOnce({a.dir, b.dir});
    return seconds;
  }
};

TEST_F(KafkaStandbyTest, AStandbyCopyTakesOverWithinSeconds) {
  const double seconds = TakeoverSeconds(/*standby=*/true);
  // 2 s of session, the rebalance, opening the warm store and one
  // transaction: under 5 s (LOYALTY_TAKEOVER_LIMIT_S: the sanitized run's
  // bound, scripts/test.sh).
  EXPECT_LT(seconds, static_cast<double>(testing::EnvInt("LOYALTY_TAKEOVER_LIMIT_S", 5)));
}

TEST_F(KafkaStandbyTest, WithoutAStandbyTheNewOwnerRestoresAndReplays) {
  TakeoverSeconds(/*standby=*/false);
}

}  // namespace
}  // namespace loyalty
