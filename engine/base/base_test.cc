#include <string>

#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/text.h"
#include "engine/base/time.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

absl::TimeZone Zone(const char* name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

UnixNanos At(const char* rfc3339) {
  auto ns = ParseRfc3339(rfc3339);
  EXPECT_TRUE(ns.ok()) << ns.status();
  return *ns;
}

TEST(TimeTest, TimestampRoundTripAndRange) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(123);
  auto ns = TimestampToNanos(ts);
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(*ns, 1700000000LL * kNanosPerSecond + 123);
  EXPECT_EQ(NanosToTimestamp(*ns).seconds(), 1700000000);
  EXPECT_EQ(NanosToTimestamp(*ns).nanos(), 123);
  ts.set_nanos(-1);
  EXPECT_FALSE(TimestampToNanos(ts).ok());
  ts.set_nanos(0);
  ts.set_seconds(INT64_MAX);
  EXPECT_FALSE(TimestampToNanos(ts).ok());
  EXPECT_EQ(FormatRfc3339(kEventTimeMinNs), "2000-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(kEventTimeLimitNs), "2100-01-01T00:00:00Z");
}

TEST(TimeTest, LocalDayFollowsTheZoneAcrossDst) {
  absl::TimeZone paris = Zone("Europe/Paris");
  // 22:30Z on 30 March 2024 is 23:30 in Paris (CET); 23:30Z is 01:30 the next
  // day; the clocks jump forward at 01:00Z on 31 March.
  EXPECT_EQ(LocalDayKey(At("2024-03-30T22:30:00Z"), paris), 20240330);
  EXPECT_EQ(LocalDayKey(At("2024-03-30T23:30:00Z"), paris), 20240331);
  EXPECT_EQ(LocalDayKey(At("2024-03-31T21:59:59Z"), paris), 20240331);  // 23:59:59 CEST
  EXPECT_EQ(LocalDayKey(At("2024-03-31T22:00:00Z"), paris), 20240401);
  EXPECT_EQ(LocalDayKey(At("2024-03-31T22:00:00Z"), absl::UTCTimeZone()), 20240331);
}

TEST(TimeTest, MonthArithmetic) {
  absl::TimeZone paris = Zone("Europe/Paris");
  // 23:30Z on 31 Jan is already 1 Feb in Paris: the next local month is March.
  EXPECT_EQ(StartOfNextLocalMonth(At("2024-01-31T23:30:00Z"), paris),
            At("2024-03-01T00:00:00+01:00"));
  EXPECT_EQ(StartOfNextLocalMonth(At("2024-03-15T12:00:00Z"), paris),
            At("2024-04-01T00:00:00+02:00"));
  EXPECT_EQ(LocalMonthKey(At("2024-03-31T22:30:00Z"), paris), 202404);
  EXPECT_EQ(AddLocalMonths(At("2024-01-31T10:00:00Z"), 1, absl::UTCTimeZone()),
            At("2024-02-29T10:00:00Z"));
  EXPECT_EQ(AddLocalMonths(At("2024-01-15T10:00:00+01:00"), 12, paris),
            At("2025-01-15T10:00:00+01:00"));
  // Across DST the local wall time is kept.
  EXPECT_EQ(AddLocalMonths(At("2024-03-01T10:00:00+01:00"), 1, paris),
            At("2024-04-01T10:00:00+02:00"));
}

TEST(BytesTest, BigEndianSortsNumerically) {
  std::string a, b;
  AppendBigEndian64(&a, OrderedFromSigned(-5));
  AppendBigEndian64(&b, OrderedFromSigned(3));
  EXPECT_LT(a, b);
  EXPECT_EQ(SignedFromOrdered(ReadBigEndian64(a)), -5);
  EXPECT_EQ(SignedFromOrdered(ReadBigEndian64(b)), 3);
}

TEST(CryptoTest, KnownVectors) {
  // FIPS 180-2 "abc".
  EXPECT_EQ(HexDigest(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexDigest(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(First64(HmacSha256("Jefe", "what do ya want for nothing?")), 0x5bdcc146bf60754eULL);
}

TEST(TextTest, Utf8AndControls) {
  EXPECT_TRUE(IsCleanText("member-42"));
  EXPECT_TRUE(IsCleanText("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsCleanText(std::string("a\0b", 3)));
  EXPECT_FALSE(IsCleanText("tab\there"));
  EXPECT_FALSE(IsCleanText("del\x7f"));
  EXPECT_FALSE(IsCleanText("c1\xc2\x85"));  // U+0085 NEL
}

}  // namespace
}  // namespace loyalty
