// File: engine/report/format.h
// Internal to engine/report: the cells that the text and the HTML renderings
// of a KpiReport share. The public number formatting (FormatDecimal,
// FormatPercent, FormatNps) is declared in report.h and defined beside
// these, in format.cc.
#ifndef LOYALTY_ENGINE_REPORT_FORMAT_H_
#define LOYALTY_ENGINE_REPORT_FORMAT_H_

#include <string>

#include "engine/report/report.h"

namespace loyalty::report_internal {

// "(1 / 3)": the ratio's integers.
std::string RatioParts(const Ratio& r);
// "33.33%", or "n/a" when the ratio is undefined.
std::string PercentCell(const Ratio& r);
// The tier id, or "(none)" for members without a tier.
std::string TierLabel(const std::string& tier_id);
// "1 point = 2 minor units of EUR"
std::string PointValue(const ProgramReport& p);

}  // namespace loyalty::report_internal

#endif  // LOYALTY_ENGINE_REPORT_FORMAT_H_
