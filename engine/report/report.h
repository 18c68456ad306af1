// File: engine/report/report.h
// The KPI report of `loyaltyctl report` (SPEC §8): per program, members,
// activity, repeat purchases, churn, spend, NPS, tiers, points issued /
// redeemed / expired, breakage, outstanding liability by expiry month, points
// per partner and a monthly series; as text, JSON and an HTML chart page.
//
//   LOYALTY_ASSIGN_OR_RETURN(ProgramSet programs, LoadPrograms("programs/"));
//   ReportOptions options;  // as_of: the latest effective time in the stores
//   LOYALTY_ASSIGN_OR_RETURN(KpiReport report, BuildReport("data/", programs, options));
//   std::cout << FormatReportText(report);
//
// Every figure is an integer or an exact ratio of integers; percentages and
// averages are printed from them with integer arithmetic (truncated to two
// decimals), so the output is byte-for-byte deterministic. docs/report.md
// defines each figure.
//
// Thread-compatible. BuildReport opens the partition stores read-only; a
// running engine may keep writing (each store is read as of its opening).
#ifndef LOYALTY_ENGINE_REPORT_REPORT_H_
#define LOYALTY_ENGINE_REPORT_REPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/base/time.h"
#include "engine/program/program.h"

namespace loyalty {

inline constexpr int64_t kActiveWindowDays = 90;  // a purchase within: active
inline constexpr int64_t kChurnWindowDays = 180;  // no purchase within: churned

// numerator / denominator; undefined (printed "n/a", JSON null) when the
// denominator is 0.
struct Ratio {
  int64_t numerator = 0;
  int64_t denominator = 0;
};

struct TierCount {
  std::string tier_id;
  int64_t members = 0;
};

// Points of lots expiring in one local month of the program ("2027-03"), or
// never ("never").
struct LiabilityMonth {
  std::string month;
  int64_t points = 0;
  int64_t value_minor = 0;  // points * point_value_minor
};

// EARN entries of purchases made at one partner.
struct PartnerPoints {
  std::string partner_id;  // empty: purchases without a partner
  int64_t earned_points = 0;
  int64_t purchases = 0;           // EARN entries (purchases that earned points)
  int64_t clawed_back_points = 0;  // CLAWBACK entries of those orders
};

// Ledger entries by the local month of their effective_at.
struct MonthPoints {
  std::string month;            // "2026-03"
  int64_t issued_points = 0;    // EARN + ENGAGE + BONUS
  int64_t redeemed_points = 0;  // -REDEEM
  int64_t expired_points = 0;   // -EXPIRE
};

struct NpsFigures {
  int64_t responses = 0;   // members with a last_nps_score
  int64_t promoters = 0;   // score 9..10
  int64_t passives = 0;    // score 7..8
  int64_t detractors = 0;  // score 0..6
};

struct ProgramReport {
  std::string program_id;
  std::string currency;
  std::string timezone;
  int64_t point_value_minor = 0;

  int64_t members = 0;
  int64_t members_with_purchase = 0;  // purchase_count >= 1
  // last_purchase_at > as_of - 90 days (any member with a purchase date).
  int64_t active_members = 0;
  Ratio repeat_purchase;  // purchase_count >= 2 / members_with_purchase
  // purchase_count >= 1 and last_purchase_at <= as_of - 180 days /
  // members_with_purchase.
  Ratio churn;
  int64_t spend_minor = 0;  // sum of spend_minor
  Ratio spend_per_member;   // spend_minor / members (minor units)
  NpsFigures nps;
  // The program's tiers in order, then any other tier_id found on members.
  std::vector<TierCount> tiers;

  int64_t issued_points = 0;       // sum of lifetime_earned_points
  int64_t redeemed_points = 0;     // sum of redeemed_points
  int64_t expired_points = 0;      // sum of expired_points
  int64_t clawed_back_points = 0;  // sum of clawed_back_points
  int64_t adjusted_points = 0;     // sum of adjusted_points (signed)
  int64_t outstanding_points = 0;  // sum of available_points + pending_points
  Ratio breakage;                  // expired / issued

  // Lots with points (pending and available) by local expiry month,
  // ascending, "never" last; debt owed by members in debt.
  std::vector<LiabilityMonth> liability;
  int64_t lot_points = 0;
  int64_t debt_points = 0;

  // Partners in id order (non-empty ids), and purchases without a partner.
  std::vector<PartnerPoints> partners;
  PartnerPoints no_partner;

  // Every local month from the first to the last with an issued, redeemed or
  // expired entry (months without any are present with zeros).
  std::vector<MonthPoints> monthly;

  int64_t ledger_entries = 0;
};

struct KpiReport {
  UnixNanos as_of_ns = 0;
  // True when as_of came from the stores (no ReportOptions::as_of_ns).
  bool as_of_from_store = false;
  // The latest effective time in the stores (the default as_of). The figures
  // are of the stored state: an as_of before it only moves the windows.
  UnixNanos latest_effective_ns = 0;
  int64_t partitions = 0;
  std::vector<ProgramReport> programs;  // in program id order
};

// Progress of BuildReport, once per partition read.
struct ReportProgress {
  std::string partition_path;
  int64_t partitions_done = 0;
  int64_t partitions_total = 0;
  int64_t members = 0;  // members of the reported programs in this partition
  int64_t ledger_entries = 0;
};

struct ReportOptions {
  // The instant the activity and churn windows end at. Default: nullopt, the
  // latest effective time the stores have seen: the largest member clock
  // (MemberRecord.clock_ns) and tick time of the reported programs; the
  // epoch if the stores hold neither.
  std::optional<UnixNanos> as_of_ns;
  // Report only this program. Default: "" (every loaded program; members of
  // a program that is not loaded are an error).
  std::string program_id;
  // Called after each partition. Default: none.
  std::function<void(const ReportProgress&)> progress;
};

// Reads every partition store of `data_dir` (read-only) and computes the
// report of each program of `programs` (or of options.program_id only).
// Errors: NotFound for a missing data dir, a dir without partition stores or
// an unknown options.program_id; FailedPrecondition for members of a program
// that is not loaded; DataLoss for a member record that breaks its
// invariants (CheckMemberRecord of engine/apply/apply.h, run on every record
// reported; the message names the partition) or a ledger entry with a bad
// timestamp; OutOfRange if a sum overflows int64; store errors as the store
// returns them.
absl::StatusOr<KpiReport> BuildReport(const std::string& data_dir, const ProgramSet& programs,
                                      const ReportOptions& options);

// `numerator / denominator` with `decimals` digits after the point, truncated
// toward zero ("33.33", "-25.00"); "n/a" when the denominator is 0.
std::string FormatDecimal(int64_t numerator, int64_t denominator, int decimals);
// The ratio as a percentage with two decimals ("33.33"); "n/a" if undefined.
std::string FormatPercent(const Ratio& ratio);
// (promoters - detractors) * 100 / responses, two decimals; "n/a" without
// responses.
std::string FormatNps(const NpsFigures& nps);

// A readable table per program.
std::string FormatReportText(const KpiReport& report);
// One JSON object, keys in a fixed order (docs/report.md shows it).
std::string FormatReportJson(const KpiReport& report);
// A self-contained HTML page (inline SVG, no scripts, no external resources)
// with, per program, the tier distribution, the liability by expiry month and
// the points issued / redeemed / expired per month.
std::string FormatReportChartHtml(const KpiReport& report);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_REPORT_REPORT_H_
