// The shaped batches of the null pipeline and the RocksDB limit: what they
// write per record is the shape they were given.
#include "bench/shaped_writes.h"

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace loyalty::bench {
namespace {

RecordShape::Family Family(Cf cf, double puts, double deletes, double key_bytes,
                           double value_bytes) {
  RecordShape::Family f;
  f.name = CfName(cf);
  f.puts_per_record = puts;
  f.deletes_per_record = deletes;
  f.key_bytes = key_bytes;
  f.value_bytes = value_bytes;
  return f;
}

// An engine-like shape: fractional counts, key sizes that round up and
// down, one metadata put and one journal value per 1000-record batch.
RecordShape EngineLikeShape() {
  RecordShape shape;
  shape.families = {
      Family(Cf::kMeta, 0.001, 0, 11, 8),         Family(Cf::kMembers, 0.9, 0, 24.6, 180.4),
      Family(Cf::kJournal, 0.001, 0, 8, 240'000), Family(Cf::kOrders, 0.2, 0, 30.2, 60),
      Family(Cf::kDedupe, 1, 0, 40.5, 32),        Family(Cf::kCounters, 0.3, 0.05, 20, 8),
      Family(Cf::kDue, 0.25, 0.25, 26, 0)};
  return shape;
}

class ShapedWritesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/shaped-writes-test";
    std::filesystem::remove_all(dir_);
    auto store = PartitionStore::Open(dir_, StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<PartitionStore> store_;
};

TEST_F(ShapedWritesTest, WritesTheShapePerRecord) {
  for (bool sort : {false, true}) {
    SCOPED_TRACE(sort ? "sorted" : "unsorted");
    WritePlan::Options o;
    o.shape = EngineLikeShape();
    o.batch_records_max = 1000;
    auto plan = WritePlan::Create(o);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ShapedBatchBuilder batch(*plan, /*value_at=*/7919, sort);
    constexpr int64_t kBatches = 20, kRecords = 1000;
    WriteShape wrote;
    int64_t offset = 0;
    for (int64_t b = 0; b < kBatches; ++b) {
      const int64_t first = offset;
      for (int64_t i = 0; i < kRecords; ++i, ++offset) {
        batch.AddRecord(absl::StrCat("member-", offset % 97), offset);
      }
      EXPECT_EQ(batch.records(), kRecords);
      ASSERT_TRUE(batch.Write(store_.get(), first, offset, /*sync=*/false, &wrote).ok());
      EXPECT_EQ(batch.records(), 0);
    }
    const double records = static_cast<double>(kBatches * kRecords);
    for (const RecordShape::Family& f : o.shape.families) {
      SCOPED_TRACE(f.name);
      int cf = 0;
      while (f.name != CfName(static_cast<Cf>(cf))) ++cf;
      const auto puts = static_cast<double>(wrote.puts[cf]);
      const auto deletes = static_cast<double>(wrote.deletes[cf]);
      if (static_cast<Cf>(cf) == Cf::kJournal) {
        EXPECT_EQ(wrote.puts[cf], kBatches);  // one value per batch
        EXPECT_EQ(wrote.value_bytes[cf], kBatches * kRecords * 240);
        continue;
      }
      EXPECT_NEAR(puts / records, f.puts_per_record, 1 / records);
      EXPECT_NEAR(deletes / records, f.deletes_per_record, 1 / records);
      if (static_cast<Cf>(cf) == Cf::kMeta) continue;  // fixed keys, the offset's value
      EXPECT_EQ(static_cast<double>(wrote.key_bytes[cf]) / (puts + deletes),
                static_cast<double>(std::lround(f.key_bytes)));
      if (puts > 0) {
        EXPECT_EQ(static_cast<double>(wrote.value_bytes[cf]) / puts, std::floor(f.value_bytes));
      }
    }
    EXPECT_EQ(ReadNextOffset(store_.get()), offset);
  }
}

TEST_F(ShapedWritesTest, WritesTheOffsetWithEveryBatchWhateverTheShape) {
  RecordShape shape;
  shape.families = {Family(Cf::kMembers, 1, 0, 20, 100)};
  WritePlan::Options o;
  o.shape = shape;
  auto plan = WritePlan::Create(o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(ReadNextOffset(store_.get()), std::nullopt);
  ShapedBatchBuilder batch(*plan, 0, /*sort=*/true);
  batch.AddRecord("m1", 41);
  WriteShape wrote;
  ASSERT_TRUE(batch.Write(store_.get(), 41, 42, false, &wrote).ok());
  EXPECT_EQ(wrote.puts[static_cast<int>(Cf::kMeta)], 1);
  EXPECT_EQ(wrote.puts[static_cast<int>(Cf::kMembers)], 1);
  EXPECT_EQ(ReadNextOffset(store_.get()), 42);
}

TEST_F(ShapedWritesTest, KeySizesRoundDownToAMinimumWhenAsked) {
  RecordShape shape;
  shape.families = {Family(Cf::kMeta, 1.0 / 256, 0, 9.3, 8), Family(Cf::kMembers, 1, 0, 11.9, 100),
                    Family(Cf::kCounters, 1, 0, 29.9, 8), Family(Cf::kDedupe, 1, 0, 21.5, 16)};
  WritePlan::Options o;
  o.shape = shape;
  o.key_bytes_round_down = true;
  o.key_bytes_min = 16;
  auto plan = WritePlan::Create(o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ShapedBatchBuilder batch(*plan, 0, /*sort=*/false);
  for (int64_t i = 0; i < 1024; ++i) batch.AddRecord("12345678", i);
  WriteShape wrote;
  ASSERT_TRUE(batch.Write(store_.get(), 0, 1024, false, &wrote).ok());
  auto key_bytes = [&](Cf cf) {
    const int i = static_cast<int>(cf);
    return wrote.key_bytes[i] / (wrote.puts[i] + wrote.deletes[i]);
  };
  EXPECT_EQ(key_bytes(Cf::kMembers), 16);  // 11.9, at least 16
  EXPECT_EQ(key_bytes(Cf::kCounters), 29);
  EXPECT_EQ(key_bytes(Cf::kDedupe), 21);
  // The offset and three more metadata puts, their keys padded to 16 bytes.
  EXPECT_EQ(wrote.puts[static_cast<int>(Cf::kMeta)], 4);
  EXPECT_EQ(key_bytes(Cf::kMeta), 16);
}

TEST(WritePlanTest, RefusesAShapeWithoutWritesOrWithAnUnknownFamily) {
  WritePlan::Options o;
  EXPECT_TRUE(absl::IsInvalidArgument(WritePlan::Create(o).status()));
  o.shape.families = {Family(Cf::kMembers, 0, 0, 20, 100)};
  EXPECT_TRUE(absl::IsInvalidArgument(WritePlan::Create(o).status()));
  o.shape.families = {Family(Cf::kMembers, 1, 0, 20, 100)};
  o.shape.families[0].name = "nope";
  EXPECT_TRUE(absl::IsInvalidArgument(WritePlan::Create(o).status()));
  o.shape.families[0].name = CfName(Cf::kMembers);
  o.value_pool = std::make_shared<const std::string>();
  EXPECT_TRUE(absl::IsInvalidArgument(WritePlan::Create(o).status()));
}

TEST(WritePlanTest, CutsValuesFromMovingPlacesOfThePool) {
  WritePlan::Options o;
  o.shape.families = {Family(Cf::kMembers, 1, 0, 20, 100)};
  o.value_pool = std::make_shared<const std::string>("0123456789");
  auto plan = WritePlan::Create(o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_GE((*plan)->pool_bytes(), size_t{4 * 101});  // grown to hold the largest value
  size_t at = 0;
  const absl::string_view a = (*plan)->Cut(100, &at);
  const absl::string_view b = (*plan)->Cut(100, &at);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_NE(a.data(), b.data());
  for (int i = 0; i < 100; ++i) EXPECT_EQ((*plan)->Cut(100, &at).size(), 100u);
}

}  // namespace
}  // namespace loyalty::bench
