// File: engine/report/report_text.cc
// FormatReportText: the report as aligned tables, one block per program,
// one section per group of figures.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/report/format.h"
#include "engine/report/report.h"

namespace loyalty {
namespace {

using report_internal::PercentCell;
using report_internal::PointValue;
using report_internal::RatioParts;
using report_internal::TierLabel;
using Rows = std::vector<std::vector<std::string>>;

// Columns aligned per `align`, one letter per column ('l' or 'r'); columns
// past its end are right-aligned.
std::string Table(const Rows& rows, const std::string& indent, const std::string& align = "l") {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (row.size() > width.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      const bool left = i < align.size() && align[i] == 'l';
      absl::StrAppend(&line, i == 0 ? "" : "  ", left ? "" : pad, row[i], left ? pad : "");
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

// The heading and the members, activity, spend and NPS figures.
void AppendMembersText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\n== ", p.program_id, " (", p.timezone, "; ", PointValue(p), ") ==\n");
  const std::string nps_parts =
      absl::StrCat("(", p.nps.responses, " responses: ", p.nps.promoters, " promoters, ",
                   p.nps.passives, " passives, ", p.nps.detractors, " detractors)");
  const Rows rows = {
      {"Members", absl::StrCat(p.members), ""},
      {"  with a purchase", absl::StrCat(p.members_with_purchase), ""},
      {absl::StrCat("  active (a purchase in the last ", kActiveWindowDays, " days)"),
       absl::StrCat(p.active_members), ""},
      {"Repeat-purchase rate", PercentCell(p.repeat_purchase), RatioParts(p.repeat_purchase)},
      {absl::StrCat("Churn rate (no purchase in ", kChurnWindowDays, " days)"),
       PercentCell(p.churn), RatioParts(p.churn)},
      {absl::StrCat("Spend (minor units of ", p.currency, ")"), absl::StrCat(p.spend_minor), ""},
      {"  average per member (CLV proxy)",
       FormatDecimal(p.spend_per_member.numerator, p.spend_per_member.denominator, 2), ""},
      {"NPS", FormatNps(p.nps), nps_parts},
  };
  absl::StrAppend(out, Table(rows, "", "lrl"));
}

void AppendTiersText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\nTiers\n");
  if (p.tiers.empty()) {
    absl::StrAppend(out, "  (the program has no tiers)\n");
    return;
  }
  Rows rows = {{"tier", "members"}};
  for (const auto& t : p.tiers) rows.push_back({TierLabel(t.tier_id), absl::StrCat(t.members)});
  absl::StrAppend(out, Table(rows, "  "));
}

void AppendPointsText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\nPoints\n");
  const Rows rows = {
      {"issued", absl::StrCat(p.issued_points), ""},
      {"redeemed", absl::StrCat(p.redeemed_points), ""},
      {"expired", absl::StrCat(p.expired_points), ""},
      {"clawed back", absl::StrCat(p.clawed_back_points), ""},
      {"adjusted", absl::StrCat(p.adjusted_points), ""},
      {"outstanding", absl::StrCat(p.outstanding_points), ""},
      {"breakage rate", PercentCell(p.breakage), RatioParts(p.breakage)},
  };
  absl::StrAppend(out, Table(rows, "  ", "lrl"));
}

void AppendLiabilityText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\nOutstanding liability by expiry month (", p.timezone, ")\n");
  Rows rows = {{"expiry month", "points", absl::StrCat("value (minor ", p.currency, ")")}};
  for (const auto& l : p.liability) {
    rows.push_back({l.month, absl::StrCat(l.points), absl::StrCat(l.value_minor)});
  }
  const int64_t pv = p.point_value_minor;
  auto value = [pv](int64_t points) {
    int64_t v;
    return __builtin_mul_overflow(points, pv, &v) ? std::string("overflow") : absl::StrCat(v);
  };
  rows.push_back({"lots", absl::StrCat(p.lot_points), value(p.lot_points)});
  rows.push_back({"debt owed", absl::StrCat(-p.debt_points), value(-p.debt_points)});
  rows.push_back(
      {"net", absl::StrCat(p.lot_points - p.debt_points), value(p.lot_points - p.debt_points)});
  absl::StrAppend(out, Table(rows, "  "));
}

void AppendPartnersText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\nPoints earned per partner (EARN entries)\n");
  Rows rows = {{"partner", "earned", "purchases", "clawed back"}};
  for (const auto& x : p.partners) {
    rows.push_back({x.partner_id, absl::StrCat(x.earned_points), absl::StrCat(x.purchases),
                    absl::StrCat(x.clawed_back_points)});
  }
  rows.push_back({"(no partner)", absl::StrCat(p.no_partner.earned_points),
                  absl::StrCat(p.no_partner.purchases),
                  absl::StrCat(p.no_partner.clawed_back_points)});
  absl::StrAppend(out, Table(rows, "  "));
}

void AppendMonthlyText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\nPoints per month (", p.timezone, ")\n");
  if (p.monthly.empty()) {
    absl::StrAppend(out, "  (no entries)\n");
    return;
  }
  Rows rows = {{"month", "issued", "redeemed", "expired"}};
  for (const auto& m : p.monthly) {
    rows.push_back({m.month, absl::StrCat(m.issued_points), absl::StrCat(m.redeemed_points),
                    absl::StrCat(m.expired_points)});
  }
  absl::StrAppend(out, Table(rows, "  "));
}

void AppendProgramText(const ProgramReport& p, std::string* out) {
  AppendMembersText(p, out);
  AppendTiersText(p, out);
  AppendPointsText(p, out);
  AppendLiabilityText(p, out);
  AppendPartnersText(p, out);
  AppendMonthlyText(p, out);
}

}  // namespace

std::string FormatReportText(const KpiReport& report) {
  std::string out = absl::StrCat(
      "Loyalty Ledger KPI report as of ", FormatRfc3339(report.as_of_ns),
      report.as_of_from_store ? " (the latest effective time in the stores)" : "", "; ",
      report.partitions, report.partitions == 1 ? " partition" : " partitions", ", ",
      report.programs.size(), report.programs.size() == 1 ? " program\n" : " programs\n");
  if (report.as_of_ns < report.latest_effective_ns) {
    absl::StrAppend(&out, "Note: the stores have seen up to ",
                    FormatRfc3339(report.latest_effective_ns),
                    "; the figures are of that state, as_of only moves the activity and churn "
                    "windows.\n");
  }
  for (const auto& p : report.programs) AppendProgramText(p, &out);
  return out;
}

}  // namespace loyalty
