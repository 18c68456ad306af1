// File: engine/report/svg_chart.cc
#include "engine/report/svg_chart.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/text.h"

namespace loyalty::svg {
namespace {

using i128 = __int128;

constexpr int kLeft = 70;  // the y-axis labels are left of it
constexpr int kTop = 30;   // the title is above it
constexpr int kPlotHeight = 200;
constexpr int kBarLabelRoom = 70;  // below the plot: rotated labels of up to 11 bytes
constexpr int kLinePlotWidth = 640;
constexpr int kLineLegendWidth = 200;
constexpr int kLineBottom = 45;  // below the plot: step numbers and x_label

// The plot area of a chart, in SVG pixels.
struct Frame {
  int left = kLeft;
  int top = kTop;
  int plot_width = 0;
  int plot_height = kPlotHeight;
  int base_y() const { return top + plot_height; }
  // The height of `v` on an axis of `axis_max` (v clamped to [0, axis_max]).
  int Height(int64_t v, int64_t axis_max) const {
    v = std::clamp<int64_t>(v, 0, axis_max);
    return static_cast<int>(static_cast<i128>(v) * plot_height / axis_max);
  }
};

int64_t Pow10(int decimals) {
  int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  return scale;
}

// A y-axis label: AxisNumber of whole values, else the fixed-point value
// without trailing zeros.
std::string AxisLabel(int64_t v, const ValueFormat& format) {
  const int64_t scale = Pow10(format.decimals);
  if (v % scale == 0) return AxisNumber(v / scale);
  std::string s = FormatValue(v, format);
  while (s.back() == '0') s.pop_back();
  return s;
}

// The round maximum of the y axis: NiceCeiling of the largest value (at
// least 1).
int64_t AxisMax(const std::vector<Series>& series) {
  int64_t max_value = 0;
  for (const auto& s : series) {
    for (int64_t v : s.values) max_value = std::max(max_value, v);
  }
  return NiceCeiling(std::max<int64_t>(max_value, 1));
}

// The <svg> element's opening and the chart's title.
std::string OpenSvg(int width, int height, const std::string& title) {
  std::string svg = absl::StrFormat(
      "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
      width, height, width, height, HtmlEscape(title));
  absl::StrAppend(&svg, "<text x=\"", kLeft, "\" y=\"18\" class=\"title\">", HtmlEscape(title),
                  "</text>\n");
  return svg;
}

// Horizontal grid lines at quarters of the axis, each labelled at the left.
void AppendGrid(const Frame& f, int64_t axis_max, const ValueFormat& format, std::string* svg) {
  for (int i = 0; i <= 4; ++i) {
    const int y = f.base_y() - f.plot_height * i / 4;
    const i128 tick = static_cast<i128>(axis_max) * i / 4;
    absl::StrAppend(svg, "<line x1=\"", f.left, "\" y1=\"", y, "\" x2=\"", f.left + f.plot_width,
                    "\" y2=\"", y, "\" class=\"grid\"/>\n");
    absl::StrAppend(svg, "<text x=\"", f.left - 6, "\" y=\"", y + 4, "\" class=\"axis\">",
                    AxisLabel(static_cast<int64_t>(tick), format), "</text>\n");
  }
}

void AppendNoData(const Frame& f, std::string* svg) {
  absl::StrAppend(svg, "<text x=\"", f.left + 20, "\" y=\"", f.base_y() - f.plot_height / 2,
                  "\" class=\"empty\">no data</text>\n");
}

// One legend entry per series from (x, y), the next (dx, dy) further on:
// a colour box (bars) or a line segment (lines) and the name.
enum class Swatch { kBox, kLine };
void AppendLegend(const std::vector<Series>& series, int x, int y, int dx, int dy, Swatch swatch,
                  std::string* svg) {
  for (const auto& s : series) {
    if (swatch == Swatch::kBox) {
      absl::StrAppend(svg, "<rect x=\"", x, "\" y=\"", y - 9, "\" width=\"10\" height=\"10\" ",
                      "fill=\"", HtmlEscape(s.color), "\"/>");
    } else {
      absl::StrAppend(svg, "<line x1=\"", x, "\" y1=\"", y - 4, "\" x2=\"", x + 10, "\" y2=\"",
                      y - 4, "\" stroke=\"", HtmlEscape(s.color), "\" stroke-width=\"2\"",
                      s.dashed ? " stroke-dasharray=\"4,2\"" : "", "/>");
    }
    absl::StrAppend(svg, "<text x=\"", x + 14, "\" y=\"", y, "\" class=\"legend\">",
                    HtmlEscape(s.name), "</text>\n");
    x += dx;
    y += dy;
  }
}

int64_t ValueAt(const Series& s, size_t i) { return i < s.values.size() ? s.values[i] : 0; }

// The bars of labels[g], from x0, and the label below them.
void AppendBarGroup(const Frame& f, const std::vector<std::string>& labels, size_t g,
                    const std::vector<Series>& series, int64_t axis_max, const ValueFormat& format,
                    std::string* svg) {
  const int bar_width = series.size() > 1 ? 12 : 28;
  const int group_width = static_cast<int>(series.size()) * bar_width + 10;
  const int x0 = f.left + static_cast<int>(g) * group_width + 5;
  const int base_y = f.base_y();
  for (size_t s = 0; s < series.size(); ++s) {
    const int64_t v = ValueAt(series[s], g);
    const int h = f.Height(v, axis_max);
    const int x = x0 + static_cast<int>(s) * bar_width;
    absl::StrAppend(svg, "<rect x=\"", x, "\" y=\"", base_y - h, "\" width=\"", bar_width - 1,
                    "\" height=\"", h, "\" fill=\"", HtmlEscape(series[s].color), "\"><title>",
                    HtmlEscape(labels[g]), " ", HtmlEscape(series[s].name), ": ",
                    FormatValue(v, format), HtmlEscape(format.unit), "</title></rect>\n");
    if (series.size() == 1 && labels.size() <= 24) {
      absl::StrAppend(svg, "<text x=\"", x + bar_width / 2, "\" y=\"", base_y - h - 3,
                      "\" class=\"value\">", FormatValue(v, format), "</text>\n");
    }
  }
  const int lx = x0 + group_width / 2 - 5;
  absl::StrAppend(svg, "<text x=\"", lx, "\" y=\"", base_y + 12, "\" class=\"label\" ",
                  "transform=\"rotate(-45 ", lx, " ", base_y + 12, ")\">", HtmlEscape(labels[g]),
                  "</text>\n");
}

// How far the longest label reaches, down and to the left of its anchor,
// when written at -45 degrees: about 4.75 px per byte of 11 px text.
int LabelReach(const std::vector<std::string>& labels) {
  size_t longest = 0;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  return static_cast<int>(std::min<size_t>(longest, 200)) * 19 / 4;
}

// The points of one series: one vertex per step, or per pixel column (the
// mean of its steps) when there are more steps than columns.
std::string LinePoints(const Frame& f, const Series& s, int64_t x_max, int64_t axis_max) {
  const size_t n = s.values.size();
  const size_t columns = static_cast<size_t>(f.plot_width);
  const size_t step = (n + columns - 1) / columns;  // >= 1 when n >= 1
  std::string points;
  for (size_t i = 0; i < n; i += step) {
    const size_t end = std::min(n, i + step);
    i128 sum = 0;
    for (size_t k = i; k < end; ++k) sum += std::max<int64_t>(s.values[k], 0);
    const auto mean = static_cast<int64_t>(sum / static_cast<i128>(end - i));
    const int x = f.left + static_cast<int>(static_cast<i128>(f.plot_width) * i / x_max);
    absl::StrAppend(&points, i == 0 ? "" : " ", x, ",", f.base_y() - f.Height(mean, axis_max));
  }
  return points;
}

// Step numbers at quarters of the x axis, and the axis' name.
void AppendXAxis(const Frame& f, int64_t x_max, const std::string& x_label, std::string* svg) {
  for (int q = 0; q <= 4; ++q) {
    const int64_t step = x_max * q / 4;
    const int x = f.left + static_cast<int>(static_cast<i128>(f.plot_width) * step / x_max);
    absl::StrAppend(svg, "<text x=\"", x, "\" y=\"", f.base_y() + 16, "\" text-anchor=\"middle\">",
                    step, "</text>\n");
  }
  absl::StrAppend(svg, "<text x=\"", f.left + f.plot_width / 2, "\" y=\"", f.base_y() + 36,
                  "\" text-anchor=\"middle\">", HtmlEscape(x_label), "</text>\n");
}

}  // namespace

int64_t NiceCeiling(int64_t v) {
  if (v <= 4) return 4;
  for (int64_t tenth = 1; tenth <= INT64_MAX / 800; tenth *= 10) {
    for (int64_t m : {10, 12, 16, 20, 24, 30, 40, 50, 60, 80}) {
      if (m * tenth >= v) return m * tenth;
    }
  }
  return v;
}

std::string AxisNumber(int64_t v) {
  constexpr std::pair<int64_t, const char*> kUnits[] = {
      {1'000'000'000'000, "T"}, {1'000'000'000, "G"}, {1'000'000, "M"}, {1'000, "k"}};
  for (const auto& [unit, suffix] : kUnits) {
    if (v >= unit && v % (unit / 10) == 0) {
      const int64_t tenths = v % unit / (unit / 10);
      return tenths == 0 ? absl::StrCat(v / unit, suffix)
                         : absl::StrCat(v / unit, ".", tenths, suffix);
    }
  }
  return absl::StrCat(v);
}

std::string FormatValue(int64_t v, const ValueFormat& format) {
  if (format.decimals <= 0) return absl::StrCat(v);
  const int64_t scale = Pow10(format.decimals);
  const bool negative = v < 0;
  const auto magnitude = negative ? -static_cast<i128>(v) : static_cast<i128>(v);
  return absl::StrCat(
      negative ? "-" : "", static_cast<int64_t>(magnitude / scale), ".",
      absl::StrFormat("%0*d", format.decimals, static_cast<int64_t>(magnitude % scale)));
}

std::string BarChart(const std::string& title, const std::vector<std::string>& labels,
                     const std::vector<Series>& series, const ValueFormat& format) {
  const int bar_width = series.size() > 1 ? 12 : 28;
  const int group_width = static_cast<int>(series.size()) * bar_width + 10;
  // Long labels widen the margins (the first label's anchor is at
  // left + group_width / 2); labels of up to 11 bytes fit the default ones.
  const int reach = LabelReach(labels);
  Frame f;
  f.left = std::max(kLeft, 8 + reach - group_width / 2);
  f.plot_width = std::max(320, static_cast<int>(labels.size()) * group_width);
  const int width = f.left + f.plot_width + 20;
  const int height =
      f.base_y() + std::max(kBarLabelRoom, 16 + reach) + (series.size() > 1 ? 20 : 0);
  const int64_t axis_max = AxisMax(series);

  std::string svg = OpenSvg(width, height, title);
  AppendGrid(f, axis_max, format, &svg);
  if (labels.empty()) AppendNoData(f, &svg);
  for (size_t g = 0; g < labels.size(); ++g) {
    AppendBarGroup(f, labels, g, series, axis_max, format, &svg);
  }
  if (series.size() > 1) AppendLegend(series, f.left, height - 12, 110, 0, Swatch::kBox, &svg);
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

std::string LineChart(const std::string& title, const std::vector<Series>& series,
                      const std::string& x_label, const ValueFormat& format) {
  Frame f;
  f.plot_width = kLinePlotWidth;
  const int width = f.left + f.plot_width + 20 + kLineLegendWidth;
  const int height = f.base_y() + kLineBottom;
  const int64_t axis_max = AxisMax(series);
  size_t steps = 0;
  for (const auto& s : series) steps = std::max(steps, s.values.size());
  // The last step is at the right edge.
  const int64_t x_max = std::max<int64_t>(1, static_cast<int64_t>(steps) - 1);

  std::string svg = OpenSvg(width, height, title);
  AppendGrid(f, axis_max, format, &svg);
  if (steps == 0) AppendNoData(f, &svg);
  if (steps > 0) AppendXAxis(f, x_max, x_label, &svg);
  for (const auto& s : series) {
    if (s.values.empty()) continue;
    const int64_t max_value = *std::max_element(s.values.begin(), s.values.end());
    absl::StrAppend(&svg, "<polyline points=\"", LinePoints(f, s, x_max, axis_max),
                    "\" fill=\"none\" stroke=\"", HtmlEscape(s.color), "\" stroke-width=\"1.5\"",
                    s.dashed ? " stroke-dasharray=\"6,3\"" : "", "><title>", HtmlEscape(s.name),
                    ": ", s.values.size(), " steps, max ", FormatValue(max_value, format),
                    HtmlEscape(format.unit), "</title></polyline>\n");
  }
  AppendLegend(series, f.left + f.plot_width + 20, f.top + 4, 0, 16, Swatch::kLine, &svg);
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace loyalty::svg
