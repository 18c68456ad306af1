// The command-line tools as a user runs them: --help, errors that name the
// file/line/field, replay + verify, and verify failing on a corrupted store.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "loyalty/v1/ledger.pb.h"
#include "tests/testing/command.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"

namespace loyalty {
namespace {

using ::loyalty::testing::Bin;
using ::loyalty::testing::CommandResult;
using ::loyalty::testing::Sh;

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("tools");
    std::ofstream(root_ + "/cafe.textproto") << testing::CafeProgramText();
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Replays a small generated stream into root_/data.
  void ReplaySome() {
    testing::GeneratorOptions g;
    g.seed = 3;
    g.events = 3000;
    g.members = 50;
    g.two_programs = false;
    testing::WriteLines(root_ + "/events.jsonl", testing::GenerateStream(g).lines);
    CommandResult r =
        Sh(absl::StrCat(Bin("loyaltyd"), " replay --program=", root_, "/cafe.textproto",
                        " --data-dir=", root_, "/data --events=", root_, "/events.jsonl"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  std::string root_;
};

TEST_F(ToolsTest, HelpAndUsageErrors) {
  CommandResult help = Sh(Bin("loyaltyd") + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(help.output, "replay --program=PATH")) << help.output;
  CommandResult ctl = Sh(Bin("loyaltyctl") + " --help");
  EXPECT_EQ(ctl.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(ctl.output, "verify")) << ctl.output;
  for (const char* usage : {"checkpoint OUT_DIR", "tail TOPIC [-f] [-n N]", "status [--data-dir=DIR]",
                            "--replication-factor=N", "--min-insync-replicas=M"}) {
    EXPECT_TRUE(absl::StrContains(ctl.output, usage)) << usage << ": " << ctl.output;
  }
  CommandResult unknown = Sh(Bin("loyaltyd") + " replay --nope=1");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(unknown.output, "unknown flag --nope")) << unknown.output;
  CommandResult missing = Sh(Bin("loyaltyd") + " replay --program=x");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(missing.output, "--data-dir is required")) << missing.output;
  // A memory budget out of range is refused before any broker is contacted.
  CommandResult budget =
      Sh(absl::StrCat(Bin("loyaltyd"), " run --brokers=127.0.0.1:1 --program=", root_,
                      "/cafe.textproto --data-dir=", root_, "/data --memtable-mb=4"));
  EXPECT_EQ(budget.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(budget.output, "--memtable-mb must be in [8, 1048576]"))
      << budget.output;
  EXPECT_TRUE(absl::StrContains(help.output, "--members-cached=N")) << help.output;
}

// The part of the demo's output that depends on its stream alone: from the
// engine's counts to the audit line (timings and ports are elsewhere).
std::string DemoSummary(const std::string& output) {
  const size_t from = output.find("What the engine did");
  const size_t to = output.find("Done in");
  if (from == std::string::npos || to == std::string::npos || to < from) return "";
  return output.substr(from, to - from);
}

// loyaltyd demo on its embedded broker: it runs, sends its eight bad events
// to the DLQ, its audit finds no problem, and the same seed gives the same
// summary (SPEC §3.3: the outputs are a function of the input).
TEST_F(ToolsTest, DemoRunsAndTheSameSeedGivesTheSameSummary) {
  const std::string cmd = Bin("loyaltyd") + " demo --seed=3 --members=40";
  CommandResult first = Sh(cmd);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string summary = DemoSummary(first.output);
  ASSERT_FALSE(summary.empty()) << first.output;
  EXPECT_TRUE(absl::StrContains(summary, "to the DLQ         8")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "members, ")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "no problems.")) << summary;
  CommandResult second = Sh(cmd);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(DemoSummary(second.output), summary);
  CommandResult other = Sh(Bin("loyaltyd") + " demo --seed=4 --members=40");
  ASSERT_EQ(other.exit_code, 0) << other.output;
  EXPECT_NE(DemoSummary(other.output), summary) << "the seed changes nothing";
}

TEST_F(ToolsTest, InvalidProgramNamesFileLineAndField) {
  const std::string bad = root_ + "/bad.textproto";
  std::ofstream(bad) << "program_id: \"x\"\ncurrency: \"EUR\"\nearn { points: 1 per_minor: 100 }\n"
                        "tiers { tier_id: \"a\" threshold: 0 earn_multiplier_bp: 10000 }\n"
                        "tiers { tier_id: \"b\" threshold: 0 earn_multiplier_bp: 10000 }\n";
  CommandResult r = Sh(absl::StrCat(Bin("loyaltyd"), " replay --program=", bad,
                                    " --data-dir=", root_, "/d --events=", root_, "/none.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.output, bad + ":5:")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "tiers[1].threshold")) << r.output;
}

TEST_F(ToolsTest, ReplayThenBalanceHistoryDumpVerify) {
  ReplaySome();
  const std::string ctl = absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/data ");
  CommandResult verify = Sh(ctl + "verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_TRUE(absl::StrContains(verify.output, "verify OK")) << verify.output;
  CommandResult dump = Sh(ctl + "dump");
  EXPECT_EQ(dump.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(dump.output, "\"available_points\"")) << dump.output;
  CommandResult balance = Sh(ctl + "balance m1");
  EXPECT_EQ(balance.exit_code, 0) << balance.output;
  EXPECT_TRUE(absl::StrContains(balance.output, "\"member_id\":\"m1\"")) << balance.output;
  CommandResult history = Sh(ctl + "history m1");
  EXPECT_EQ(history.exit_code, 0) << history.output;
  EXPECT_TRUE(absl::StrContains(history.output, "\"seq\":\"1\"")) << history.output;
  CommandResult nobody = Sh(ctl + "balance nobody");
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(nobody.output, "no member \"nobody\"")) << nobody.output;
}

// checkpoint OUT: a data directory of its own, with the same keyspace as the
// source; verify passes on it and replay continues from it.
TEST_F(ToolsTest, CheckpointIsADataDirectoryOfItsOwn) {
  ReplaySome();
  const std::string ctl = absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/data ");
  CommandResult made = Sh(ctl + "checkpoint " + root_ + "/ckpt");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(absl::StrContains(made.output, root_ + "/ckpt/p-0000: next offset ")) << made.output;
  EXPECT_TRUE(absl::StrContains(made.output, "checkpoint of 1 partition written to " + root_ +
                                                 "/ckpt"))
      << made.output;
  EXPECT_FALSE(absl::StrContains(made.output, "while in use")) << made.output;
  const std::string source = testing::HashPartitionStore(PartitionDir(root_ + "/data", 0));
  EXPECT_EQ(testing::HashPartitionStore(PartitionDir(root_ + "/ckpt", 0)), source);
  CommandResult verify =
      Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/ckpt verify"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_TRUE(absl::StrContains(verify.output, "verify OK")) << verify.output;
  // The same dump, member by member.
  EXPECT_EQ(Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/ckpt dump")).output,
            Sh(ctl + "dump").output);

  // Never over something: a checkpoint goes into a new (or empty) directory.
  CommandResult again = Sh(ctl + "checkpoint " + root_ + "/ckpt");
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_TRUE(absl::StrContains(again.output, "exists and is not an empty directory"))
      << again.output;
  CommandResult none =
      Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/none checkpoint ", root_, "/x"));
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_TRUE(absl::StrContains(none.output, "no such data directory")) << none.output;
  CommandResult usage = Sh(ctl + "checkpoint");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;

  // replay continues from it: the same file again applies nothing new.
  CommandResult replay =
      Sh(absl::StrCat(Bin("loyaltyd"), " replay --program=", root_, "/cafe.textproto",
                      " --data-dir=", root_, "/ckpt --events=", root_, "/events.jsonl"));
  ASSERT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_EQ(testing::HashPartitionStore(PartitionDir(root_ + "/ckpt", 0)), source);
}

// checkpoint while another process writes the store (it holds RocksDB's
// lock, as a running engine does): each checkpoint is one consistent
// moment (verify passes), and replaying the rest of the input into it ends
// in the same store as a replay that was never copied.
TEST_F(ToolsTest, CheckpointWhileTheStoreIsWritten) {
  testing::GeneratorOptions g;
  g.seed = 5;
  g.events = 120'000;
  g.members = 2'000;
  g.two_programs = false;
  testing::WriteLines(root_ + "/events.jsonl", testing::GenerateStream(g).lines);
  const std::string replay = absl::StrCat(
      Bin("loyaltyd"), " replay --quiet --batch-size=64 --program=", root_,
      "/cafe.textproto --events=", root_, "/events.jsonl --data-dir=");
  CommandResult started =
      Sh(absl::StrCat("sh -c '", replay, root_, "/data >", root_, "/replay.log 2>&1 & echo $!'"));
  const pid_t pid = static_cast<pid_t>(std::atoll(started.output.c_str()));
  ASSERT_GT(pid, 0) << started.output;
  // The store appears a moment after the start.
  for (int i = 0; i < 100 && !std::filesystem::exists(PartitionDir(root_ + "/data", 0) + "/CURRENT");
       ++i) {
    usleep(20'000);
  }
  std::vector<std::string> taken;
  while (kill(pid, 0) == 0 && taken.size() < 8) {
    const std::string out = absl::StrCat(root_, "/ck-", taken.size());
    CommandResult r = Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/data checkpoint ",
                                      out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    if (absl::StrContains(r.output, "copied while in use")) taken.push_back(out);
  }
  while (kill(pid, 0) == 0) usleep(50'000);
  ASSERT_GE(taken.size(), 2u) << "the replay ended before two checkpoints; make it longer";
  const std::string clean = testing::HashPartitionStore(PartitionDir(root_ + "/data", 0));
  for (const std::string& dir : taken) {
    CommandResult verify = Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", dir, " verify"));
    EXPECT_EQ(verify.exit_code, 0) << dir << ": " << verify.output;
  }
  EXPECT_NE(testing::HashPartitionStore(PartitionDir(taken.front(), 0)), clean)
      << "the first checkpoint holds the whole replay";
  for (const std::string& dir : {taken.front(), taken.back()}) {
    CommandResult rest = Sh(replay + dir);
    ASSERT_EQ(rest.exit_code, 0) << rest.output;
    EXPECT_EQ(testing::HashPartitionStore(PartitionDir(dir, 0)), clean) << dir;
  }
}

// kill -9 at a few moments: the DLQ and outcome files end up byte-identical
// to those of an uninterrupted run (each line exactly once), and so does the
// store. (A kill rarely lands between an output flush and its commit;
// fault_test hits that window on purpose.)
TEST_F(ToolsTest, ReplayOutputFilesSurviveKill9ExactlyOnce) {
  testing::GeneratorOptions g;
  g.seed = 11;
  g.events = 60'000;
  g.members = 500;
  g.two_programs = false;
  testing::WriteLines(root_ + "/events.jsonl", testing::GenerateStream(g).lines);
  auto replay = [&](const std::string& name) {
    return absl::StrCat(Bin("loyaltyd"), " replay --quiet --batch-size=256 --program=", root_,
                        "/cafe.textproto --data-dir=", root_, "/", name, " --events=", root_,
                        "/events.jsonl --dlq=", root_, "/", name, ".dlq --outcomes=", root_, "/",
                        name, ".outcomes");
  };
  ASSERT_EQ(Sh(replay("clean")).exit_code, 0);
  int kills = 0;
  for (const char* delay : {"0.3", "0.7", "1.1", "0.5", "0.9"}) {
    CommandResult r = Sh(absl::StrCat("sh -c '", replay("killed"), " & p=$!; sleep ", delay,
                                      "; kill -9 $p && echo killed; wait $p; true'"));
    kills += absl::StrContains(r.output, "killed") ? 1 : 0;
  }
  EXPECT_GE(kills, 3) << "the replay finished before most kills; make the stream longer";
  CommandResult last = Sh(replay("killed"));
  ASSERT_EQ(last.exit_code, 0) << last.output;
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string dlq = read(root_ + "/clean.dlq");
  EXPECT_GT(dlq.size(), 1000u);
  EXPECT_EQ(read(root_ + "/killed.dlq"), dlq);
  EXPECT_EQ(read(root_ + "/killed.outcomes"), read(root_ + "/clean.outcomes"));
  EXPECT_EQ(testing::HashPartitionStore(PartitionDir(root_ + "/killed", 0)),
            testing::HashPartitionStore(PartitionDir(root_ + "/clean", 0)));
}

// Corrupts one thing at a time through RocksDB itself and expects verify to
// name it.
TEST_F(ToolsTest, VerifyFailsOnACorruptedStore) {
  ReplaySome();
  const std::string dir = PartitionDir(root_ + "/data", 0);
  const std::string ctl = absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/data verify");
  // Through RocksDB's own write, below the store's typed API: what a
  // damaged or tampered store looks like.
  auto corrupt = [&](const std::function<void(PartitionStore*, rocksdb::WriteBatch*)>& f) {
    auto store = PartitionStore::Open(dir, StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    rocksdb::WriteBatch batch;
    f(store->get(), &batch);
    ASSERT_TRUE((*store)->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  };
  // 1. A balance that the ledger does not explain, written through the
  // store's own batch (which checks nothing: the partition does).
  {
    auto store = PartitionStore::Open(dir, StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    loyalty::v1::MemberRecord r;
    auto found = (*store)->GetMember(MemberRef{ProgramId("cafe"), MemberId("m1")}, &r);
    ASSERT_TRUE(found.ok() && *found);
    r.mutable_state()->set_available_points(r.state().available_points() + 5);
    StoreBatch batch(store->get());
    batch.PutMember(MemberRef{ProgramId("cafe"), MemberId("m1")}, r);
    ASSERT_TRUE((*store)->Write(&batch).ok());
  }
  CommandResult bad = Sh(ctl);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_TRUE(absl::StrContains(bad.output, "MISMATCH")) << bad.output;
  EXPECT_TRUE(absl::StrContains(bad.output, "cafe/m1")) << bad.output;
  EXPECT_TRUE(absl::StrContains(bad.output, "entries sum to")) << bad.output;
  // The tools that read members check the record (CheckMemberRecord) and
  // refuse it, naming it, instead of printing a balance its lots deny.
  for (const char* read : {" balance m1", " dump"}) {
    CommandResult r = Sh(absl::StrCat(Bin("loyaltyctl"), " --data-dir=", root_, "/data", read));
    EXPECT_EQ(r.exit_code, 1) << read << ": " << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "member cafe/m1: ")) << read << ": " << r.output;
  }

  // 2. Restore by replaying into a fresh directory, then drop a ledger entry
  // from the journal: m1's second entry leaves its outcome.
  std::filesystem::remove_all(root_ + "/data");
  ReplaySome();
  corrupt([&](PartitionStore* s, rocksdb::WriteBatch* b) {
    std::unique_ptr<rocksdb::Iterator> it(
        s->db()->NewIterator(rocksdb::ReadOptions(), s->cf(Cf::kJournal)));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    loyalty::v1::JournalBatch journal;
    ASSERT_TRUE(journal.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
    bool dropped = false;
    for (auto& r : *journal.mutable_records()) {
      if (!r.has_outcome() || r.key() != "cafe/m1") continue;
      auto* entries = r.mutable_outcome()->mutable_entries();
      for (int i = 0; i < entries->size() && !dropped; ++i) {
        if (entries->Get(i).seq() == 2) {
          entries->DeleteSubrange(i, 1);
          dropped = true;
        }
      }
    }
    ASSERT_TRUE(dropped);
    ASSERT_TRUE(b->Put(s->cf(Cf::kJournal), it->key(), journal.SerializeAsString()).ok());
  });
  CommandResult gap = Sh(ctl);
  EXPECT_EQ(gap.exit_code, 1) << gap.output;
  EXPECT_TRUE(absl::StrContains(gap.output, "ledger seq 3 where 2 was expected")) << gap.output;
}

}  // namespace
}  // namespace loyalty
