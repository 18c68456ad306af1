// File: engine/report/format.cc
// Numbers of the report printed from integers (FormatDecimal, FormatPercent,
// FormatNps of report.h) and the cells the text and HTML renderings share.
#include "engine/report/format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace loyalty {
namespace {

using i128 = __int128;

std::string FormatScaled(i128 numerator, i128 denominator, int decimals) {
  if (denominator == 0) return "n/a";
  i128 scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  // |numerator| < 2^63 * 100 and scale <= 10^4 keep the product in 128 bits.
  i128 q = numerator * scale / denominator;  // truncates toward zero
  const bool negative = q < 0;
  if (negative) q = -q;
  const auto whole = static_cast<unsigned long long>(q / scale);
  std::string out = absl::StrCat(negative ? "-" : "", whole);
  if (decimals > 0) {
    absl::StrAppend(&out, ".",
                    absl::StrFormat("%0*d", decimals, static_cast<long long>(q % scale)));
  }
  return out;
}

}  // namespace

std::string FormatDecimal(int64_t numerator, int64_t denominator, int decimals) {
  return FormatScaled(numerator, denominator, decimals);
}

std::string FormatPercent(const Ratio& ratio) {
  return FormatScaled(static_cast<i128>(ratio.numerator) * 100, ratio.denominator, 2);
}

std::string FormatNps(const NpsFigures& nps) {
  return FormatScaled(static_cast<i128>(nps.promoters - nps.detractors) * 100, nps.responses, 2);
}

namespace report_internal {

std::string RatioParts(const Ratio& r) {
  return absl::StrCat("(", r.numerator, " / ", r.denominator, ")");
}

std::string PercentCell(const Ratio& r) {
  const std::string p = FormatPercent(r);
  return p == "n/a" ? p : p + "%";
}

std::string TierLabel(const std::string& tier_id) { return tier_id.empty() ? "(none)" : tier_id; }

std::string PointValue(const ProgramReport& p) {
  return absl::StrCat("1 point = ", p.point_value_minor,
                      p.point_value_minor == 1 ? " minor unit of " : " minor units of ",
                      p.currency);
}

}  // namespace report_internal
}  // namespace loyalty
