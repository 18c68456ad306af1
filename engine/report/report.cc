#include "engine/report/report.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
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

  absl::Status AddMember(const MemberRecord& rec) {
    const MemberState& st = rec.state();
    latest_ns_ = std::max(latest_ns_, rec.clock_ns());
    Add(&out_.members, 1);
    if (st.purchase_count() >= 1) Add(&out_.members_with_purchase, 1);
    if (st.purchase_count() >= 2) Add(&out_.repeat_purchase.numerator, 1);
    if (st.has_last_purchase_at()) {
      auto last = TimestampToNanos(st.last_purchase_at());
      if (!last.ok()) {
        return absl::DataLossError(absl::StrCat(st.program_id(), "/", st.member_id(),
                                                ": last_purchase_at: ", last.status().message()));
      }
      purchase_dates_.push_back({*last, st.purchase_count() >= 1});
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
    return absl::OkStatus();
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

// --- Number formatting ------------------------------------------------------

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

// --- Text -------------------------------------------------------------------

// Columns aligned per `align`, one letter per column ('l' or 'r'); columns
// past its end are right-aligned.
std::string Table(const std::vector<std::vector<std::string>>& rows, const std::string& indent,
                  const std::string& align = "l") {
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

std::string RatioParts(const Ratio& r) {
  return absl::StrCat("(", r.numerator, " / ", r.denominator, ")");
}

std::string PercentCell(const Ratio& r) {
  const std::string p = FormatPercent(r);
  return p == "n/a" ? p : p + "%";
}

std::string TierLabel(const std::string& tier_id) { return tier_id.empty() ? "(none)" : tier_id; }

// "1 point = 2 minor units of EUR"
std::string PointValue(const ProgramReport& p) {
  return absl::StrCat("1 point = ", p.point_value_minor,
                      p.point_value_minor == 1 ? " minor unit of " : " minor units of ",
                      p.currency);
}

void AppendProgramText(const ProgramReport& p, std::string* out) {
  absl::StrAppend(out, "\n== ", p.program_id, " (", p.timezone, "; ", PointValue(p), ") ==\n");
  absl::StrAppend(
      out,
      Table(
          {
              {"Members", absl::StrCat(p.members), ""},
              {"  with a purchase", absl::StrCat(p.members_with_purchase), ""},
              {absl::StrCat("  active (a purchase in the last ", kActiveWindowDays, " days)"),
               absl::StrCat(p.active_members), ""},
              {"Repeat-purchase rate", PercentCell(p.repeat_purchase),
               RatioParts(p.repeat_purchase)},
              {absl::StrCat("Churn rate (no purchase in ", kChurnWindowDays, " days)"),
               PercentCell(p.churn), RatioParts(p.churn)},
              {absl::StrCat("Spend (minor units of ", p.currency, ")"), absl::StrCat(p.spend_minor),
               ""},
              {"  average per member (CLV proxy)",
               FormatDecimal(p.spend_per_member.numerator, p.spend_per_member.denominator, 2), ""},
              {"NPS", FormatNps(p.nps),
               absl::StrCat("(", p.nps.responses, " responses: ", p.nps.promoters, " promoters, ",
                            p.nps.passives, " passives, ", p.nps.detractors, " detractors)")},
          },
          "", "lrl"));

  absl::StrAppend(out, "\nTiers\n");
  if (p.tiers.empty()) {
    absl::StrAppend(out, "  (the program has no tiers)\n");
  } else {
    std::vector<std::vector<std::string>> rows = {{"tier", "members"}};
    for (const auto& t : p.tiers) rows.push_back({TierLabel(t.tier_id), absl::StrCat(t.members)});
    absl::StrAppend(out, Table(rows, "  "));
  }

  absl::StrAppend(out, "\nPoints\n");
  absl::StrAppend(out, Table(
                           {
                               {"issued", absl::StrCat(p.issued_points), ""},
                               {"redeemed", absl::StrCat(p.redeemed_points), ""},
                               {"expired", absl::StrCat(p.expired_points), ""},
                               {"clawed back", absl::StrCat(p.clawed_back_points), ""},
                               {"adjusted", absl::StrCat(p.adjusted_points), ""},
                               {"outstanding", absl::StrCat(p.outstanding_points), ""},
                               {"breakage rate", PercentCell(p.breakage), RatioParts(p.breakage)},
                           },
                           "  ", "lrl"));

  absl::StrAppend(out, "\nOutstanding liability by expiry month (", p.timezone, ")\n");
  {
    std::vector<std::vector<std::string>> rows = {
        {"expiry month", "points", absl::StrCat("value (minor ", p.currency, ")")}};
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

  absl::StrAppend(out, "\nPoints earned per partner (EARN entries)\n");
  {
    std::vector<std::vector<std::string>> rows = {
        {"partner", "earned", "purchases", "clawed back"}};
    for (const auto& x : p.partners) {
      rows.push_back({x.partner_id, absl::StrCat(x.earned_points), absl::StrCat(x.purchases),
                      absl::StrCat(x.clawed_back_points)});
    }
    rows.push_back({"(no partner)", absl::StrCat(p.no_partner.earned_points),
                    absl::StrCat(p.no_partner.purchases),
                    absl::StrCat(p.no_partner.clawed_back_points)});
    absl::StrAppend(out, Table(rows, "  "));
  }

  absl::StrAppend(out, "\nPoints per month (", p.timezone, ")\n");
  if (p.monthly.empty()) {
    absl::StrAppend(out, "  (no entries)\n");
  } else {
    std::vector<std::vector<std::string>> rows = {{"month", "issued", "redeemed", "expired"}};
    for (const auto& m : p.monthly) {
      rows.push_back({m.month, absl::StrCat(m.issued_points), absl::StrCat(m.redeemed_points),
                      absl::StrCat(m.expired_points)});
    }
    absl::StrAppend(out, Table(rows, "  "));
  }
}

// --- JSON -------------------------------------------------------------------

// Pretty-printed JSON, two spaces per level, keys in the order written.
class JsonWriter {
 public:
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(absl::string_view key) {
    Separate();
    absl::StrAppend(&out_, JsonString(key), ": ");
    after_key_ = true;
  }
  void String(absl::string_view v) { Value(JsonString(v)); }
  void Int(int64_t v) { Value(absl::StrCat(v)); }
  void Bool(bool v) { Value(v ? "true" : "false"); }
  // A decimal string, or null for "n/a".
  void Decimal(const std::string& v) { Value(v == "n/a" ? "null" : JsonString(v)); }
  // A key and its value, as Key() then the one-argument form.
  void String(absl::string_view key, absl::string_view v) {
    Key(key);
    String(v);
  }
  void Int(absl::string_view key, int64_t v) {
    Key(key);
    Int(v);
  }
  void Bool(absl::string_view key, bool v) {
    Key(key);
    Bool(v);
  }
  void Decimal(absl::string_view key, const std::string& v) {
    Key(key);
    Decimal(v);
  }
  std::string Take() { return std::move(out_) + "\n"; }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!counts_.empty()) {
      absl::StrAppend(&out_, counts_.back() > 0 ? ",\n" : "\n",
                      std::string(2 * counts_.size(), ' '));
      counts_.back()++;
    }
  }
  void Value(absl::string_view v) {
    Separate();
    absl::StrAppend(&out_, v);
  }
  void Open(char c) {
    Separate();
    out_.push_back(c);
    counts_.push_back(0);
  }
  void Close(char c) {
    const int n = counts_.back();
    counts_.pop_back();
    if (n > 0) absl::StrAppend(&out_, "\n", std::string(2 * counts_.size(), ' '));
    out_.push_back(c);
  }

  std::string out_;
  std::vector<int> counts_;  // values written per open container
  bool after_key_ = false;
};

void WriteRatio(JsonWriter& w, absl::string_view key, const Ratio& r) {
  w.Key(key);
  w.BeginObject();
  w.Int("numerator", r.numerator);
  w.Int("denominator", r.denominator);
  w.Decimal("percent", FormatPercent(r));
  w.EndObject();
}

void WritePartner(JsonWriter& w, const PartnerPoints& p) {
  w.BeginObject();
  w.String("partner_id", p.partner_id);
  w.Int("earned_points", p.earned_points);
  w.Int("purchases", p.purchases);
  w.Int("clawed_back_points", p.clawed_back_points);
  w.EndObject();
}

void WriteProgramJson(JsonWriter& w, const ProgramReport& p) {
  w.BeginObject();
  w.String("program_id", p.program_id);
  w.String("currency", p.currency);
  w.String("timezone", p.timezone);
  w.Int("point_value_minor", p.point_value_minor);
  w.Int("members", p.members);
  w.Int("members_with_purchase", p.members_with_purchase);
  w.Int("active_members", p.active_members);
  WriteRatio(w, "repeat_purchase_rate", p.repeat_purchase);
  WriteRatio(w, "churn_rate", p.churn);
  w.Int("spend_minor", p.spend_minor);
  w.Decimal("spend_per_member_minor",
            FormatDecimal(p.spend_per_member.numerator, p.spend_per_member.denominator, 2));
  w.Key("nps");
  w.BeginObject();
  w.Int("responses", p.nps.responses);
  w.Int("promoters", p.nps.promoters);
  w.Int("passives", p.nps.passives);
  w.Int("detractors", p.nps.detractors);
  w.Decimal("score", FormatNps(p.nps));
  w.EndObject();
  w.Key("tiers");
  w.BeginArray();
  for (const auto& t : p.tiers) {
    w.BeginObject();
    w.String("tier_id", t.tier_id);
    w.Int("members", t.members);
    w.EndObject();
  }
  w.EndArray();
  w.Key("points");
  w.BeginObject();
  w.Int("issued", p.issued_points);
  w.Int("redeemed", p.redeemed_points);
  w.Int("expired", p.expired_points);
  w.Int("clawed_back", p.clawed_back_points);
  w.Int("adjusted", p.adjusted_points);
  w.Int("outstanding", p.outstanding_points);
  w.EndObject();
  WriteRatio(w, "breakage_rate", p.breakage);
  w.Key("liability");
  w.BeginObject();
  w.Int("lot_points", p.lot_points);
  w.Int("debt_points", p.debt_points);
  w.Int("net_points", p.lot_points - p.debt_points);
  w.Key("net_value_minor");
  int64_t net_value = 0;
  if (__builtin_mul_overflow(p.lot_points - p.debt_points, p.point_value_minor, &net_value)) {
    w.Decimal("n/a");
  } else {
    w.Int(net_value);
  }
  w.Key("by_expiry_month");
  w.BeginArray();
  for (const auto& l : p.liability) {
    w.BeginObject();
    w.String("month", l.month);
    w.Int("points", l.points);
    w.Int("value_minor", l.value_minor);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Key("partners");
  w.BeginArray();
  for (const auto& x : p.partners) WritePartner(w, x);
  w.EndArray();
  w.Key("no_partner");
  WritePartner(w, p.no_partner);
  w.Key("monthly");
  w.BeginArray();
  for (const auto& m : p.monthly) {
    w.BeginObject();
    w.String("month", m.month);
    w.Int("issued", m.issued_points);
    w.Int("redeemed", m.redeemed_points);
    w.Int("expired", m.expired_points);
    w.EndObject();
  }
  w.EndArray();
  w.Int("ledger_entries", p.ledger_entries);
  w.EndObject();
}

// --- HTML and SVG -----------------------------------------------------------


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

absl::StatusOr<KpiReport> BuildReport(const std::string& data_dir, const ProgramSet& programs,
                                      const ReportOptions& options) {
  std::map<std::string, Accumulator> accumulators;
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
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ListPartitions(data_dir));
  if (partitions.empty()) {
    return absl::NotFoundError(absl::StrCat(data_dir, ": no partition stores (p-NNNN)"));
  }

  KpiReport report;
  report.partitions = static_cast<int64_t>(partitions.size());
  for (size_t i = 0; i < partitions.size(); ++i) {
    LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<PartitionStore> store,
                             OpenReadOnly(PartitionDir(data_dir, partitions[i])));
    for (auto& [id, acc] : accumulators) {
      LOYALTY_ASSIGN_OR_RETURN(std::optional<int64_t> tick, store->GetTickTime(ProgramId(id)));
      if (tick.has_value()) acc.SeeTick(*tick);
    }
    ReportProgress progress;
    progress.partition_path = store->path();
    progress.partitions_done = static_cast<int64_t>(i) + 1;
    progress.partitions_total = report.partitions;
    absl::Status scan = store->ForEachMember([&](const MemberRecord& rec) -> absl::Status {
      const MemberState& st = rec.state();
      auto it = accumulators.find(st.program_id());
      if (it == accumulators.end()) {
        if (!options.program_id.empty()) return absl::OkStatus();
        return absl::FailedPreconditionError(
            absl::StrCat(store->path(), ": members of program \"", st.program_id(),
                         "\", which is not among the loaded programs"));
      }
      progress.members++;
      return it->second.AddMember(rec);
    });
    LOYALTY_RETURN_IF_ERROR(scan);
    // The journal once: every member's entries in order.
    scan = store->ForEachEntry([&](const LedgerEntry& e) -> absl::Status {
      auto it = accumulators.find(e.program_id());
      if (it == accumulators.end()) return absl::OkStatus();  // checked with the members
      progress.ledger_entries++;
      return it->second.AddEntry(e);
    });
    LOYALTY_RETURN_IF_ERROR(scan);
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

std::string FormatDecimal(int64_t numerator, int64_t denominator, int decimals) {
  return FormatScaled(numerator, denominator, decimals);
}

std::string FormatPercent(const Ratio& ratio) {
  return FormatScaled(static_cast<i128>(ratio.numerator) * 100, ratio.denominator, 2);
}

std::string FormatNps(const NpsFigures& nps) {
  return FormatScaled(static_cast<i128>(nps.promoters - nps.detractors) * 100, nps.responses, 2);
}

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

std::string FormatReportJson(const KpiReport& report) {
  JsonWriter w;
  w.BeginObject();
  w.String("as_of", FormatRfc3339(report.as_of_ns));
  w.Bool("as_of_from_store", report.as_of_from_store);
  w.String("latest_effective_at", FormatRfc3339(report.latest_effective_ns));
  w.Int("active_window_days", kActiveWindowDays);
  w.Int("churn_window_days", kChurnWindowDays);
  w.Int("partitions", report.partitions);
  w.Key("programs");
  w.BeginArray();
  for (const auto& p : report.programs) WriteProgramJson(w, p);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

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
