// The pieces of `loyaltyd demo` (tests/tools_test.cc runs the whole demo):
// the café generator is deterministic and holds the mix it counts, the
// summary's formatting, and the counting of the output topics read back
// from the embedded broker.
#include "cmd/demo.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cmd/demo_format.h"
#include "cmd/demo_generator.h"
#include "cmd/demo_outputs.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/embedded.h"
#include "engine/store/store.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty::demo_internal {
namespace {

using loyalty::v1::Event;
using loyalty::v1::Outcome;

DemoOptions SmallCafe(uint64_t seed) {
  DemoOptions o;
  o.seed = seed;
  o.members = 40;
  o.days = 18;             // at least 9: the eight bad events fall on different days
  o.visits_per_day = 120;  // weekdays resend one purchase in 100
  return o;
}

TEST(DemoGeneratorTest, TheSameSeedGivesTheSameStream) {
  const Stream a = GenerateCafeStream(SmallCafe(5), "cafe", "EUR");
  const Stream b = GenerateCafeStream(SmallCafe(5), "cafe", "EUR");
  const Stream c = GenerateCafeStream(SmallCafe(6), "cafe", "EUR");
  ASSERT_GT(a.lines.size(), 500u);
  EXPECT_EQ(a.lines, b.lines);
  EXPECT_EQ(a.bad, b.bad);
  EXPECT_EQ(a.engagements, b.engagements);
  EXPECT_NE(a.lines, c.lines);
}

// Parses every line and counts it by kind, independently of the counts the
// generator keeps as it goes.
TEST(DemoGeneratorTest, TheStreamHoldsTheMixItCounts) {
  const DemoOptions o = SmallCafe(11);
  const Stream s = GenerateCafeStream(o, "cafe", "EUR");
  std::map<std::string, int64_t> kinds;
  std::set<std::string> event_ids;
  std::set<std::string> members;
  int64_t parsed = 0, unparsed = 0, usd = 0, bakery = 0, anonymous = 0;
  for (const std::string& line : s.lines) {
    Event e;
    if (!google::protobuf::util::JsonStringToMessage(line, &e).ok()) {
      ++unparsed;
      continue;
    }
    ++parsed;
    event_ids.insert(e.event_id());
    if (e.has_tick()) {
      ++kinds["tick"];
      continue;
    }
    if (e.has_purchase()) ++kinds["purchase"];
    if (e.has_engagement()) ++kinds[e.engagement().action()];
    if (e.has_redemption()) ++kinds["redemption"];
    if (e.has_refund()) ++kinds["refund"];
    if (e.has_membership()) ++kinds["plan"];
    if (e.has_adjustment()) ++kinds["adjustment"];
    if (e.has_purchase() && e.purchase().currency() == "USD") ++usd;
    if (e.program_id() == "bakery") ++bakery;
    if (e.member_id().empty()) ++anonymous;
    if (!e.member_id().empty()) members.insert(e.member_id());
  }

  // One bad event of each of the eight kinds; the MALFORMED one is the only
  // line that is no Event, and the other seven are purchases.
  EXPECT_EQ(s.bad.size(), 8u);
  for (const auto& [reason, n] : s.bad) EXPECT_EQ(n, 1) << reason;
  EXPECT_EQ(unparsed, 1);
  EXPECT_EQ(usd, 1);        // CURRENCY_MISMATCH
  EXPECT_EQ(bakery, 1);     // UNKNOWN_PROGRAM
  EXPECT_EQ(anonymous, 1);  // MISSING_FIELD
  EXPECT_EQ(kinds["purchase"], s.purchases + s.resent + 7);

  EXPECT_EQ(kinds["tick"], o.days);
  EXPECT_EQ(s.ticks, o.days);
  EXPECT_EQ(kinds["review"], s.reviews);
  EXPECT_EQ(kinds["like"], s.likes);
  EXPECT_EQ(kinds["redemption"], s.redemptions);
  EXPECT_EQ(kinds["refund"], s.refunds);
  EXPECT_EQ(kinds["plan"], s.plans);
  EXPECT_EQ(kinds["adjustment"], s.adjustments);
  EXPECT_EQ(s.plans, 1);
  EXPECT_EQ(s.adjustments, 1);
  EXPECT_EQ(s.refunds, o.days / 10);  // one every ten days
  EXPECT_GT(s.resent, 0);
  EXPECT_EQ(static_cast<int64_t>(s.engagements.size()), s.reviews + s.likes);

  // Event ids are unique but for the resent copies and DUPLICATE_CONFLICT's
  // reuse of an earlier id.
  EXPECT_EQ(static_cast<int64_t>(event_ids.size()), parsed - s.resent - 1);
  EXPECT_LE(members.size(), static_cast<size_t>(o.members));
  EXPECT_TRUE(members.count("m0001"));  // the regular
}

TEST(DemoFormatTest, NumbersMoneyAndTallies) {
  EXPECT_EQ(Num(0), "0");
  EXPECT_EQ(Num(999), "999");
  EXPECT_EQ(Num(1000), "1,000");
  EXPECT_EQ(Num(1234567), "1,234,567");
  EXPECT_EQ(Num(-1000), "-1,000");
  EXPECT_EQ(Money(152030, "EUR"), "1,520.30 EUR");
  EXPECT_EQ(Money(5, "EUR"), "0.05 EUR");
  EXPECT_EQ(Money(-5, "EUR"), "-0.05 EUR");
  EXPECT_EQ(Money(-123456, "USD"), "-1,234.56 USD");
  EXPECT_EQ(Tally({}), "none");
  EXPECT_EQ(Tally({{"b", 1}, {"a", 2}, {"c", 2}}), "a 2, c 2, b 1");
}

std::string Printed(const std::string& label, const std::string& text) {
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  Print(out, label, text);
  fclose(out);
  std::string printed(buffer, size);
  free(buffer);
  return printed;
}

TEST(DemoFormatTest, PrintWrapsAt80ColumnsUnderTheLabel) {
  EXPECT_EQ(Printed("1. ", "short text"), "1. short text\n");
  std::string text;
  for (int i = 0; i < 40; ++i) text += "word" + std::to_string(i) + " ";
  const std::string printed = Printed("   label  ", text);
  std::vector<std::string> lines = absl::StrSplit(printed, '\n');
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines.back(), "");  // ends with a newline
  lines.pop_back();
  EXPECT_EQ(lines[0].rfind("   label  word0 word1 ", 0), 0u) << lines[0];
  std::string words;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 80u) << lines[i];
    if (i > 0) {
      EXPECT_EQ(lines[i].rfind("          word", 0), 0u) << lines[i];  // under the text
    }
    words += lines[i].substr(10) + " ";
  }
  EXPECT_EQ(words, text);  // every word once, in order
}

// Produces `value` to partition `partition` of `topic`, with a
// loyalty.reason header if `reason` is not empty.
void Produce(rd_kafka_t* producer, const std::string& topic, int32_t partition,
             const std::string& value, const std::string& reason = "") {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(1);
  if (!reason.empty()) {
    rd_kafka_header_add(headers, "loyalty.reason", -1, reason.data(),
                        static_cast<ssize_t>(reason.size()));
  }
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADERS(headers),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
}

std::string OutcomeOf(Outcome::Status status, const std::string& member_id) {
  Outcome o;
  o.set_status(status);
  o.set_member_id(member_id);
  return o.SerializeAsString();
}

// ReadOutputs over two partitions of each output topic, some of them empty
// (the ledger topic has no record at all): every record counted once.
TEST(DemoOutputsTest, CountsEveryRecordOfTheOutputTopics) {
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string brokers = (*kafka)->bootstrap_servers();
  const Topics topics;
  ASSERT_TRUE((*kafka)->CreateTopics(topics, 2).ok());
  {
    auto producer = kafka_internal::NewClient(RD_KAFKA_PRODUCER, brokers, {});
    ASSERT_TRUE(producer.ok()) << producer.status();
    rd_kafka_t* p = producer->get();
    Outcome rewarded;
    rewarded.set_status(Outcome::APPLIED);
    rewarded.set_member_id("m0001");
    auto* card = rewarded.add_issued_rewards();
    card->set_source(loyalty::v1::IssuedReward::PUNCH_CARD);
    card->set_rule_id("coffee-card");
    card->set_count(2);
    rewarded.add_issued_rewards()->set_source(loyalty::v1::IssuedReward::FIRST_PURCHASE);
    rewarded.mutable_issued_rewards(1)->set_count(1);
    Produce(p, topics.outcomes, 0, rewarded.SerializeAsString());
    Produce(p, topics.outcomes, 0, OutcomeOf(Outcome::APPLIED, "m0002"));
    Produce(p, topics.outcomes, 1, OutcomeOf(Outcome::APPLIED, ""));  // a tick
    Produce(p, topics.outcomes, 1, OutcomeOf(Outcome::APPLIED, ""));
    Produce(p, topics.outcomes, 0, OutcomeOf(Outcome::REJECTED, "m0003"));
    Produce(p, topics.outcomes, 1, OutcomeOf(Outcome::IGNORED, "m0004"));
    Produce(p, topics.outcomes, 1, OutcomeOf(Outcome::DUPLICATE, "m0004"));
    Produce(p, topics.dlq, 1, "not an event", "BAD_AMOUNT");
    Produce(p, topics.dlq, 1, "{}", "MALFORMED");
    Produce(p, topics.dlq, 1, "no reason header");
    for (int i = 0; i < 3; ++i) Produce(p, topics.balances, 0, "balance");
    ASSERT_EQ(rd_kafka_flush(p, 30'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  auto counts = ReadOutputs(brokers, topics, 2);
  ASSERT_TRUE(counts.ok()) << counts.status();
  const std::map<std::string, int64_t> records = {
      {topics.balances, 3}, {topics.ledger, 0}, {topics.outcomes, 7}, {topics.dlq, 3}};
  EXPECT_EQ(counts->records, records);
  const std::map<std::string, int64_t> status = {
      {"APPLIED", 4}, {"REJECTED", 1}, {"IGNORED", 1}, {"DUPLICATE", 1}};
  EXPECT_EQ(counts->outcome_status, status);
  EXPECT_EQ(counts->tick_outcomes, 2);
  EXPECT_EQ(counts->matured, 0);
  const std::map<std::string, int64_t> issued = {{"punch_card coffee-card", 2},
                                                 {"first_purchase", 1}};
  EXPECT_EQ(counts->issued_by_rule, issued);
  const std::map<std::string, int64_t> dlq = {{"BAD_AMOUNT", 1}, {"MALFORMED", 1}, {"?", 1}};
  EXPECT_EQ(counts->dlq, dlq);
}

// The history shows what its caption says: the latest entry of each kind,
// then the most recent ones. (The caption used to say "the latest of each
// kind" over the last 3 entries of each kind and the last 4, cut to 16 from
// the oldest, which could even drop a kind.)
TEST(DemoReportTest, TheHistoryShowsWhatItsCaptionSays) {
  const std::string data_dir = ::testing::TempDir() + "/demo-history";
  std::filesystem::remove_all(data_dir);
  DemoOptions o = SmallCafe(5);
  o.data_dir = data_dir;
  char* text = nullptr;
  size_t size = 0;
  o.out = open_memstream(&text, &size);
  ASSERT_NE(o.out, nullptr);
  const absl::Status s = RunDemo(o);
  std::fclose(o.out);
  const std::string output(text, size);
  std::free(text);
  ASSERT_TRUE(s.ok()) << s << "\n" << output;

  // "History of m0001 (N of its M ledger entries: ...)", then one line per
  // entry shown: "   2025-03-10 08:12  #123  EARN ...".
  const size_t at = output.find("History of ");
  ASSERT_NE(at, std::string::npos) << output;
  const std::string member = output.substr(at + 11, output.find(' ', at + 11) - at - 11);
  std::set<int64_t> shown;
  const std::vector<std::string> lines =
      absl::StrSplit(output.substr(at, output.find("\n\n", at) - at), '\n');
  for (const std::string& line : lines) {
    const size_t hash = line.find("  #");
    int64_t seq = 0;
    if (hash != std::string::npos && absl::SimpleAtoi(line.substr(hash + 3, 5), &seq)) {
      shown.insert(seq);
    }
  }
  EXPECT_LE(shown.size(), 16u) << output.substr(at);

  auto stores = OpenDataDir(data_dir);
  ASSERT_TRUE(stores.ok()) << stores.status();
  std::vector<std::pair<int64_t, int>> ledger;  // (seq, kind), in ledger order
  for (auto& [partition, store] : *stores) {
    ASSERT_TRUE(store
                    ->ForEachEntryOf({ProgramId("cafe"), MemberId(member)},
                                     [&](const loyalty::v1::LedgerEntry& e) {
                                       ledger.emplace_back(e.seq(), e.type());
                                       return absl::OkStatus();
                                     })
                    .ok());
  }
  // The caption's rule: the latest entry of each kind, then the most recent
  // entries until 16 are shown.
  std::set<int64_t> expected;
  std::set<int> kinds;
  for (size_t i = ledger.size(); i-- > 0;) {
    if (kinds.insert(ledger[i].second).second) expected.insert(ledger[i].first);
  }
  for (size_t i = ledger.size(); i-- > 0 && expected.size() < 16;) expected.insert(ledger[i].first);
  ASSERT_GE(kinds.size(), 3u) << member;
  EXPECT_EQ(shown, expected) << output.substr(at);
  // The caption, its wrapped lines joined.
  const std::string caption = std::regex_replace(
      output.substr(at, output.find("\n   2", at) - at), std::regex("\\s+"), " ");
  EXPECT_TRUE(absl::StrContains(caption, "the latest of each of its")) << caption;
  EXPECT_TRUE(absl::StrContains(caption, "then the most recent")) << caption;
  std::filesystem::remove_all(data_dir);
}

}  // namespace
}  // namespace loyalty::demo_internal
