#include "engine/log/log.h"

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/text_format.h>

#include <sstream>

#include "gtest/gtest.h"

namespace loyalty::log {
namespace {

TEST(LogTest, LogfmtQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(RenderBody(Format::kLogfmt, Level::kInfo, "partition assigned",
                       {{"partition", 3}, {"topic", "loyalty.events"}, {"empty", ""}}),
            "level=info msg=\"partition assigned\" partition=3 topic=loyalty.events empty=\"\"");
  EXPECT_EQ(RenderBody(Format::kLogfmt, Level::kWarn, "x", {{"cause", "a \"b\"=c\\d\ne\x01"}}),
            "level=warn msg=x cause=\"a \\\"b\\\"=c\\\\d\\ne\\x01\"");
}

TEST(LogTest, JsonWritesNumbersBareAndStringsEscaped) {
  EXPECT_EQ(RenderBody(Format::kJson, Level::kError, "stop",
                       {{"records", int64_t{12}}, {"ok", false}, {"why", "a\"b"}}),
            "\"level\":\"error\",\"msg\":\"stop\",\"records\":12,\"ok\":false,\"why\":\"a\\\"b\"");
}

TEST(LogTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(*ParseLevel("WARN"), Level::kWarn);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarn);
  EXPECT_FALSE(ParseLevel("verbose").ok());
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_FALSE(ParseFormat("text").ok());
}

TEST(LogTest, ProtobufsOwnLinesComeThroughTheLog) {
  std::ostringstream out;
  Configure({.format = Format::kLogfmt, .level = Level::kInfo, .stream = &out});
  google::protobuf::Duration d;  // any message: the text parser logs its error
  EXPECT_FALSE(google::protobuf::TextFormat::ParseFromString("no_such_field: 1", &d));
  Configure({});
  EXPECT_NE(out.str().find("level=error msg="), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("component=protobuf"), std::string::npos) << out.str();
}

TEST(LogTest, WritesWholeLinesAtOrAboveTheLevel) {
  std::ostringstream out;
  Configure({.format = Format::kJson, .level = Level::kInfo, .stream = &out});
  Debug("hidden");
  Info("shown", {{"n", 1}});
  EXPECT_FALSE(Enabled(Level::kDebug));
  const std::string text = out.str();
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  ASSERT_EQ(text.rfind("{\"ts\":\"", 0), 0u) << text;
  EXPECT_NE(text.find("Z\",\"level\":\"info\",\"msg\":\"shown\",\"n\":1}\n"), std::string::npos)
      << text;
  Configure({});  // back to stderr before `out` goes
}

}  // namespace
}  // namespace loyalty::log
