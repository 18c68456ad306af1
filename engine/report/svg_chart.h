// File: engine/report/svg_chart.h
// Small SVG charts for self-contained HTML pages (the KPI report's and
// loyalty-bench's): a grouped bar chart and a line chart that share one
// frame: a title, a grid with y-axis labels at quarters of a round maximum,
// a legend, and "no data" when there is nothing to draw. No script: hovering
// a bar or a line shows its SVG <title>.
//
//   std::string svg = svg::BarChart("Members per tier", {"member", "gold"},
//                                   {{"members", "#4c78a8", {120, 7}}});
//   std::string page = absl::StrCat("<style>", svg::kChartCss, "</style>", svg);
//
// Values are integers (fixed-point with ValueFormat::decimals) and the
// geometry is integer arithmetic, so the same data gives the same bytes.
// Every text (title, labels, series names) is HTML-escaped. The elements
// carry classes (title, grid, axis, value, label, legend, empty) that
// kChartCss styles; a page includes it once.
//
// Thread-safe: pure functions.
#ifndef LOYALTY_ENGINE_REPORT_SVG_CHART_H_
#define LOYALTY_ENGINE_REPORT_SVG_CHART_H_

#include <cstdint>
#include <string>
#include <vector>

namespace loyalty::svg {

// The style sheet of the charts' classes, for a page's <style>.
inline constexpr char kChartCss[] =
    "svg { background: #fafafa; border: 1px solid #ddd; }\n"
    "svg text { font-size: 11px; fill: #333; }\n"
    "svg .title { font-size: 13px; font-weight: bold; }\n"
    "svg .axis { text-anchor: end; fill: #777; }\n"
    "svg .value { text-anchor: middle; }\n"
    "svg .label { text-anchor: end; }\n"
    "svg .empty { fill: #999; }\n"
    "svg .grid { stroke: #e3e3e3; }\n";

// How values print. A value is a count of 10^-decimals units: 125 with
// decimals 1 prints "12.5". `unit` follows a value in a hover title
// (" ms"). Default: integers, no unit.
struct ValueFormat {
  int decimals = 0;  // 0..9
  std::string unit;
};

struct Series {
  std::string name;             // in the legend and the hover titles
  std::string color;            // a CSS colour: "#4c78a8"
  std::vector<int64_t> values;  // see BarChart and LineChart; negatives drawn as 0
  bool dashed = false;          // LineChart: a dashed line
};

// A vertical bar chart, one group of bars per label, one bar per series
// (values[i] is the bar of labels[i]; missing values are 0). A single
// series prints each value above its bar (up to 24 labels) and has no
// legend. Labels are written at -45 degrees below the axis; the chart grows
// downwards and to the left for labels longer than 11 bytes.
std::string BarChart(const std::string& title, const std::vector<std::string>& labels,
                     const std::vector<Series>& series, const ValueFormat& format = {});

// A line chart of series sampled at steps 0, 1, 2, ... (values[i] at step
// i; `x_label` names the step, e.g. "seconds since the first commit"), the
// legend to the right of the plot. A series longer than the plot is wide
// in pixels is drawn with one vertex per pixel column: the mean of the
// values in it.
std::string LineChart(const std::string& title, const std::vector<Series>& series,
                      const std::string& x_label, const ValueFormat& format = {});

// The axis maximum for values up to v: 4 for v <= 4, else the least of 1,
// 1.2, 1.6, 2, 2.4, 3, 4, 5, 6 or 8 times a power of ten (at least 10)
// that is >= v.
int64_t NiceCeiling(int64_t v);
// An axis label: 375000 -> "375k", 12500000 -> "12.5M", 1250 -> "1250".
std::string AxisNumber(int64_t v);
// `v` with format.decimals digits after the point, without the unit:
// FormatValue(-5, {2}) is "-0.05".
std::string FormatValue(int64_t v, const ValueFormat& format);

}  // namespace loyalty::svg

#endif  // LOYALTY_ENGINE_REPORT_SVG_CHART_H_
