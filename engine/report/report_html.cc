// File: engine/report/report_html.cc
// FormatReportChartHtml: a self-contained HTML page (inline SVG, no script,
// nothing fetched) with a summary table and three bar charts per program.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/text.h"
#include "engine/report/format.h"
#include "engine/report/report.h"

namespace loyalty {
namespace {

using i128 = __int128;
using report_internal::PercentCell;
using report_internal::PointValue;
using report_internal::RatioParts;
using report_internal::TierLabel;

// A round axis maximum >= v (v >= 1): 4, or 1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6
// or 8 times a power of ten (so that quarters of it are round too).
int64_t NiceCeiling(int64_t v) {
  if (v <= 4) return 4;
  for (int64_t tenth = 1; tenth <= INT64_MAX / 800; tenth *= 10) {
    for (int64_t m : {10, 12, 16, 20, 24, 30, 40, 50, 60, 80}) {
      if (m * tenth >= v) return m * tenth;
    }
  }
  return v;
}

// An axis label: 375000 -> "375k", 12500000 -> "12.5M", 1250 -> "1250".
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

struct Series {
  std::string name;
  std::string color;
  std::vector<int64_t> values;  // one per label; negatives drawn as 0
};

// A vertical bar chart, one group of bars per label. Hovering a bar shows its
// value (an SVG <title>, no script).
std::string BarChartSvg(const std::string& title, const std::vector<std::string>& labels,
                        const std::vector<Series>& series) {
  constexpr int kPlotHeight = 200;
  constexpr int kLeft = 70;
  constexpr int kTop = 30;
  constexpr int kBottom = 70;
  const int bar_width = series.size() > 1 ? 12 : 28;
  const int group_width = static_cast<int>(series.size()) * bar_width + 10;
  const int plot_width = std::max(320, static_cast<int>(labels.size()) * group_width);
  const int width = kLeft + plot_width + 20;
  const int height = kTop + kPlotHeight + kBottom + (series.size() > 1 ? 20 : 0);
  int64_t max_value = 0;
  for (const auto& s : series) {
    for (int64_t v : s.values) max_value = std::max(max_value, v);
  }
  const int64_t axis_max = NiceCeiling(std::max<int64_t>(max_value, 1));
  const int base_y = kTop + kPlotHeight;

  std::string svg = absl::StrFormat(
      "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
      width, height, width, height, HtmlEscape(title));
  absl::StrAppend(&svg, "<text x=\"", kLeft, "\" y=\"18\" class=\"title\">", HtmlEscape(title),
                  "</text>\n");
  for (int i = 0; i <= 4; ++i) {
    const int y = base_y - kPlotHeight * i / 4;
    const i128 tick = static_cast<i128>(axis_max) * i / 4;
    absl::StrAppend(&svg, "<line x1=\"", kLeft, "\" y1=\"", y, "\" x2=\"", kLeft + plot_width,
                    "\" y2=\"", y, "\" class=\"grid\"/>\n");
    absl::StrAppend(&svg, "<text x=\"", kLeft - 6, "\" y=\"", y + 4, "\" class=\"axis\">",
                    AxisNumber(static_cast<int64_t>(tick)), "</text>\n");
  }
  if (labels.empty()) {
    absl::StrAppend(&svg, "<text x=\"", kLeft + 20, "\" y=\"", base_y - kPlotHeight / 2,
                    "\" class=\"empty\">no data</text>\n");
  }
  for (size_t g = 0; g < labels.size(); ++g) {
    const int x0 = kLeft + static_cast<int>(g) * group_width + 5;
    for (size_t s = 0; s < series.size(); ++s) {
      const int64_t v = std::max<int64_t>(series[s].values[g], 0);
      const int h = static_cast<int>(static_cast<i128>(v) * kPlotHeight / axis_max);
      const int x = x0 + static_cast<int>(s) * bar_width;
      absl::StrAppend(&svg, "<rect x=\"", x, "\" y=\"", base_y - h, "\" width=\"", bar_width - 1,
                      "\" height=\"", h, "\" fill=\"", series[s].color, "\"><title>",
                      HtmlEscape(labels[g]), " ", HtmlEscape(series[s].name), ": ", series[s].values[g],
                      "</title></rect>\n");
      if (series.size() == 1 && labels.size() <= 24) {
        absl::StrAppend(&svg, "<text x=\"", x + bar_width / 2, "\" y=\"", base_y - h - 3,
                        "\" class=\"value\">", series[s].values[g], "</text>\n");
      }
    }
    const int lx = x0 + group_width / 2 - 5;
    absl::StrAppend(&svg, "<text x=\"", lx, "\" y=\"", base_y + 12, "\" class=\"label\" ",
                    "transform=\"rotate(-45 ", lx, " ", base_y + 12, ")\">", HtmlEscape(labels[g]),
                    "</text>\n");
  }
  if (series.size() > 1) {
    int x = kLeft;
    const int y = height - 12;
    for (const auto& s : series) {
      absl::StrAppend(&svg, "<rect x=\"", x, "\" y=\"", y - 9, "\" width=\"10\" height=\"10\" ",
                      "fill=\"", s.color, "\"/><text x=\"", x + 14, "\" y=\"", y,
                      "\" class=\"legend\">", HtmlEscape(s.name), "</text>\n");
      x += 110;
    }
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

void AppendProgramHtml(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "<section>\n<h2>", HtmlEscape(p.program_id), "</h2>\n<p class=\"sub\">",
                  HtmlEscape(p.timezone), "; ", HtmlEscape(PointValue(p)), "</p>\n<table>\n");
  auto row = [out](const std::string& name, const std::string& value) {
    absl::StrAppend(out, "<tr><th>", HtmlEscape(name), "</th><td>", HtmlEscape(value), "</td></tr>\n");
  };
  row("Members", absl::StrCat(p.members));
  row("Active members", absl::StrCat(p.active_members));
  row("Repeat-purchase rate",
      absl::StrCat(PercentCell(p.repeat_purchase), " ", RatioParts(p.repeat_purchase)));
  row("Churn rate", absl::StrCat(PercentCell(p.churn), " ", RatioParts(p.churn)));
  row("Spend per member (minor)",
      FormatDecimal(p.spend_per_member.numerator, p.spend_per_member.denominator, 2));
  row("NPS", absl::StrCat(FormatNps(p.nps), " (", p.nps.responses, " responses)"));
  row("Points issued / redeemed / expired",
      absl::StrCat(p.issued_points, " / ", p.redeemed_points, " / ", p.expired_points));
  row("Breakage rate", absl::StrCat(PercentCell(p.breakage), " ", RatioParts(p.breakage)));
  row("Outstanding points (lots - debt)",
      absl::StrCat(p.lot_points, " - ", p.debt_points, " = ", p.lot_points - p.debt_points));
  absl::StrAppend(out, "</table>\n<div class=\"charts\">\n");

  std::vector<std::string> labels;
  Series tiers{"members", "#4c78a8", {}};
  for (const auto& t : p.tiers) {
    labels.push_back(TierLabel(t.tier_id));
    tiers.values.push_back(t.members);
  }
  absl::StrAppend(out, BarChartSvg("Members per tier", labels, {tiers}));

  labels.clear();
  Series liability{"points", "#f58518", {}};
  for (const auto& l : p.liability) {
    labels.push_back(l.month);
    liability.values.push_back(l.points);
  }
  absl::StrAppend(out, BarChartSvg("Outstanding points by expiry month", labels, {liability}));

  labels.clear();
  Series issued{"issued", "#4c78a8", {}};
  Series redeemed{"redeemed", "#54a24b", {}};
  Series expired{"expired", "#e45756", {}};
  for (const auto& m : p.monthly) {
    labels.push_back(m.month);
    issued.values.push_back(m.issued_points);
    redeemed.values.push_back(m.redeemed_points);
    expired.values.push_back(m.expired_points);
  }
  absl::StrAppend(out, BarChartSvg("Points per month", labels, {issued, redeemed, expired}));
  absl::StrAppend(out, "</div>\n</section>\n");
}

constexpr char kHtmlHead[] = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Loyalty Ledger KPI report</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; }
h2 { font-size: 18px; margin-bottom: 2px; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th { text-align: left; font-weight: normal; color: #555; padding: 2px 16px 2px 0; }
td { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg { background: #fafafa; border: 1px solid #ddd; }
svg text { font-size: 11px; fill: #333; }
svg .title { font-size: 13px; font-weight: bold; }
svg .axis { text-anchor: end; fill: #777; }
svg .value { text-anchor: middle; }
svg .label { text-anchor: end; }
svg .empty { fill: #999; }
svg .grid { stroke: #e3e3e3; }
</style>
</head>
<body>
)";

}  // namespace

std::string FormatReportChartHtml(const KpiReport& report) {
  std::string out = kHtmlHead;
  absl::StrAppend(&out, "<h1>Loyalty Ledger KPI report</h1>\n<p class=\"sub\">as of ",
                  HtmlEscape(FormatRfc3339(report.as_of_ns)),
                  report.as_of_from_store ? " (the latest effective time in the stores)" : "", "; ",
                  report.partitions, " partition(s)</p>\n");
  for (const auto& p : report.programs) AppendProgramHtml(p, &out);
  absl::StrAppend(&out, "</body>\n</html>\n");
  return out;
}

}  // namespace loyalty
