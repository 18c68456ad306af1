// File: engine/report/report_json.cc
// FormatReportJson: the report as one pretty-printed JSON object, keys in
// the fixed order docs/report.md shows.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/base/text.h"
#include "engine/report/report.h"

namespace loyalty {
namespace {

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

// "nps" and "tiers".
void WriteNpsAndTiers(JsonWriter& w, const ProgramReport& p) {
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
}

// "points" and "breakage_rate".
void WritePoints(JsonWriter& w, const ProgramReport& p) {
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
}

void WriteLiability(JsonWriter& w, const ProgramReport& p) {
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
}

// "partners", "no_partner" and "monthly".
void WritePartnersAndMonths(JsonWriter& w, const ProgramReport& p) {
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
  WriteNpsAndTiers(w, p);
  WritePoints(w, p);
  WriteLiability(w, p);
  WritePartnersAndMonths(w, p);
  w.Int("ledger_entries", p.ledger_entries);
  w.EndObject();
}

}  // namespace

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

}  // namespace loyalty
