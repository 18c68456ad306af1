// The partition layer: dedupe, DUPLICATE_ORDER, ticks through the due index,
// idempotent offsets and a cache that never changes results.
#include "engine/ledger/partition.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/audit/audit.h"
#include "engine/base/crypto.h"
#include "engine/base/time.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using loyalty::v1::Outcome;

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/partition-test-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    auto p = ParseProgramText(R"pb(program_id: "cafe"
                                   currency: "EUR"
                                   earn { points: 1 per_minor: 100 }
                                   pending_days: 2
                                   expiration { mode: FIXED_DAYS days: 10 })pb",
                              "test");
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(programs_.Add(std::move(*p)).ok());
    Open(PartitionOptions());
  }
  void Open(const PartitionOptions& options) {
    partition_.reset();
    store_.reset();
    auto store = PartitionStore::Open(dir_, StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto partition = Partition::Open(&programs_, store_.get(), options);
    ASSERT_TRUE(partition.ok()) << partition.status();
    partition_ = std::move(*partition);
  }
  BatchOutputs Apply(const std::vector<std::string>& lines, int64_t first_offset) {
    std::vector<InputRecord> records;
    for (size_t i = 0; i < lines.size(); ++i)
      records.push_back({first_offset + int64_t(i), lines[i]});
    BatchOutputs out;
    EXPECT_TRUE(partition_->ApplyBatch(records, InputFormat::kJson, &out).ok());
    return out;
  }
  static std::string Buy(const std::string& id, const std::string& member, const std::string& order,
                         int64_t amount, const std::string& when = "2024-01-01T00:00:00Z") {
    return "{\"event_id\":\"" + id + "\",\"program_id\":\"cafe\",\"member_id\":\"" + member +
           "\",\"occurred_at\":\"" + when + "\",\"purchase\":{\"order_id\":\"" + order +
           "\",\"amount_minor\":" + std::to_string(amount) + ",\"currency\":\"EUR\"}}";
  }
  static std::string Tick(const std::string& id, const std::string& when) {
    return "{\"event_id\":\"" + id + "\",\"program_id\":\"cafe\",\"occurred_at\":\"" + when +
           "\",\"tick\":{\"now\":\"" + when + "\"}}";
  }
  loyalty::v1::MemberState State(const std::string& member) {
    loyalty::v1::MemberRecord rec;
    auto found = store_->GetMember(MemberRef{ProgramId("cafe"), MemberId(member)}, &rec);
    EXPECT_TRUE(found.ok() && *found) << member;
    return rec.state();
  }
  // The outcomes and DLQ reasons of a batch, in order.
  static std::vector<std::string> Results(const BatchOutputs& out) {
    std::vector<std::string> results;
    for (const JournalRecordView& r : out.journal.records()) {
      if (r.kind == JournalKind::kDlq) {
        loyalty::v1::DlqRecord dlq;
        EXPECT_TRUE(dlq.ParseFromArray(r.value.data(), static_cast<int>(r.value.size())));
        results.push_back(loyalty::v1::RejectReason_Name(dlq.reason()));
      } else if (r.kind == JournalKind::kOutcome) {
        Outcome o;
        EXPECT_TRUE(o.ParseFromArray(r.value.data(), static_cast<int>(r.value.size())));
        results.push_back(Outcome::Status_Name(o.status()) +
                          (o.reason().empty() ? "" : ":" + o.reason()));
      }
    }
    return results;
  }

  // SHA-256 over every column family's keys and values; the journal by its
  // records, whichever batches hold them.
  std::string testing_hash() {
    std::string all;
    for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
      if (cf == static_cast<int>(Cf::kJournal)) {
        EXPECT_TRUE(store_
                        ->ForEachJournalRecord(0,
                                               [&](const JournalRecordView& r) {
                                                 all += "j" + std::to_string(r.seq) + "|" +
                                                        std::string(r.key) + "|" +
                                                        std::string(r.value) + "\n";
                                                 return absl::OkStatus();
                                               })
                        .ok());
        continue;
      }
      std::unique_ptr<rocksdb::Iterator> it(
          store_->db()->NewIterator(rocksdb::ReadOptions(), store_->cf(static_cast<Cf>(cf))));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        all +=
            std::to_string(cf) + "|" + it->key().ToString() + "|" + it->value().ToString() + "\n";
      }
    }
    return HexDigest(Sha256(all));
  }

  std::string dir_;
  ProgramSet programs_;
  std::unique_ptr<PartitionStore> store_;
  std::unique_ptr<Partition> partition_;
};

TEST_F(PartitionTest, DuplicatesSameAndDifferentPayloadAndDuplicateOrders) {
  BatchOutputs out =
      Apply({Buy("e1", "m", "o1", 1000), Buy("e1", "m", "o1", 1000), Buy("e1", "m", "o1", 2000),
             Buy("e2", "m", "o1", 500), Buy("e1", "other", "o1", 1000)},
            1);
  EXPECT_EQ(out.applied, 2);  // e1 for m, e1 for other (another dedupe key)
  EXPECT_EQ(out.duplicates, 1);
  EXPECT_EQ(out.rejected, 2);
  EXPECT_EQ(Results(out),
            (std::vector<std::string>{"APPLIED", "DUPLICATE", "DUPLICATE_CONFLICT",
                                      "DUPLICATE_ORDER", "APPLIED"}));
  // Output numbers: the first outcome and its balance, then one each.
  std::vector<int64_t> seqs;
  for (const JournalRecordView& r : out.journal.records()) seqs.push_back(r.seq);
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(partition_->next_seq(), 8);
  EXPECT_EQ(State("m").pending_points(), 10);
  EXPECT_EQ(State("m").version(), 1);
  // A duplicate in a later batch, after a restart, is still a duplicate.
  Open(PartitionOptions());
  out = Apply({Buy("e1", "m", "o1", 1000)}, 6);
  EXPECT_EQ(out.duplicates, 1);
  EXPECT_EQ(State("m").version(), 1);
}

TEST_F(PartitionTest, OffsetsBelowTheStoredOneAreSkipped) {
  Apply({Buy("e1", "m", "o1", 1000), Buy("e2", "m", "o2", 1000)}, 10);
  EXPECT_EQ(partition_->next_offset(), 12);
  Open(PartitionOptions());
  EXPECT_EQ(partition_->next_offset(), 12);
  BatchOutputs again = Apply({Buy("e1", "m", "o1", 1000), Buy("e2", "m", "o2", 1000)}, 10);
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(again.applied, 0);
  EXPECT_EQ(State("m").purchase_count(), 2);
}

TEST_F(PartitionTest, TicksMatureMembersThroughTheDueIndex) {
  Apply({Buy("e1", "a", "o1", 1000, "2024-01-01T00:00:00Z"),
         Buy("e2", "b", "o2", 2000, "2024-01-05T00:00:00Z")},
        1);
  // + 2 pending days, released at the next midnight: a on 01-04, b on 01-08;
  // + 10 days, expiring at the next midnight: a on 01-15, b on 01-19.
  BatchOutputs out = Apply({Tick("t1", "2024-01-04T00:00:00Z")}, 3);
  EXPECT_EQ(Results(out), (std::vector<std::string>{"APPLIED:MATURED", "APPLIED"}));
  EXPECT_EQ(State("a").available_points(), 10);
  EXPECT_EQ(State("a").version(), 2);
  EXPECT_EQ(State("b").pending_points(), 20);
  EXPECT_EQ(State("b").version(), 1);
  // An older tick changes nothing; a later one expires a and releases b.
  out = Apply({Tick("t2", "2024-01-02T00:00:00Z"), Tick("t3", "2024-01-15T00:00:00Z")}, 4);
  EXPECT_EQ(Results(out), (std::vector<std::string>{"IGNORED:STALE_TICK", "APPLIED:MATURED",
                                                    "APPLIED:MATURED", "APPLIED"}));
  EXPECT_EQ(State("a").expired_points(), 10);
  EXPECT_EQ(State("b").available_points(), 20);
  auto report = VerifyStore(store_.get());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems[0];
}

TEST_F(PartitionTest, TicksInTheSameBatchSeeThatBatchsDueIndexChanges) {
  // a and b become due inside the batch that ticks them: the tick must find
  // their due keys in the batch's own writes, not only in the store.
  const std::vector<std::string> lines = {
      Buy("e1", "a", "o1", 1000, "2024-01-01T00:00:00Z"),  // released 01-04
      Buy("e2", "b", "o2", 2000, "2024-01-02T00:00:00Z"),  // released 01-05
      Tick("t1", "2024-01-04T12:00:00Z"),                   // releases a
      Buy("e3", "b", "o3", 3000, "2024-01-04T13:00:00Z"),  // released 01-07
      Tick("t2", "2024-01-07T00:00:00Z"),                   // releases both of b's lots
  };
  Apply(lines, 1);
  EXPECT_EQ(State("a").available_points(), 10);
  EXPECT_EQ(State("b").available_points(), 50);
  EXPECT_EQ(State("b").pending_points(), 0);
  const std::string one_batch = testing_hash();
  // The same records one per batch give the same store.
  dir_ += "-split";
  std::filesystem::remove_all(dir_);
  Open(PartitionOptions());
  for (size_t i = 0; i < lines.size(); ++i) Apply({lines[i]}, 1 + i);
  EXPECT_EQ(testing_hash(), one_batch);
}

TEST_F(PartitionTest, ACacheOfOneMemberGivesTheSameStoreAsALargeCache) {
  std::vector<std::string> lines;
  for (int i = 0; i < 60; ++i) {
    lines.push_back(Buy("e" + std::to_string(i), "m" + std::to_string(i % 3),
                        "o" + std::to_string(i), 100 + i,
                        "2024-01-0" + std::to_string(1 + i / 10) + "T00:00:00Z"));
    if (i % 7 == 6)
      lines.push_back(
          Tick("t" + std::to_string(i), "2024-01-0" + std::to_string(1 + i / 10) + "T12:00:00Z"));
  }
  auto run = [&](size_t cache_max) {
    PartitionOptions options;
    options.members_cached_max = cache_max;
    dir_ += "-" + std::to_string(cache_max);
    std::filesystem::remove_all(dir_);
    Open(options);
    for (size_t i = 0; i < lines.size(); i += 4) {
      std::vector<std::string> batch(lines.begin() + i,
                                     lines.begin() + std::min(lines.size(), i + 4));
      Apply(batch, 1 + i);
      EXPECT_LE(partition_->cached_members(), cache_max);
    }
    return testing_hash();
  };
  const std::string small = run(1);
  EXPECT_EQ(
      State("m0").purchase_count() + State("m1").purchase_count() + State("m2").purchase_count(),
      60);
  EXPECT_EQ(run(1'000'000), small);
}

// --- Program versions (SPEC §10) --------------------------------------------

constexpr char kCafeRules[] = R"pb(currency: "EUR"
                                   pending_days: 2
                                   expiration { mode: FIXED_DAYS days: 10 })pb";

// The café of PartitionTest earning `points` per euro, as a version block's
// program or a whole file.
std::string CafeEarning(int points) {
  return absl::StrCat("program_id: \"cafe\"\n", kCafeRules, "\nearn { points: ", points,
                      " per_minor: 100 }\n");
}
std::string WithVersion(const std::string& file, const std::string& name, const std::string& from,
                        int points) {
  return absl::StrCat(file, "versions { version: \"", name, "\" effective_from: \"", from,
                      "\" program { ", CafeEarning(points), " } }\n");
}

class PartitionVersionsTest : public PartitionTest {
 protected:
  // Reopens the store and the partition with the program file `text`.
  absl::Status Reopen(const std::string& text) {
    partition_.reset();
    store_.reset();
    programs_ = ProgramSet();
    auto h = ParseProgramFile(text, "programs/cafe.textproto");
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return h.status();
    EXPECT_TRUE(programs_.Add(std::move(*h)).ok());
    auto store = PartitionStore::Open(dir_, StoreOptions());
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto partition = Partition::Open(&programs_, store_.get(), PartitionOptions());
    if (!partition.ok()) return partition.status();
    partition_ = std::move(*partition);
    return absl::OkStatus();
  }
  std::vector<std::string> Applied() {
    auto applied = store_->AppliedVersions();
    EXPECT_TRUE(applied.ok()) << applied.status();
    std::vector<std::string> out;
    for (const AppliedProgramVersion& v : applied.value_or(std::vector<AppliedProgramVersion>{})) {
      out.push_back(absl::StrCat(v.program_id, "/", v.version, " ", v.effective_from));
    }
    return out;
  }
  std::optional<int64_t> AppliedTimeMax() {
    auto t = store_->GetAppliedTimeMax(ProgramId("cafe"));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.value_or(std::nullopt);
  }
  const ProgramHistory& history() { return *programs_.FindHistory("cafe"); }
};

int64_t Ns(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

TEST_F(PartitionVersionsTest, AVersionIsRecordedInTheWriteOfTheBatchThatReachesIt) {
  const std::string file = WithVersion(CafeEarning(1), "2024-02", "2024-02-01T00:00:00Z", 2);
  ASSERT_TRUE(Reopen(file).ok());
  EXPECT_TRUE(Applied().empty());
  EXPECT_EQ(AppliedTimeMax(), std::nullopt);

  Apply({Buy("e1", "m", "o1", 1000, "2024-01-10T00:00:00Z")}, 1);
  EXPECT_EQ(Applied(), (std::vector<std::string>{"cafe/1 "}));
  EXPECT_EQ(AppliedTimeMax(), Ns("2024-01-10T00:00:00Z"));
  EXPECT_EQ(State("m").pending_points(), 10);

  // A batch that reaches version 2 but fails to commit records nothing; the
  // record is in that batch's one write, not before it.
  std::vector<InputRecord> records;
  const std::string line = Buy("e2", "m", "o2", 1000, "2024-02-01T00:00:00Z");
  records.push_back({2, line});
  BatchOutputs out;
  absl::Status abandoned = partition_->ApplyBatch(
      records, InputFormat::kJson, &out,
      [](const BatchOutputs&, StoreBatch*) { return absl::UnavailableError("not now"); });
  EXPECT_FALSE(abandoned.ok());
  EXPECT_EQ(Applied(), (std::vector<std::string>{"cafe/1 "}));
  EXPECT_EQ(AppliedTimeMax(), Ns("2024-01-10T00:00:00Z"));
  int pre_commits = 0;
  ASSERT_TRUE(partition_
                  ->ApplyBatch(records, InputFormat::kJson, &out,
                               [&](const BatchOutputs&, StoreBatch*) {
                                 ++pre_commits;
                                 // Staged, not yet written.
                                 EXPECT_EQ(Applied().size(), 1u);
                                 return absl::OkStatus();
                               })
                  .ok());
  EXPECT_EQ(pre_commits, 1);
  EXPECT_EQ(Applied(), (std::vector<std::string>{"cafe/1 ", "cafe/2024-02 2024-02-01T00:00:00Z"}));
  EXPECT_EQ(AppliedTimeMax(), Ns("2024-02-01T00:00:00Z"));
  EXPECT_EQ(State("m").lifetime_earned_points(), 10 + 20);  // version 2 earns double
  auto applied = store_->AppliedVersions();
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ((*applied)[0].hash, history().version(0).hash());
  EXPECT_EQ((*applied)[1].hash, history().version(1).hash());
  EXPECT_EQ((*applied)[1].effective_from_ns, Ns("2024-02-01T00:00:00Z"));
  // The same file opens again.
  EXPECT_TRUE(Reopen(file).ok());
}

TEST_F(PartitionVersionsTest, AChangedVersionInForceIsRefusedOnOpen) {
  const std::string file = WithVersion(CafeEarning(1), "2024-02", "2024-02-01T00:00:00Z", 2);
  ASSERT_TRUE(Reopen(file).ok());
  Apply({Buy("e1", "m", "o1", 1000, "2024-02-10T00:00:00Z")}, 1);
  ASSERT_EQ(Applied().size(), 2u);

  // Version 2, in force, edited.
  const std::string edited = WithVersion(CafeEarning(1), "2024-02", "2024-02-01T00:00:00Z", 3);
  absl::Status s = Reopen(edited);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  for (const std::string& part :
       {std::string("program \"cafe\" version \"2024-02\" in programs/cafe.textproto"),
        std::string(dir_), history().version(1).hash().substr(0, 12),
        std::string("restore the version as it was, and put the change in a new version with "
                    "a future effective_from")}) {
    EXPECT_TRUE(absl::StrContains(s.message(), part)) << s << "\nexpected: " << part;
  }
  // The hash recorded is the original's.
  ASSERT_TRUE(Reopen(file).ok());
  const std::string original = history().version(1).hash().substr(0, 12);
  s = Reopen(edited);
  EXPECT_TRUE(absl::StrContains(s.message(), original)) << s;

  // The base version edited, or version 2 gone: refused too.
  s = Reopen(WithVersion(CafeEarning(5), "2024-02", "2024-02-01T00:00:00Z", 2));
  EXPECT_TRUE(absl::StrContains(s.message(), "program \"cafe\" version \"1\"")) << s;
  s = Reopen(CafeEarning(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(
      s.message(), "program \"cafe\" version \"2024-02\" is missing from programs/cafe.textproto"))
      << s;
  // Nothing was applied meanwhile: the original file still opens.
  EXPECT_TRUE(Reopen(file).ok());
}

TEST_F(PartitionVersionsTest, ANewVersionInThePastOfAppliedEventsIsRefusedAFutureOneApplied) {
  ASSERT_TRUE(Reopen(CafeEarning(1)).ok());
  Apply({Buy("e1", "m", "o1", 1000, "2024-03-01T00:00:00Z")}, 1);
  // Effective before, or at, what was applied: refused.
  for (const char* from : {"2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"}) {
    absl::Status s = Reopen(WithVersion(CafeEarning(1), "late", from, 2));
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    for (const std::string& part :
         {absl::StrCat("program \"cafe\" version \"late\" in programs/cafe.textproto takes effect "
                       "at ",
                       from),
          std::string("up to 2024-03-01T00:00:00Z"),
          std::string("give the new version an effective_from after 2024-03-01T00:00:00Z")}) {
      EXPECT_TRUE(absl::StrContains(s.message(), part)) << s << "\nexpected: " << part;
    }
  }
  // A tick moves the time applied too.
  ASSERT_TRUE(Reopen(CafeEarning(1)).ok());
  Apply({Tick("t1", "2024-03-10T00:00:00Z")}, 2);
  EXPECT_EQ(AppliedTimeMax(), Ns("2024-03-10T00:00:00Z"));
  EXPECT_FALSE(Reopen(WithVersion(CafeEarning(1), "v2", "2024-03-05T00:00:00Z", 2)).ok());
  // In the future: accepted, and applied once events reach it.
  const std::string file = WithVersion(CafeEarning(1), "v2", "2024-03-10T00:00:00.000000001Z", 2);
  ASSERT_TRUE(Reopen(file).ok());
  // t = the tick time, just before version 2: 10 points.
  Apply({Buy("e2", "m", "o2", 1000, "2024-03-09T00:00:00Z")}, 3);
  EXPECT_EQ(State("m").lifetime_earned_points(), 10 + 10);
  EXPECT_EQ(Applied().size(), 1u);
  Apply({Buy("e3", "m", "o3", 1000, "2024-03-11T00:00:00Z")}, 4);
  EXPECT_EQ(State("m").lifetime_earned_points(), 10 + 10 + 20);
  EXPECT_EQ(Applied(),
            (std::vector<std::string>{"cafe/1 ", "cafe/v2 2024-03-10T00:00:00.000000001Z"}));
  EXPECT_TRUE(Reopen(file).ok());
}

TEST_F(PartitionVersionsTest, AStreamAcrossTheBoundaryGivesOneStoreWithOrWithoutARestart) {
  const std::string file = WithVersion(CafeEarning(1), "2024-02", "2024-02-01T00:00:00Z", 2);
  std::vector<std::string> lines;
  for (int day = 0; day < 60; ++day) {
    const std::string when =
        FormatRfc3339(Ns("2024-01-05T10:00:00Z") + int64_t{day} * 86'400'000'000'000);
    lines.push_back(Buy(absl::StrCat("e", day), absl::StrCat("m", day % 4), absl::StrCat("o", day),
                        500 + day, when));
    if (day % 5 == 4) lines.push_back(Tick(absl::StrCat("t", day), when));
  }
  const std::string base_dir = dir_;
  auto run = [&](const std::string& name, size_t restart_at) {
    dir_ = base_dir + "-" + name;
    std::filesystem::remove_all(dir_);
    EXPECT_TRUE(Reopen(file).ok());
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i == restart_at) {
        EXPECT_TRUE(Reopen(file).ok());
      }
      Apply({lines[i]}, 1 + static_cast<int64_t>(i));
    }
    return testing_hash();
  };
  const std::string whole = run("whole", SIZE_MAX);
  EXPECT_EQ(Applied().size(), 2u);
  // A restart just before the first event of version 2, and one later.
  EXPECT_EQ(run("restart-at-boundary", 32), whole);
  EXPECT_EQ(run("restart-after", 50), whole);
  // m0 spent 500 + day cents on days 0, 4, .., 56: 7 times before
  // February (1 point per euro: 5 each), 8 times from February (version 2,
  // 2 points per euro: 10 each, 11 on days 52 and 56).
  EXPECT_EQ(State("m0").lifetime_earned_points(), 7 * 5 + 6 * 10 + 2 * 11);
}

}  // namespace
}  // namespace loyalty
