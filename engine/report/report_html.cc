// File: engine/report/report_html.cc
// FormatReportChartHtml: a self-contained HTML page (inline SVG, no script,
// nothing fetched) with a summary table and three bar charts (svg_chart.h) per program.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/text.h"
#include "engine/report/format.h"
#include "engine/report/report.h"
#include "engine/report/svg_chart.h"

namespace loyalty {
namespace {

using report_internal::PercentCell;
using report_internal::PointValue;
using report_internal::RatioParts;
using report_internal::TierLabel;

// The program's heading and its figures in a table.
void AppendSummaryHtml(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "<section>\n<h2>", HtmlEscape(p.program_id), "</h2>\n<p class=\"sub\">",
                  HtmlEscape(p.timezone), "; ", HtmlEscape(PointValue(p)), "</p>\n<table>\n");
  auto row = [out](const std::string& name, const std::string& value) {
    absl::StrAppend(out, "<tr><th>", HtmlEscape(name), "</th><td>", HtmlEscape(value),
                    "</td></tr>\n");
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
  absl::StrAppend(out, "</table>\n");
}

// Members per tier, outstanding points by expiry month, points per month.
void AppendChartsHtml(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "<div class=\"charts\">\n");
  std::vector<std::string> labels;
  svg::Series tiers{"members", "#4c78a8", {}};
  for (const auto& t : p.tiers) {
    labels.push_back(TierLabel(t.tier_id));
    tiers.values.push_back(t.members);
  }
  absl::StrAppend(out, svg::BarChart("Members per tier", labels, {tiers}));

  labels.clear();
  svg::Series liability{"points", "#f58518", {}};
  for (const auto& l : p.liability) {
    labels.push_back(l.month);
    liability.values.push_back(l.points);
  }
  absl::StrAppend(out, svg::BarChart("Outstanding points by expiry month", labels, {liability}));

  labels.clear();
  svg::Series issued{"issued", "#4c78a8", {}};
  svg::Series redeemed{"redeemed", "#54a24b", {}};
  svg::Series expired{"expired", "#e45756", {}};
  for (const auto& m : p.monthly) {
    labels.push_back(m.month);
    issued.values.push_back(m.issued_points);
    redeemed.values.push_back(m.redeemed_points);
    expired.values.push_back(m.expired_points);
  }
  absl::StrAppend(out, svg::BarChart("Points per month", labels, {issued, redeemed, expired}));
  absl::StrAppend(out, "</div>\n</section>\n");
}

void AppendProgramHtml(const ProgramReport& p, std::string* out) {
  AppendSummaryHtml(p, out);
  AppendChartsHtml(p, out);
}

// The page up to the charts' style sheet, svg::kChartCss.
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
)";
// After svg::kChartCss.
constexpr char kHtmlHeadEnd[] = R"(</style>
</head>
<body>
)";

}  // namespace

std::string FormatReportChartHtml(const KpiReport& report) {
  std::string out = absl::StrCat(kHtmlHead, svg::kChartCss, kHtmlHeadEnd);
  absl::StrAppend(&out, "<h1>Loyalty Ledger KPI report</h1>\n<p class=\"sub\">as of ",
                  HtmlEscape(FormatRfc3339(report.as_of_ns)),
                  report.as_of_from_store ? " (the latest effective time in the stores)" : "", "; ",
                  report.partitions, " partition(s)</p>\n");
  for (const auto& p : report.programs) AppendProgramHtml(p, &out);
  absl::StrAppend(&out, "</body>\n</html>\n");
  return out;
}

}  // namespace loyalty
