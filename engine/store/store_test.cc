#include "engine/store/store.h"

#include <filesystem>

#include "engine/store/keys.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

TEST(KeysTest, RoundTripAndOrder) {
  std::string mk = keys::Member("cafe", "m1");
  absl::string_view program, member;
  ASSERT_TRUE(keys::ParseMember(mk, &program, &member));
  EXPECT_EQ(program, "cafe");
  EXPECT_EQ(member, "m1");
  EXPECT_LT(keys::Ledger(mk, 2), keys::Ledger(mk, 10));
  EXPECT_EQ(keys::Ledger(mk, 1).rfind(keys::LedgerPrefix(mk), 0), 0u);
  // "m1"'s prefix does not cover "m10".
  EXPECT_NE(keys::Ledger(keys::Member("cafe", "m10"), 1).rfind(keys::LedgerPrefix(mk), 0), 0u);
  int64_t due;
  const std::string due_key = keys::Due("cafe", -5, "m");  // the views below point into it
  ASSERT_TRUE(keys::ParseDue(due_key, &program, &due, &member));
  EXPECT_EQ(due, -5);
  EXPECT_EQ(member, "m");
  EXPECT_LT(keys::Due("cafe", 5, "z"), keys::Due("cafe", 6, "a"));
  EXPECT_EQ(keys::DecodeInt(keys::EncodeInt(-42)), -42);
}

TEST(StoreTest, OpensWritesAndRefusesAForeignSchema) {
  const std::string dir = ::testing::TempDir() + "/store-test";
  std::filesystem::remove_all(dir);
  {
    auto store = PartitionStore::Open(PartitionDir(dir, 3), StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->GetNextOffset(), 0);
    rocksdb::WriteBatch b;
    b.Put((*store)->cf(Cf::kMeta), keys::kNextOffset, keys::EncodeInt(77));
    ASSERT_TRUE((*store)->Write(&b).ok());
  }
  auto parts = ListPartitions(dir);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(*parts, std::vector<int32_t>{3});
  StoreOptions ro;
  ro.read_only = true;
  {
    auto store = PartitionStore::Open(PartitionDir(dir, 3), ro);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->GetNextOffset(), 77);
    rocksdb::WriteBatch b;
    b.Put((*store)->cf(Cf::kMeta), "x", "y");
    EXPECT_FALSE((*store)->Write(&b).ok());
  }
  {
    auto store = PartitionStore::Open(PartitionDir(dir, 3), StoreOptions());
    ASSERT_TRUE(store.ok());
    rocksdb::WriteBatch b;
    b.Put((*store)->cf(Cf::kMeta), keys::kSchema, "someone-else/9");
    ASSERT_TRUE((*store)->Write(&b).ok());
  }
  auto foreign = PartitionStore::Open(PartitionDir(dir, 3), StoreOptions());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(ListPartitions(dir + "/missing").ok());
}

}  // namespace
}  // namespace loyalty
