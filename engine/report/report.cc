// File: engine/report/report.cc
// BuildReport: the figures. Every partition store is read once, members then
// journal, into one Accumulator per program. The renderings live beside
// this file: report_text.cc, report_json.cc and report_html.cc; the number
// formatting in format.cc.
#include "engine/report/report.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/apply/apply.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/store/store.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

using i128 = __int128;
using loyalty::v1::LedgerEntry;
using loyalty::v1::MemberRecord;
using loyalty::v1::MemberState;

// Key of lots that never expire in the liability map: after every month.
constexpr int64_t kNeverMonth = INT64_MAX;

std::string MonthLabel(int64_t yyyymm) {
  if (yyyymm == kNeverMonth) return "never";
  return absl::StrFormat("%04d-%02d", yyyymm / 100, yyyymm % 100);
}

int64_t NextMonth(int64_t yyyymm) {
  return yyyymm % 100 == 12 ? (yyyymm / 100 + 1) * 100 + 1 : yyyymm + 1;
}

// The figures of one program while the stores are read.
class Accumulator {
 public:
  explicit Accumulator(const CompiledProgram* program) : program_(program) {
    const auto& p = program->proto();
    out_.program_id = p.program_id();
    out_.currency = p.currency();
    out_.timezone = p.timezone().empty() ? "UTC" : p.timezone();
    out_.point_value_minor = p.point_value_minor();
  }

  UnixNanos latest_ns() const { return latest_ns_; }
  void SeeTick(UnixNanos tick_ns) { latest_ns_ = std::max(latest_ns_, tick_ns); }

  // REQUIRES: CheckMemberRecord(rec) is OK (its timestamps are valid).
  void AddMember(const MemberRecord& rec) {
    const MemberState& st = rec.state();
    latest_ns_ = std::max(latest_ns_, rec.clock_ns());
    Add(&out_.members, 1);
    if (st.purchase_count() >= 1) Add(&out_.members_with_purchase, 1);
    if (st.purchase_count() >= 2) Add(&out_.repeat_purchase.numerator, 1);
    if (st.has_last_purchase_at()) {
      purchase_dates_.push_back(
          {CheckedNanos(st.last_purchase_at(), "last_purchase_at"), st.purchase_count() >= 1});
    }
    Add(&out_.spend_minor, st.spend_minor());
    if (st.has_last_nps_score()) {
      Add(&out_.nps.responses, 1);
      const int32_t score = st.last_nps_score();
      Add(score >= 9 ? &out_.nps.promoters
                     : (score >= 7 ? &out_.nps.passives : &out_.nps.detractors),
          1);
    }
    Add(&tier_members_[st.tier_id()], 1);
    Add(&out_.issued_points, st.lifetime_earned_points());
    Add(&out_.redeemed_points, st.redeemed_points());
    Add(&out_.expired_points, st.expired_points());
    Add(&out_.clawed_back_points, st.clawed_back_points());
    Add(&out_.adjusted_points, st.adjusted_points());
    Add(&out_.outstanding_points, st.available_points());
    Add(&out_.outstanding_points, st.pending_points());
    Add(&out_.debt_points, st.debt_points());
    for (const auto& lot : rec.lots()) {
      if (lot.remaining_points() == 0) continue;
      const int64_t month = lot.expires_at_ns() == 0
                                ? kNeverMonth
                                : LocalMonthKey(lot.expires_at_ns(), program_->time_zone());
      Add(&liability_points_[month], lot.remaining_points());
      Add(&out_.lot_points, lot.remaining_points());
    }
    // Pending lots are liability by their expiry too.
    for (const auto& lot : rec.pending_lots()) {
      const int64_t month = lot.expires_at_ns() == 0
                                ? kNeverMonth
                                : LocalMonthKey(lot.expires_at_ns(), program_->time_zone());
      Add(&liability_points_[month], lot.remaining_points());
      Add(&out_.lot_points, lot.remaining_points());
    }
  }

  // Every ledger entry of the program, each member's in sequence order (the
  // journal's order).
  absl::Status AddEntry(const LedgerEntry& e) {
    Add(&out_.ledger_entries, 1);
    switch (e.type()) {
      case LedgerEntry::EARN: {
        PartnerPoints& p = Partner(e.partner_id());
        Add(&p.earned_points, e.points());
        Add(&p.purchases, 1);
        // Only partner orders are remembered: a clawback of any other order
        // is a direct one.
        if (!e.order_id().empty() && !e.partner_id().empty()) {
          order_partner_[OrderKey(e)] = e.partner_id();
        }
        LOYALTY_ASSIGN_OR_RETURN(MonthPoints * m, Month(e));
        Add(&m->issued_points, e.points());
        break;
      }
      case LedgerEntry::ENGAGE:
      case LedgerEntry::BONUS: {
        LOYALTY_ASSIGN_OR_RETURN(MonthPoints * m, Month(e));
        Add(&m->issued_points, e.points());
        break;
      }
      case LedgerEntry::REDEEM: {
        LOYALTY_ASSIGN_OR_RETURN(MonthPoints * m, Month(e));
        Add(&m->redeemed_points, Neg(e.points()));
        break;
      }
      case LedgerEntry::EXPIRE: {
        LOYALTY_ASSIGN_OR_RETURN(MonthPoints * m, Month(e));
        Add(&m->expired_points, Neg(e.points()));
        break;
      }
      case LedgerEntry::CLAWBACK: {
        // A clawback follows the EARN of its order in the member's ledger.
        auto it = order_partner_.find(OrderKey(e));
        PartnerPoints& p = Partner(it == order_partner_.end() ? std::string() : it->second);
        Add(&p.clawed_back_points, Neg(e.points()));
        break;
      }
      case LedgerEntry::RELEASE:  // moves no points between the figures
      case LedgerEntry::ADJUST:   // operator adjustments are not issued points
        break;
      case LedgerEntry::TYPE_UNSPECIFIED:  // `loyaltyctl verify` reports these
      case loyalty::v1::LedgerEntry_Type_LedgerEntry_Type_INT_MIN_SENTINEL_DO_NOT_USE_:
      case loyalty::v1::LedgerEntry_Type_LedgerEntry_Type_INT_MAX_SENTINEL_DO_NOT_USE_:
        break;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ProgramReport> Finish(UnixNanos as_of_ns) {
    const i128 active_after = static_cast<i128>(as_of_ns) - kActiveWindowDays * kNanosPerDay;
    const i128 churned_through = static_cast<i128>(as_of_ns) - kChurnWindowDays * kNanosPerDay;
    for (const auto& [last_ns, counted] : purchase_dates_) {
      if (last_ns > active_after) Add(&out_.active_members, 1);
      if (counted && last_ns <= churned_through) Add(&out_.churn.numerator, 1);
    }
    out_.repeat_purchase.denominator = out_.members_with_purchase;
    out_.churn.denominator = out_.members_with_purchase;
    out_.spend_per_member = {out_.spend_minor, out_.members};
    out_.breakage = {out_.expired_points, out_.issued_points};

    const auto& tiers = program_->proto().tiers();
    for (const auto& tier : tiers) {
      auto it = tier_members_.find(tier.tier_id());
      out_.tiers.push_back({tier.tier_id(), it == tier_members_.end() ? 0 : it->second});
      if (it != tier_members_.end()) tier_members_.erase(it);
    }
    for (const auto& [tier_id, members] : tier_members_) {
      if (tier_id.empty() && tiers.empty()) continue;  // a program without tiers
      out_.tiers.push_back({tier_id, members});
    }

    for (const auto& [month, points] : liability_points_) {
      LiabilityMonth row{MonthLabel(month), points, 0};
      if (__builtin_mul_overflow(points, out_.point_value_minor, &row.value_minor)) {
        overflow_ = true;
      }
      out_.liability.push_back(std::move(row));
    }
    for (auto& [partner_id, points] : partners_) out_.partners.push_back(std::move(points));

    if (!months_.empty()) {
      const int64_t last = months_.rbegin()->first;
      for (int64_t m = months_.begin()->first; m <= last; m = NextMonth(m)) {
        auto it = months_.find(m);
        out_.monthly.push_back(it != months_.end() ? it->second : MonthPoints{MonthLabel(m)});
      }
    }
    if (overflow_) {
      return absl::OutOfRangeError(
          absl::StrCat("program \"", out_.program_id, "\": a sum overflows int64"));
    }
    return std::move(out_);
  }

 private:
  void Add(int64_t* sum, int64_t v) {
    if (__builtin_add_overflow(*sum, v, sum)) overflow_ = true;
  }
  int64_t Neg(int64_t v) {
    if (v == INT64_MIN) {
      overflow_ = true;
      return 0;
    }
    return -v;
  }

  PartnerPoints& Partner(const std::string& partner_id) {
    if (partner_id.empty()) return out_.no_partner;
    PartnerPoints& p = partners_[partner_id];
    p.partner_id = partner_id;
    return p;
  }

  absl::StatusOr<MonthPoints*> Month(const LedgerEntry& e) {
    auto t = TimestampToNanos(e.effective_at());
    if (!t.ok()) {
      return absl::DataLossError(absl::StrCat(e.program_id(), "/", e.member_id(), ": entry ",
                                              e.seq(), ": effective_at: ", t.status().message()));
    }
    const int64_t month = LocalMonthKey(*t, program_->time_zone());
    MonthPoints& m = months_[month];
    if (m.month.empty()) m.month = MonthLabel(month);
    return &m;
  }

  struct PurchaseDate {
    UnixNanos last_ns;
    bool counted;  // purchase_count >= 1
  };

  const CompiledProgram* program_;
  ProgramReport out_;
  bool overflow_ = false;
  UnixNanos latest_ns_ = 0;
  // Members with a last_purchase_at; the windows need as_of, known at the end.
  std::vector<PurchaseDate> purchase_dates_;
  std::map<std::string, int64_t> tier_members_;
  std::map<int64_t, int64_t> liability_points_;  // local yyyymm (kNeverMonth) -> points
  std::map<std::string, PartnerPoints> partners_;
  std::map<int64_t, MonthPoints> months_;  // local yyyymm
  // member \0 order_id -> partner_id of EARN entries at a partner.
  std::map<std::string, std::string> order_partner_;

  static std::string OrderKey(const LedgerEntry& e) {
    return absl::StrCat(e.member_id(), absl::string_view("\0", 1), e.order_id());
  }
};

// One partition at a time, each with a small cache of its own: the report
// reads every member once.
absl::StatusOr<std::unique_ptr<PartitionStore>> OpenReadOnly(const std::string& path) {
  return OpenPartitionReadOnly(path, StoreResources::Create(8 << 20, 64 << 20));
}

using Accumulators = std::map<std::string, Accumulator>;

// One accumulator per reported program: options.program_id's, or every
// loaded program's.
absl::StatusOr<Accumulators> MakeAccumulators(const ProgramSet& programs,
                                              const ReportOptions& options) {
  Accumulators accumulators;
  if (!options.program_id.empty()) {
    const CompiledProgram* program = programs.Find(options.program_id);
    if (program == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("program \"", options.program_id, "\" is not among the loaded programs"));
    }
    accumulators.emplace(options.program_id, Accumulator(program));
  } else {
    for (const std::string& id : programs.ids()) {
      accumulators.emplace(id, Accumulator(programs.Find(id)));
    }
  }
  return accumulators;
}

// Adds one partition's tick times, members and ledger entries to the
// accumulators, and counts them in *progress. `one_program`: members of
// programs without an accumulator are skipped rather than an error. Each
// member record added is checked first (CheckMemberRecord): DataLoss,
// naming the partition, for one that breaks its invariants.
absl::Status ReadPartition(PartitionStore* store, bool one_program, Accumulators* accumulators,
                           ReportProgress* progress) {
  for (auto& [id, acc] : *accumulators) {
    LOYALTY_ASSIGN_OR_RETURN(std::optional<int64_t> tick, store->GetTickTime(ProgramId(id)));
    if (tick.has_value()) acc.SeeTick(*tick);
  }
  absl::Status scan = store->ForEachMember([&](const MemberRecord& rec) -> absl::Status {
    const MemberState& st = rec.state();
    auto it = accumulators->find(st.program_id());
    if (it == accumulators->end()) {
      if (one_program) return absl::OkStatus();
      return absl::FailedPreconditionError(
          absl::StrCat(store->path(), ": members of program \"", st.program_id(),
                       "\", which is not among the loaded programs"));
    }
    // Checked after it is read, as the partition does before applying and
    // `verify` on every record: no figure comes from a broken record.
    LOYALTY_RETURN_IF_ERROR(CheckStoredMember(*store, rec));
    progress->members++;
    it->second.AddMember(rec);
    return absl::OkStatus();
  });
  LOYALTY_RETURN_IF_ERROR(scan);
  // The journal once: every member's entries in order.
  return store->ForEachEntry([&](const LedgerEntry& e) -> absl::Status {
    auto it = accumulators->find(e.program_id());
    if (it == accumulators->end()) return absl::OkStatus();  // checked with the members
    progress->ledger_entries++;
    return it->second.AddEntry(e);
  });
}

}  // namespace

absl::StatusOr<KpiReport> BuildReport(const std::string& data_dir, const ProgramSet& programs,
                                      const ReportOptions& options) {
  LOYALTY_ASSIGN_OR_RETURN(Accumulators accumulators, MakeAccumulators(programs, options));
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ListPartitions(data_dir));
  if (partitions.empty()) {
    return absl::NotFoundError(absl::StrCat(data_dir, ": no partition stores (p-NNNN)"));
  }

  KpiReport report;
  report.partitions = static_cast<int64_t>(partitions.size());
  for (size_t i = 0; i < partitions.size(); ++i) {
    LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<PartitionStore> store,
                             OpenReadOnly(PartitionDir(data_dir, partitions[i])));
    ReportProgress progress;
    progress.partition_path = store->path();
    progress.partitions_done = static_cast<int64_t>(i) + 1;
    progress.partitions_total = report.partitions;
    LOYALTY_RETURN_IF_ERROR(
        ReadPartition(store.get(), !options.program_id.empty(), &accumulators, &progress));
    if (options.progress) options.progress(progress);
  }

  for (const auto& [id, acc] : accumulators) {
    report.latest_effective_ns = std::max(report.latest_effective_ns, acc.latest_ns());
  }
  report.as_of_from_store = !options.as_of_ns.has_value();
  report.as_of_ns = options.as_of_ns.value_or(report.latest_effective_ns);
  for (auto& [id, acc] : accumulators) {
    LOYALTY_ASSIGN_OR_RETURN(ProgramReport program, acc.Finish(report.as_of_ns));
    report.programs.push_back(std::move(program));
  }
  return report;
}

}  // namespace loyalty
