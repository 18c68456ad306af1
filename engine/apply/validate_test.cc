// Every DLQ reason of SPEC §7 that validation decides, and its order.
#include "engine/apply/validate.h"

#include "gtest/gtest.h"

namespace loyalty {
namespace {

using loyalty::v1::RejectReason;

class ValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p =
        ParseProgramText(R"pb(program_id: "cafe"
                              currency: "EUR"
                              earn { points: 1 per_minor: 100 }
                              paid_plans { plan_id: "vip" tier_id: "t" months: 1 }
                              tiers { tier_id: "t" threshold: 0 earn_multiplier_bp: 10000 })pb",
                         "test");
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(programs_.Add(std::move(*p)).ok());
  }
  RejectReason Check(const std::string& json) {
    loyalty::v1::Event e;
    Rejection r = DecodeEvent(json, InputFormat::kJson, &e);
    if (r.ok()) r = ValidateEvent(e, programs_);
    return r.reason;
  }
  // A valid event with `body` and the given head fields.
  static std::string Ev(const std::string& body, const std::string& member = "\"m1\"",
                        const std::string& when = "\"2024-01-01T00:00:00Z\"") {
    return "{\"event_id\":\"e1\",\"program_id\":\"cafe\",\"member_id\":" + member +
           ",\"occurred_at\":" + when + "," + body + "}";
  }
  ProgramSet programs_;
};

constexpr char kBuy[] =
    "\"purchase\":{\"order_id\":\"o\",\"amount_minor\":100,\"currency\":\"EUR\"}";

TEST_F(ValidateTest, AcceptsValidEvents) {
  EXPECT_EQ(Check(Ev(kBuy)), v1::REJECT_REASON_UNSPECIFIED);
  EXPECT_EQ(Check(Ev("\"tick\":{\"now\":\"2024-01-01T00:00:00Z\"}", "\"\"")),
            v1::REJECT_REASON_UNSPECIFIED);
  // Unknown JSON fields are ignored (a newer producer schema).
  EXPECT_EQ(Check(Ev(kBuy).insert(1, "\"future_field\":1,")), v1::REJECT_REASON_UNSPECIFIED);
}

TEST_F(ValidateTest, MalformedAndOversized) {
  EXPECT_EQ(Check("{\"event_id\":"), v1::MALFORMED);
  EXPECT_EQ(Check("[]"), v1::MALFORMED);
  EXPECT_EQ(Check(Ev("\"purchase\":{\"amount_minor\":\"ten\"}")), v1::MALFORMED);
  EXPECT_EQ(Check(std::string(kRecordBytesMax + 1, ' ')), v1::OVERSIZED);
  std::string items;
  for (int i = 0; i <= kLineItemsMax; ++i) items += std::string(i ? "," : "") + "{\"quantity\":1}";
  EXPECT_EQ(Check(Ev("\"purchase\":{\"order_id\":\"o\",\"items\":[" + items + "]}")),
            v1::OVERSIZED);
  loyalty::v1::Event e;
  EXPECT_EQ(DecodeEvent("\xff\xff\xff", InputFormat::kBinary, &e).reason, v1::MALFORMED);
}

TEST_F(ValidateTest, MissingFields) {
  EXPECT_EQ(
      Check(
          "{\"program_id\":\"cafe\",\"member_id\":\"m\",\"occurred_at\":\"2024-01-01T00:00:00Z\"," +
          std::string(kBuy) + "}"),
      v1::MISSING_FIELD);
  EXPECT_EQ(Check(Ev(kBuy, "\"\"")), v1::MISSING_FIELD);
  EXPECT_EQ(Check("{\"event_id\":\"e\",\"program_id\":\"cafe\",\"member_id\":\"m\"," +
                  std::string(kBuy) + "}"),
            v1::MISSING_FIELD);
  EXPECT_EQ(Check("{\"event_id\":\"e\",\"program_id\":\"cafe\",\"member_id\":\"m\",\"occurred_at\":"
                  "\"2024-01-01T00:00:00Z\"}"),
            v1::MISSING_FIELD);
  EXPECT_EQ(Check(Ev("\"purchase\":{\"amount_minor\":100,\"currency\":\"EUR\"}")),
            v1::MISSING_FIELD);
  EXPECT_EQ(Check(Ev("\"refund\":{\"amount_minor\":100}")), v1::MISSING_FIELD);
  EXPECT_EQ(Check(Ev("\"adjustment\":{\"points\":5}")), v1::MISSING_FIELD);
  EXPECT_EQ(Check(Ev("\"membership\":{}")), v1::MISSING_FIELD);
  EXPECT_EQ(Check(Ev("\"tick\":{}", "\"\"")), v1::MISSING_FIELD);
}

TEST_F(ValidateTest, BadIds) {
  EXPECT_EQ(Check(Ev(kBuy, "\"" + std::string(65, 'm') + "\"")), v1::BAD_ID);
  EXPECT_EQ(Check(Ev(kBuy, "\"" + std::string(64, 'm') + "\"")), v1::REJECT_REASON_UNSPECIFIED);
  EXPECT_EQ(Check(Ev(kBuy, "\"a\\u0007b\"")), v1::BAD_ID);
  EXPECT_EQ(Check(Ev(kBuy, "\"a\\u0085b\"")), v1::BAD_ID);
  EXPECT_EQ(Check(Ev("\"tick\":{\"now\":\"2024-01-01T00:00:00Z\"}", "\"m1\"")), v1::BAD_ID);
  std::string long_id =
      "{\"event_id\":\"" + std::string(129, 'e') +
      "\",\"program_id\":\"cafe\",\"member_id\":\"m\",\"occurred_at\":\"2024-01-01T00:00:00Z\"," +
      kBuy + "}";
  EXPECT_EQ(Check(long_id), v1::BAD_ID);
}

TEST_F(ValidateTest, UnknownProgramAndBadTime) {
  std::string other = Ev(kBuy);
  other.replace(other.find("cafe"), 4, "shop");
  EXPECT_EQ(Check(other), v1::UNKNOWN_PROGRAM);
  EXPECT_EQ(Check(Ev(kBuy, "\"m\"", "\"1999-12-31T23:59:59Z\"")), v1::BAD_TIME);
  EXPECT_EQ(Check(Ev(kBuy, "\"m\"", "\"2100-01-01T00:00:00Z\"")), v1::BAD_TIME);
  EXPECT_EQ(Check(Ev(kBuy, "\"m\"", "\"2099-12-31T23:59:59Z\"")), v1::REJECT_REASON_UNSPECIFIED);
  EXPECT_EQ(Check(Ev("\"tick\":{\"now\":\"1970-01-01T00:00:00Z\"}", "\"\"")), v1::BAD_TIME);
}

TEST_F(ValidateTest, BadAmounts) {
  auto buy = [](const std::string& amount, const std::string& items = "") {
    return "\"purchase\":{\"order_id\":\"o\",\"amount_minor\":" + amount + ",\"currency\":\"EUR\"" +
           items + "}";
  };
  EXPECT_EQ(Check(Ev(buy("0"))), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev(buy("1000000000001"))), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev(buy("100", ",\"items\":[{\"quantity\":0,\"amount_minor\":100}]"))),
            v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev(buy("100",
                         ",\"items\":[{\"quantity\":1,\"amount_minor\":-1},{\"quantity\":1,"
                         "\"amount_minor\":101}]"))),
            v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev(buy("100", ",\"items\":[{\"quantity\":1,\"amount_minor\":99}]"))),
            v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"refund\":{\"order_id\":\"o\",\"amount_minor\":0}")), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"adjustment\":{\"points\":0,\"reason\":\"r\"}")), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"redemption\":{}")), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"redemption\":{\"reward_id\":\"x\",\"points\":5}")), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"redemption\":{\"points\":-5}")), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"membership\":{\"plan_id\":\"gold\"}")), v1::BAD_AMOUNT);
  EXPECT_EQ(Check(Ev("\"engagement\":{\"action\":\"nps\",\"score\":11}")), v1::BAD_AMOUNT);
}

TEST_F(ValidateTest, CurrencyMismatchComesLast) {
  EXPECT_EQ(
      Check(Ev("\"purchase\":{\"order_id\":\"o\",\"amount_minor\":100,\"currency\":\"USD\"}")),
      v1::CURRENCY_MISMATCH);
  EXPECT_EQ(Check(Ev("\"purchase\":{\"order_id\":\"o\",\"amount_minor\":100}")),
            v1::CURRENCY_MISMATCH);
  // A bad amount is reported before the currency.
  EXPECT_EQ(Check(Ev("\"purchase\":{\"order_id\":\"o\",\"amount_minor\":0,\"currency\":\"USD\"}")),
            v1::BAD_AMOUNT);
}

// SPEC §10: a membership's plan is checked against the version in force at
// occurred_at (later versions keep every plan, so it is known at t too).
TEST(ValidateVersionsTest, APlanIsCheckedAgainstTheVersionInForceAtOccurredAt) {
  const std::string rules = R"pb(currency: "EUR"
                                 earn { points: 1 per_minor: 100 }
                                 tiers { tier_id: "t" threshold: 0 earn_multiplier_bp: 10000 }
                                 paid_plans { plan_id: "vip" tier_id: "t" months: 1 })pb";
  auto h = ParseProgramFile("program_id: \"cafe\" " + rules +
                                " versions { version: \"2\" effective_from: "
                                "\"2024-06-01T00:00:00Z\" program { " +
                                rules +
                                " paid_plans { plan_id: \"gold\" tier_id: \"t\" months: 12 } } }",
                            "test");
  ASSERT_TRUE(h.ok()) << h.status();
  ProgramSet programs;
  ASSERT_TRUE(programs.Add(std::move(*h)).ok());
  auto check = [&](const std::string& plan, const std::string& when) {
    loyalty::v1::Event e;
    Rejection r = DecodeEvent(
        "{\"event_id\":\"e1\",\"program_id\":\"cafe\",\"member_id\":\"m\",\"occurred_at\":\"" +
            when + "\",\"membership\":{\"plan_id\":\"" + plan + "\"}}",
        InputFormat::kJson, &e);
    if (r.ok()) r = ValidateEvent(e, programs);
    return r.reason;
  };
  EXPECT_EQ(check("vip", "2024-05-31T23:59:59Z"), v1::REJECT_REASON_UNSPECIFIED);
  EXPECT_EQ(check("gold", "2024-05-31T23:59:59Z"), v1::BAD_AMOUNT);
  EXPECT_EQ(check("gold", "2024-06-01T00:00:00Z"), v1::REJECT_REASON_UNSPECIFIED);
  EXPECT_EQ(check("vip", "2024-06-01T00:00:00Z"), v1::REJECT_REASON_UNSPECIFIED);
}

}  // namespace
}  // namespace loyalty
