// BuildReport checks every member record it reads (CheckMemberRecord) and
// fails, naming the partition, rather than count a broken one. The stores
// are written directly (StoreBatch::PutMember), as a bug or a damaged disk
// could leave them; tests/report_test.cc covers the figures.
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/report/report.h"
#include "engine/store/store.h"
#include "gtest/gtest.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

using loyalty::v1::MemberRecord;

class ReportCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/report-check-test-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    for (const char* id : {"cafe", "shop"}) {
      auto p = ParseProgramText(absl::StrCat("program_id: \"", id,
                                             "\" currency: \"EUR\" "
                                             "earn { points: 1 per_minor: 100 }"),
                                "test");
      ASSERT_TRUE(p.ok()) << p.status();
      ASSERT_TRUE(programs_.Add(std::move(*p)).ok());
    }
  }

  // A record that keeps every invariant: no points, no lots.
  static MemberRecord Member(const std::string& program_id, const std::string& member_id) {
    MemberRecord rec;
    rec.set_next_entry_seq(1);
    rec.set_next_lot_id(1);
    rec.set_clock_ns(1'700'000'000'000'000'000);
    rec.mutable_state()->set_program_id(program_id);
    rec.mutable_state()->set_member_id(member_id);
    rec.mutable_state()->set_version(1);
    return rec;
  }

  void Put(int32_t partition, const MemberRecord& rec) {
    auto store = PartitionStore::Open(PartitionDir(dir_, partition), StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    StoreBatch batch(store->get());
    batch.PutMember(MemberRefOf(rec), rec);
    ASSERT_TRUE((*store)->Write(&batch).ok());
  }

  std::string dir_;
  ProgramSet programs_;
};

TEST_F(ReportCheckTest, AGoodRecordIsCounted) {
  Put(0, Member("cafe", "m1"));
  auto report = BuildReport(dir_, programs_, ReportOptions());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->programs.size(), 2u);
  EXPECT_EQ(report->programs[0].program_id, "cafe");
  EXPECT_EQ(report->programs[0].members, 1);
}

TEST_F(ReportCheckTest, ABrokenBalanceFailsTheReportNamingThePartition) {
  Put(0, Member("cafe", "m1"));
  // Points that no lot holds: the report used to count them as outstanding.
  MemberRecord broken = Member("cafe", "m2");
  broken.mutable_state()->set_available_points(5);
  broken.mutable_state()->set_lifetime_earned_points(5);
  Put(1, broken);
  auto report = BuildReport(dir_, programs_, ReportOptions());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss) << report.status();
  const std::string message(report.status().message());
  EXPECT_TRUE(absl::StrContains(message, PartitionDir(dir_, 1) + ": ")) << message;
  EXPECT_TRUE(absl::StrContains(message, "cafe/m2")) << message;
  EXPECT_TRUE(absl::StrContains(message, "available_points = 5")) << message;
}

TEST_F(ReportCheckTest, ABadStoredTimestampFailsTheReport) {
  MemberRecord broken = Member("cafe", "m1");
  broken.mutable_state()->mutable_last_purchase_at()->set_nanos(-1);
  Put(0, broken);
  auto report = BuildReport(dir_, programs_, ReportOptions());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss) << report.status();
  EXPECT_TRUE(absl::StrContains(report.status().message(), "last_purchase_at")) << report.status();
}

TEST_F(ReportCheckTest, OnlyTheRecordsOfReportedProgramsAreChecked) {
  Put(0, Member("cafe", "m1"));
  MemberRecord broken = Member("shop", "m2");
  broken.mutable_state()->set_pending_points(3);
  broken.mutable_state()->set_lifetime_earned_points(3);
  Put(0, broken);
  ReportOptions cafe_only;
  cafe_only.program_id = "cafe";
  auto report = BuildReport(dir_, programs_, cafe_only);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->programs[0].members, 1);
  EXPECT_EQ(BuildReport(dir_, programs_, ReportOptions()).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace loyalty
