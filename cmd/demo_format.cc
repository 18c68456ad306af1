#include "cmd/demo_format.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace loyalty::demo_internal {

// 12345 -> "12,345".
std::string Num(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

// 152030, "EUR" -> "1,520.30 EUR".
std::string Money(int64_t minor, const std::string& currency) {
  return absl::StrFormat("%s%s.%02d %s", minor < 0 ? "-" : "", Num(std::abs(minor / 100)),
                         static_cast<int>(std::abs(minor % 100)), currency);
}

// {"a": 2, "b": 1} -> "a 2, b 1" (largest first, then by name).
std::string Tally(const std::map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> parts;
  for (const auto& [name, n] : v) parts.push_back(absl::StrCat(name, " ", Num(n)));
  return parts.empty() ? "none" : absl::StrJoin(parts, ", ");
}

// Prints `label` and then `text`, wrapped at 80 columns with the following
// lines indented to where the text began.
void Print(FILE* out, const std::string& label, const std::string& text) {
  constexpr size_t kWidth = 80;
  const std::string indent(label.size(), ' ');
  std::string line = label;
  bool empty = true;  // nothing of `text` on this line yet
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!empty && line.size() + 1 + word.size() > kWidth) {
      absl::FPrintF(out, "%s\n", line);
      line = indent;
      empty = true;
    }
    absl::StrAppend(&line, empty ? "" : " ", word);
    empty = false;
  }
  absl::FPrintF(out, "%s\n", line);
}

std::string Describe(const loyalty::v1::Program& p) {
  std::vector<std::string> parts;
  if (p.has_earn()) {
    parts.push_back(
        p.earn().per_minor() == 100
            ? absl::StrCat(p.earn().points(), " point per ",
                           p.currency() == "EUR" ? "euro" : "unit")
            : absl::StrCat(p.earn().points(), " points per ", p.earn().per_minor(), " minor"));
  }
  for (const auto& m : p.category_multipliers()) {
    if (m.multiplier_bp() == 0) {
      parts.push_back(absl::StrCat(m.category(), " earns nothing"));
    } else {
      parts.push_back(absl::StrFormat("%s x%g", m.category(), m.multiplier_bp() / 10000.0));
    }
  }
  for (const auto& c : p.punch_cards()) {
    parts.push_back(
        absl::StrCat(c.category(), " card: ", c.reward_id(), " every ", c.stamps_required()));
  }
  if (p.tiers_size() > 1) {
    std::vector<std::string> tiers;
    for (const auto& t : p.tiers()) tiers.push_back(t.tier_id());
    parts.push_back(absl::StrCat("tiers ", absl::StrJoin(tiers, "/")));
  }
  for (const auto& promo : p.promotions()) parts.push_back(promo.promotion_id());
  for (const auto& r : p.random_rewards()) parts.push_back(absl::StrCat(r.rule_id(), " rewards"));
  return absl::StrJoin(parts, ", ");
}

}  // namespace loyalty::demo_internal
