// The SVG charts: the axis arithmetic, escaping, hover titles, the
// geometry of a line, empty data and the room for long labels.
#include "engine/report/svg_chart.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace loyalty::svg {
namespace {

// The text between `before` and the next '"' after it.
std::string Attribute(const std::string& svg, const std::string& before) {
  const size_t at = svg.find(before);
  if (at == std::string::npos) return "(missing)";
  const size_t from = at + before.size();
  return svg.substr(from, svg.find('"', from) - from);
}

TEST(SvgChartTest, AxisMaximumIsRoundAndAtLeastTheLargestValue) {
  EXPECT_EQ(NiceCeiling(1), 4);
  EXPECT_EQ(NiceCeiling(4), 4);
  EXPECT_EQ(NiceCeiling(5), 10);
  EXPECT_EQ(NiceCeiling(11), 12);
  EXPECT_EQ(NiceCeiling(13), 16);
  EXPECT_EQ(NiceCeiling(101), 120);
  EXPECT_EQ(NiceCeiling(250), 300);
  EXPECT_EQ(NiceCeiling(1000), 1000);
  EXPECT_EQ(NiceCeiling(1001), 1200);
  EXPECT_EQ(NiceCeiling(61'000'000), 80'000'000);
}

TEST(SvgChartTest, AxisNumbersAndFixedPointValues) {
  EXPECT_EQ(AxisNumber(0), "0");
  EXPECT_EQ(AxisNumber(1250), "1250");
  EXPECT_EQ(AxisNumber(2000), "2k");
  EXPECT_EQ(AxisNumber(375000), "375k");
  EXPECT_EQ(AxisNumber(12'500'000), "12.5M");
  EXPECT_EQ(AxisNumber(1'500'000'000), "1.5G");
  EXPECT_EQ(FormatValue(7, {}), "7");
  EXPECT_EQ(FormatValue(125, {1, " ms"}), "12.5");
  EXPECT_EQ(FormatValue(-5, {2, ""}), "-0.05");
  EXPECT_EQ(FormatValue(3000, {3, ""}), "3.000");
}

TEST(SvgChartTest, GridLabelsAreQuartersOfTheRoundedMaximum) {
  const std::string svg = BarChart("t", {"a"}, {{"n", "#000", {101}}});
  for (const char* label : {">0<", ">30<", ">60<", ">90<", ">120<"}) {
    EXPECT_TRUE(absl::StrContains(svg, absl::StrCat("class=\"axis\"", label))) << label << svg;
  }
  // 101 of 120 on a 200-pixel plot: 168 pixels.
  EXPECT_EQ(Attribute(svg, "width=\"27\" height=\""), "168") << svg;
}

TEST(SvgChartTest, TitlesLabelsAndNamesAreEscaped) {
  const std::string svg = BarChart("Tiers <b> & \"quotes\"", {"a<b", "c'd"},
                                   {{"x&y", "#000", {1, 2}}, {"z", "#111", {3, 4}}});
  EXPECT_FALSE(absl::StrContains(svg, "<b>"));
  EXPECT_FALSE(absl::StrContains(svg, "a<b"));
  EXPECT_FALSE(absl::StrContains(svg, "x&y"));
  EXPECT_TRUE(absl::StrContains(svg, "aria-label=\"Tiers &lt;b&gt; &amp; &quot;quotes&quot;\""));
  EXPECT_TRUE(absl::StrContains(svg, "class=\"title\">Tiers &lt;b&gt; &amp; &quot;quotes&quot;<"));
  EXPECT_TRUE(absl::StrContains(svg, "<title>a&lt;b x&amp;y: 1</title>"));
  EXPECT_TRUE(absl::StrContains(svg, "<title>c&#39;d z: 4</title>"));
  EXPECT_TRUE(absl::StrContains(svg, "class=\"legend\">x&amp;y</text>"));
}

TEST(SvgChartTest, HoverTitlesCarryTheValueInItsFormat) {
  const std::string bars = BarChart("t", {"gold"}, {{"members", "#4c78a8", {42}}});
  EXPECT_TRUE(absl::StrContains(bars, "<title>gold members: 42</title>")) << bars;
  EXPECT_TRUE(absl::StrContains(bars, "class=\"value\">42</text>")) << bars;
  EXPECT_FALSE(absl::StrContains(bars, "class=\"legend\"")) << "one series has no legend";

  const std::string ms = BarChart("t", {"engine"}, {{"p99", "#f00", {483}}}, {1, " ms"});
  EXPECT_TRUE(absl::StrContains(ms, "<title>engine p99: 48.3 ms</title>")) << ms;
  // 483 tenths: an axis of 50.0 ms in quarters of 12.5.
  EXPECT_TRUE(absl::StrContains(ms, "class=\"axis\">12.5<")) << ms;
  EXPECT_TRUE(absl::StrContains(ms, "class=\"axis\">50<")) << ms;

  const std::string negative = BarChart("t", {"a"}, {{"n", "#000", {-5}}});
  EXPECT_TRUE(absl::StrContains(negative, "height=\"0\" fill")) << negative;
  EXPECT_TRUE(absl::StrContains(negative, "<title>a n: -5</title>")) << negative;
}

TEST(SvgChartTest, EmptyDataSaysNoData) {
  EXPECT_TRUE(absl::StrContains(BarChart("t", {}, {{"n", "#000", {}}}), ">no data<"));
  EXPECT_TRUE(absl::StrContains(LineChart("t", {}, "s"), ">no data<"));
  EXPECT_TRUE(absl::StrContains(LineChart("t", {{"n", "#000", {}}}, "s"), ">no data<"));
  EXPECT_FALSE(absl::StrContains(LineChart("t", {{"n", "#000", {1}}}, "s"), ">no data<"));
}

TEST(SvgChartTest, LineVerticesSpanThePlot) {
  const std::string svg = LineChart("t", {{"run 1", "#1f77b4", {0, 50, 100}}}, "seconds");
  // Plot: x 70..710, y 230 (0) .. 30 (100, the axis maximum).
  EXPECT_EQ(Attribute(svg, "<polyline points=\""), "70,230 390,130 710,30") << svg;
  EXPECT_TRUE(absl::StrContains(svg, "<title>run 1: 3 steps, max 100</title>")) << svg;
  EXPECT_TRUE(absl::StrContains(svg, ">seconds</text>")) << svg;
  EXPECT_TRUE(absl::StrContains(svg, "class=\"legend\">run 1</text>")) << svg;
  EXPECT_FALSE(absl::StrContains(svg, "stroke-dasharray"));
  const std::string dashed = LineChart("t", {{"null", "#000", {1, 2}, /*dashed=*/true}}, "s");
  EXPECT_TRUE(absl::StrContains(dashed, "stroke-dasharray=\"6,3\"")) << dashed;
}

TEST(SvgChartTest, LongSeriesHaveAtMostOneVertexPerPixelColumn) {
  const std::string svg = LineChart("t", {{"n", "#000", std::vector<int64_t>(10'000, 7)}}, "s");
  const std::string points = Attribute(svg, "<polyline points=\"");
  const auto vertices = std::count(points.begin(), points.end(), ',');
  EXPECT_GT(vertices, 320);
  EXPECT_LE(vertices, 640);
}

TEST(SvgChartTest, LongLabelsGetRoomBelowTheAxisAndToTheLeft) {
  // 30 + 200 + 70 high, 70 + 320 + 20 wide: labels of up to 11 bytes fit.
  const std::string fits = BarChart("t", {"12345678901"}, {{"n", "#000", {1}}});
  EXPECT_EQ(Attribute(fits, "height=\""), "300");
  EXPECT_EQ(Attribute(fits, "width=\""), "410");
  EXPECT_EQ(Attribute(fits, "<line x1=\""), "70");
  // 30 bytes reach 30 * 19 / 4 = 142 px: 16 + 142 below the plot, and the
  // plot starts at 8 + 142 - 38 / 2 = 131.
  const std::string long_label = BarChart("t", {std::string(30, 'x')}, {{"n", "#000", {1}}});
  EXPECT_EQ(Attribute(long_label, "height=\""), "388");
  EXPECT_EQ(Attribute(long_label, "width=\""), "471");
  EXPECT_EQ(Attribute(long_label, "<line x1=\""), "131");
}

TEST(SvgChartTest, SameDataSameBytes) {
  const std::vector<Series> series = {{"a", "#000", {3, 1, 4}}, {"b", "#111", {1, 5, 9}}};
  EXPECT_EQ(BarChart("t", {"x", "y", "z"}, series), BarChart("t", {"x", "y", "z"}, series));
  EXPECT_EQ(LineChart("t", series, "s"), LineChart("t", series, "s"));
}

}  // namespace
}  // namespace loyalty::svg
