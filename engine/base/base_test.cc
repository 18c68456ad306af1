#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/rng.h"
#include "engine/base/task_thread.h"
#include "engine/base/text.h"
#include "engine/base/time.h"
#include "google/protobuf/timestamp.pb.h"
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

TEST(TimeTest, StartOfNextLocalDayIsTheEarliestInstantOfThatDate) {
  absl::TimeZone paris = Zone("Europe/Paris");
  // 22:30Z on 30 March is 23:30 CET; the next day starts at 00:00 CET.
  EXPECT_EQ(StartOfNextLocalDay(At("2024-03-30T22:30:00Z"), paris), At("2024-03-30T23:00:00Z"));
  // The day of the spring switch is 23 hours long: 1 April starts at 22:00Z.
  EXPECT_EQ(StartOfNextLocalDay(At("2024-03-31T01:30:00Z"), paris), At("2024-03-31T22:00:00Z"));
  // Santiago skips local midnight on 8 September 2024 (00:00 -04 becomes
  // 01:00 -03): the day starts at the transition, 04:00Z.
  absl::TimeZone santiago = Zone("America/Santiago");
  EXPECT_EQ(StartOfNextLocalDay(At("2024-09-07T12:00:00-04:00"), santiago),
            At("2024-09-08T04:00:00Z"));
  EXPECT_EQ(LocalDayKey(At("2024-09-08T04:00:00Z"), santiago), 20240908);
  EXPECT_EQ(LocalDayKey(At("2024-09-08T03:59:59Z"), santiago), 20240907);
  // At the autumn switch (03:00Z on 7 April 2024, 00:00 -03 goes back to
  // 23:00 -04 of the 6th) the 7th starts at 00:00 -04, 04:00Z.
  EXPECT_EQ(StartOfNextLocalDay(At("2024-04-06T12:00:00-03:00"), santiago),
            At("2024-04-07T04:00:00Z"));
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

// A scratch string that once held something big must come back holding
// exactly the message's bytes.
TEST(BytesTest, SerializeDeterministicToReusesAScratchString) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1'772'438'400);
  ts.set_nanos(5);
  std::string scratch(1 << 20, 'x');
  SerializeDeterministicTo(ts, &scratch);
  EXPECT_EQ(scratch, ts.SerializeAsString());
  ts.Clear();
  SerializeDeterministicTo(ts, &scratch);
  EXPECT_EQ(scratch, "");
  EXPECT_EQ(SerializeDeterministic(ts), "");
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

// The references: OpenSSL's one-shot calls, which crypto.cc replaced for
// speed and must match bit for bit.
Digest256 ReferenceSha256(const std::string& data) {
  Digest256 out;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

Digest256 ReferenceHmacSha256(const std::string& key, const std::string& message) {
  Digest256 out;
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;  // a non-null pointer for an empty key
  const void* key_data = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  EXPECT_NE(HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
                 &len),
            nullptr);
  EXPECT_EQ(len, out.size());
  return out;
}

// Deterministic bytes, all 256 values (NULs included).
std::string Bytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

TEST(CryptoTest, Rfc4231Vectors) {
  struct Case {
    std::string key, data, hex;
  };
  const Case cases[] = {
      {std::string(20, '\x0b'), "Hi There",  // test case 1
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),  // test case 3
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {std::string(131, '\xaa'),  // test case 6: a key longer than the block
       "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),  // test case 7: key and data longer than the block
       "This is a test using a larger than block-size key and a larger than block-size "
       "data. The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HexDigest(HmacSha256(c.key, c.data)), c.hex);
    EXPECT_EQ(HexDigest(HmacSha256Key(c.key).Mac(c.data)), c.hex);
    EXPECT_EQ(HexDigest(ReferenceHmacSha256(c.key, c.data)), c.hex);
  }
  EXPECT_EQ(HexDigest(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexDigest(Sha256(std::string(1'000'000, 'a'))),  // FIPS 180-2 million 'a'
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(CryptoTest, Sha256MatchesOneShot) {
  // Every length across the padding boundaries (55/56, 63/64, 119/120) and a
  // few long ones.
  for (size_t size = 0; size <= 200; ++size) {
    const std::string data = Bytes(size, static_cast<uint32_t>(size));
    EXPECT_EQ(Sha256(data), ReferenceSha256(data)) << "size " << size;
  }
  for (size_t size : {1000u, 4096u, 100'003u}) {
    const std::string data = Bytes(size, 7);
    EXPECT_EQ(Sha256(data), ReferenceSha256(data)) << "size " << size;
  }
}

TEST(CryptoTest, HmacMatchesOneShotForKeyAndMessageLengths) {
  // Keys around the 64-byte block (hashed first above it); messages around
  // the padding boundaries, long ones included.
  for (size_t key_size : {0u, 1u, 31u, 32u, 63u, 64u, 65u, 128u, 200u}) {
    const std::string key = Bytes(key_size, 1000 + static_cast<uint32_t>(key_size));
    const HmacSha256Key held(key);
    for (size_t msg_size : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 1000u, 100'003u}) {
      const std::string msg = Bytes(msg_size, static_cast<uint32_t>(msg_size));
      const Digest256 want = ReferenceHmacSha256(key, msg);
      EXPECT_EQ(HmacSha256(key, msg), want) << "key " << key_size << " msg " << msg_size;
      EXPECT_EQ(held.Mac(msg), want) << "key " << key_size << " msg " << msg_size;
      // Again: the second call takes the key's cached blocks.
      EXPECT_EQ(HmacSha256(key, msg), want) << "key " << key_size << " msg " << msg_size;
    }
  }
}

TEST(CryptoTest, HmacOfPartsIsHmacOfTheirConcatenation) {
  const std::string key = Bytes(40, 7);
  const HmacSha256Key held(key);
  const std::string a = Bytes(63, 1), b = Bytes(70, 2);
  const absl::string_view nul("\0", 1);
  const std::string whole = a + std::string(nul) + b;
  const Digest256 want = ReferenceHmacSha256(key, whole);
  EXPECT_EQ(HmacSha256(key, {a, nul, b}), want);
  EXPECT_EQ(held.Mac({a, nul, b}), want);
  EXPECT_EQ(held.Mac({absl::string_view(whole).substr(0, 10), absl::string_view(whole).substr(10)}),
            want);
  EXPECT_EQ(HmacSha256(key, {}), ReferenceHmacSha256(key, ""));
  // A copy of a key MACs the same; destroying the copy leaves the original.
  {
    const HmacSha256Key copy = held;
    EXPECT_EQ(copy.Mac(whole), want);
  }
  EXPECT_EQ(held.Mac(whole), want);
}

TEST(CryptoTest, HmacKeysThatDifferOnlyAtTheEndOrInLength) {
  // Keys sharing a prefix, of one length or the same bytes beyond 64, must
  // not be confused by the per-thread key cache. ("k" and "k\0" are the same
  // HMAC key once zero-padded; the cache must still give both right.)
  const std::string base = Bytes(70, 3);
  const std::vector<std::string> keys = {"k",
                                         std::string("k\0", 2),
                                         "kk",
                                         base.substr(0, 64),
                                         base.substr(0, 65),
                                         base,
                                         base.substr(0, 69) + "x",
                                         base.substr(0, 63) + "y"};
  const std::string msg = "rule-1" + std::string(1, '\0') + "evt-1";
  for (int round = 0; round < 3; ++round) {
    for (const std::string& key : keys) {
      EXPECT_EQ(HmacSha256(key, msg), ReferenceHmacSha256(key, msg)) << key.size();
    }
  }
}

TEST(CryptoTest, HmacAlternatingKeysBeyondTheCache) {
  // More keys than the per-thread cache keeps, used round robin (a miss on
  // every call), then in a seeded random order (hits, misses and moves to
  // the front mixed), then two keys alternating (both stay cached).
  std::vector<std::string> keys;
  for (size_t i = 0; i < kHmacKeysPerThreadMax + 5; ++i) {
    keys.push_back("program-seed-" + std::to_string(i));
  }
  std::vector<std::string> messages;
  for (int i = 0; i < 10; ++i) messages.push_back(Bytes(20 + 13 * i, 50 + i));
  for (int round = 0; round < 3; ++round) {
    for (size_t k = 0; k < keys.size(); ++k) {
      const std::string& msg = messages[(k + round) % messages.size()];
      ASSERT_EQ(HmacSha256(keys[k], msg), ReferenceHmacSha256(keys[k], msg)) << k;
    }
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    // Skewed towards the first few keys, like a few busy programs.
    const size_t k = (rng() % 4 == 0) ? rng() % keys.size() : rng() % 3;
    const std::string& msg = messages[rng() % messages.size()];
    ASSERT_EQ(HmacSha256(keys[k], msg), ReferenceHmacSha256(keys[k], msg))
        << "step " << i << " key " << k;
  }
  for (int i = 0; i < 50; ++i) {
    const std::string& key = keys[i % 2 == 0 ? 0 : keys.size() - 1];
    ASSERT_EQ(HmacSha256(key, messages[0]), ReferenceHmacSha256(key, messages[0]));
  }
}

TEST(CryptoTest, HeldKeyMovesAndThreads) {
  HmacSha256Key a("key-a");
  HmacSha256Key b(std::move(a));
  EXPECT_EQ(b.Mac("m"), ReferenceHmacSha256("key-a", "m"));
  a = HmacSha256Key("key-c");
  EXPECT_EQ(a.Mac("m"), ReferenceHmacSha256("key-c", "m"));

  // Several threads: one shared held key, the free function with shared and
  // per-thread keys, and SHA-256, all against references computed up front.
  constexpr int kThreads = 4;
  constexpr int kCalls = 500;
  const std::vector<std::string> keys = {"shared-seed", "seed-0", "seed-1", "seed-2", "seed-3"};
  std::vector<std::string> messages;
  std::vector<std::vector<Digest256>> want(keys.size());
  std::vector<Digest256> want_sha;
  for (int i = 0; i < 16; ++i) {
    messages.push_back(Bytes(10 + 17 * i, 900 + i));
    want_sha.push_back(ReferenceSha256(messages.back()));
    for (size_t k = 0; k < keys.size(); ++k) {
      want[k].push_back(ReferenceHmacSha256(keys[k], messages.back()));
    }
  }
  const HmacSha256Key shared(keys[0]);
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const size_t m = (i * 7 + t) % messages.size();
        const size_t k = (i % 3 == 0) ? 0 : 1 + t;
        if (shared.Mac(messages[m]) != want[0][m]) ++mismatches[t];
        if (HmacSha256(keys[k], messages[m]) != want[k][m]) ++mismatches[t];
        if (Sha256(messages[m]) != want_sha[m]) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
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

TEST(TextTest, JsonStringEscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString(std::string("n\n\0\x7f", 4)), "\"n\\n\\u0000\\u007f\"");
  EXPECT_EQ(JsonString("\r\t\x01\x1f"), "\"\\r\\t\\u0001\\u001f\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 as it is
}

// A timestamp that an invariant says is valid converts; one that is not
// stops the process, naming the field (a corrupted record, never input).
TEST(TimeTest, CheckedNanosNamesTheFieldOfABrokenInvariant) {
  google::protobuf::Timestamp ok;
  ok.set_seconds(1);
  ok.set_nanos(5);
  EXPECT_EQ(CheckedNanos(ok, "x"), 1'000'000'005);
  google::protobuf::Timestamp bad;
  bad.set_nanos(-1);
  EXPECT_DEATH(CheckedNanos(bad, "vip_until"), "vip_until: nanos out of range: -1");
}

TEST(TextTest, HtmlEscapeTextAndAttributes) {
  EXPECT_EQ(HtmlEscape(""), "");
  EXPECT_EQ(HtmlEscape("a<b>&\"c'd"), "a&lt;b&gt;&amp;&quot;c&#39;d");
  EXPECT_EQ(HtmlEscape("caf\xc3\xa9 &amp;"), "caf\xc3\xa9 &amp;amp;");  // escaped again, never kept
}

// Tasks run in the order pushed; Drain returns after every earlier task;
// Push waits while the queue is full (here: while the first task blocks,
// the second waits, and a third Push only returns once it is released);
// the destructor runs what is still queued (a task waits behind a blocked
// one when the destructor starts).
TEST(TaskThreadTest, OrderDrainBoundAndDestructor) {
  std::vector<int> ran;
  std::atomic<bool> release{false};
  std::atomic<int> pushed{0};
  std::thread releaser;
  {
    loyalty::TaskThread t(/*queue_max=*/1);
    t.Push([&] {
      while (!release.load()) std::this_thread::yield();
      ran.push_back(1);
    });
    // The first task is running or about to: the queue takes one more.
    std::thread pusher([&] {
      t.Push([&] { ran.push_back(2); });
      pushed++;
      t.Push([&] { ran.push_back(3); });
      pushed++;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_LE(pushed.load(), 1) << "a Push went past a full queue";
    release = true;
    pusher.join();
    EXPECT_EQ(pushed.load(), 2);
    t.Drain();
    EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(t.queued(), 0u);
    // The destructor starts while a task runs and another waits: it runs
    // the waiting one before it joins.
    release = false;
    t.Push([&] {
      while (!release.load()) std::this_thread::yield();
      ran.push_back(4);
    });
    t.Push([&] { ran.push_back(5); });
    releaser = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release = true;
    });
  }
  releaser.join();
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4, 5}));
}

// The generated streams' bytes for a seed depend on this sequence: it is
// SplitMix64's published one (seed 0), and must never change.
TEST(SplitMix64Test, TheReferenceSequenceAndItsRanges) {
  SplitMix64 rng(0);
  EXPECT_EQ(rng.Next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rng.Next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rng.Next(), 0x06C45D188009454FULL);
  SplitMix64 other(42);
  for (int i = 0; i < 10'000; ++i) {
    const int64_t b = other.Below(7);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, 7);
    const double u = other.Unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace loyalty
