#include "tests/testing/year_gen.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "tests/testing/rng.h"

namespace loyalty::testing {
namespace {

using loyalty::v1::Program;
using loyalty::v1::RandomReward;

// Adds `s` to `v` unless it is there already: keeps file order, which keeps
// the generator independent of any container's iteration order.
void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

// Monday = 1 ... Sunday = 7, as Promotion.DayOfWeek numbers them (absl's
// Weekday counts from monday = 0).
int IsoWeekday(absl::CivilDay day) { return static_cast<int>(absl::GetWeekday(day)) + 1; }

// Whether a purchase at `unix_seconds` falls in the promotion's window, as
// docs/semantics.md defines it (local weekday and minute of day, seconds
// dropped; a window with end <= start runs past midnight). The generator
// checks its own placements with it, so that its count is exact.
bool InWindow(const CompiledPromotion& p, const absl::TimeZone& tz, int64_t unix_seconds) {
  const int64_t ns = unix_seconds * 1'000'000'000;
  if (ns < p.valid_from_ns || ns >= p.valid_until_ns) return false;
  const absl::CivilSecond cs = tz.At(absl::FromUnixSeconds(unix_seconds)).cs;
  const absl::CivilDay day(cs);
  const int x = cs.hour() * 60 + cs.minute();
  auto listed = [&](absl::CivilDay d) {
    return p.day_mask == 0 || (p.day_mask & (1u << IsoWeekday(d))) != 0;
  };
  if (p.end_minute > p.start_minute) {
    return listed(day) && x >= p.start_minute && x < p.end_minute;
  }
  return (listed(day) && x >= p.start_minute) || (listed(day - 1) && x < p.end_minute);
}

struct Order {
  std::string member;
  std::string order_id;
  int64_t amount;
};

class YearGenerator {
 public:
  YearGenerator(const CompiledProgram& program, const YearOptions& o)
      : program_(program), p_(program.proto()), tz_(program.time_zone()), o_(o), rng_(o.seed) {
    // Categories the rules name, in file order, plus uncategorized items.
    for (const auto& c : p_.category_multipliers()) AddUnique(&categories_, c.category());
    for (const auto& c : p_.punch_cards()) AddUnique(&categories_, c.category());
    for (const auto& pr : p_.promotions()) {
      if (!pr.category().empty()) AddUnique(&categories_, pr.category());
    }
    for (const auto& r : p_.random_rewards()) {
      if (r.on() == RandomReward::PURCHASE && !r.category().empty()) {
        AddUnique(&categories_, r.category());
      }
    }
    AddUnique(&categories_, "misc");
    AddUnique(&categories_, "");
    // Actions: the rules', "nps" (kept for the report whether or not a rule
    // names it) and one no rule knows (IGNORED NO_RULE).
    for (const auto& r : p_.engagement_rules()) AddUnique(&actions_, r.action());
    AddUnique(&actions_, "nps");
    AddUnique(&actions_, "wave");
    for (const auto& r : p_.engagement_rules()) {
      if (r.max_per_local_day() > 0) AddUnique(&capped_actions_, r.action());
    }
    for (const auto& r : p_.rewards()) reward_ids_.push_back(r.reward_id());
    reward_ids_.push_back("no-such-reward");
    for (const auto& plan : p_.paid_plans()) plan_ids_.push_back(plan.plan_id());
    start_ = absl::ToUnixSeconds(absl::FromCivil(absl::CivilSecond(o.year, 1, 1, 0, 0, 0), tz_));
    end_ = absl::ToUnixSeconds(absl::FromCivil(absl::CivilSecond(o.year + 1, 1, 1, 0, 0, 0), tz_));
  }

  YearStream Run() {
    const int64_t steps = std::max<int64_t>(1, o_.events);
    const int64_t span = end_ - start_;
    const int64_t tick_every = o_.ticks > 0 ? std::max<int64_t>(1, steps / o_.ticks) : 0;
    for (int64_t i = 0; i < steps; ++i) {
      // Evenly spread over the year, jittered within each step's slot: the
      // times ascend and the last one stays inside the year.
      now_ = start_ + static_cast<int64_t>((static_cast<__int128>(span) * i) / steps) +
             rng_.Uniform(std::max<int64_t>(1, span / steps));
      if (tick_every > 0 && i > 0 && i % tick_every == 0) Tick(now_);
      if (!accepted_.empty() && rng_.Permille(o_.duplicate_permille)) {
        out_.lines.push_back(rng_.Pick(accepted_));
        out_.duplicate_lines++;
        continue;
      }
      if (rng_.Permille(o_.bad_permille)) {
        Bad();
        continue;
      }
      Good();
    }
    for (int m = 1; m <= o_.closing_months; ++m) {
      Tick(absl::ToUnixSeconds(absl::FromCivil(absl::CivilMonth(o_.year + 1, m), tz_)));
    }
    return std::move(out_);
  }

 private:
  std::string NextEventId() {
    return absl::StrCat(p_.program_id(), "-", o_.seed, "-", ++event_seq_);
  }
  std::string Member() {
    // Skewed: a quarter of the traffic goes to 1/50 of the members, who climb
    // to the top tiers; the others come a few times a year.
    int64_t m = rng_.Uniform(4) == 0 ? rng_.Uniform(std::max<int64_t>(1, o_.members / 50))
                                     : rng_.Uniform(o_.members);
    return absl::StrCat("m", m);
  }
  // Mostly now; sometimes a late event from up to two days before (never
  // before the year: the year's reports start with it).
  int64_t OccurredAt() {
    return rng_.Uniform(20) == 0 ? std::max(start_, now_ - rng_.Uniform(2 * 86400)) : now_;
  }

  std::string Head(const std::string& id, const std::string& member, int64_t at,
                   const std::string& program_id) {
    return absl::StrCat("{\"event_id\":\"", id, "\",\"program_id\":\"", program_id,
                        "\",\"member_id\":\"", member, "\",\"occurred_at\":\"", Rfc3339Utc(at),
                        "\"");
  }
  std::string Head(const std::string& id, const std::string& member, int64_t at) {
    return Head(id, member, at, p_.program_id());
  }

  void Accept(std::string line) {
    accepted_.push_back(line);
    out_.lines.push_back(std::move(line));
  }

  void Tick(int64_t at) {
    out_.lines.push_back(absl::StrCat("{\"event_id\":\"tick-", p_.program_id(), "-", at,
                                      "\",\"program_id\":\"", p_.program_id(),
                                      "\",\"occurred_at\":\"", Rfc3339Utc(at),
                                      "\",\"tick\":{\"now\":\"", Rfc3339Utc(at), "\"}}"));
    out_.ticks++;
  }

  // A time inside the latest window of promotion `promo` that opened in the
  // last week before now, or -1 if there is none (or the promotion is not
  // valid then).
  int64_t RecentWindowTime(const CompiledPromotion& promo) {
    const absl::CivilDay today(tz_.At(absl::FromUnixSeconds(now_)).cs);
    for (int back = 0; back <= 7; ++back) {
      const absl::CivilDay day = today - back;
      if (promo.day_mask != 0 && (promo.day_mask & (1u << IsoWeekday(day))) == 0) continue;
      const absl::CivilMinute open = absl::CivilMinute(day) + promo.start_minute;
      const absl::CivilMinute close = absl::CivilMinute(day) + promo.end_minute +
                                      (promo.end_minute > promo.start_minute ? 0 : 24 * 60);
      const int64_t from = absl::ToUnixSeconds(absl::FromCivil(open, tz_));
      const int64_t until = std::min(now_, absl::ToUnixSeconds(absl::FromCivil(close, tz_)));
      if (from >= until) continue;
      const int64_t at = from + rng_.Uniform(until - from);
      if (InWindow(promo, tz_, at)) return at;
    }
    return -1;
  }

  // One purchase line of `member`; `order_id` is new unless a DUPLICATE_ORDER
  // is wanted.
  std::string PurchaseLine(const std::string& id, const std::string& member,
                           const std::string& order_id, bool allow_extras, int64_t* amount_out) {
    int64_t at = OccurredAt();
    std::string must_category;
    bool placed = false;
    bool partner = false;
    if (allow_extras && !program_.promotions().empty() && rng_.Permille(o_.promotion_permille)) {
      const CompiledPromotion& promo = rng_.Pick(program_.promotions());
      int64_t in = RecentWindowTime(promo);
      if (in >= 0) {
        at = in;
        must_category = promo.proto->category();
        placed = true;
      }
    }
    if (allow_extras && !o_.partner_ids.empty() && rng_.Permille(o_.partner_permille)) {
      partner = true;
    }
    const int items = 1 + static_cast<int>(rng_.Uniform(5));
    std::string item_json;
    int64_t amount = 0;
    for (int k = 0; k < items; ++k) {
      const std::string& category =
          k == 0 && placed && !must_category.empty() ? must_category : rng_.Pick(categories_);
      const int64_t a = 50 + rng_.Uniform(std::max<int64_t>(1, o_.item_amount_max_minor));
      const int q = 1 + static_cast<int>(rng_.Uniform(3));
      amount += a;
      absl::StrAppend(&item_json, k ? "," : "", "{\"sku\":\"sku", rng_.Uniform(80),
                      "\",\"category\":\"", category, "\",\"quantity\":", q, ",\"amount_minor\":\"",
                      a, "\"}");
    }
    *amount_out = amount;
    std::string line =
        absl::StrCat(Head(id, member, at), ",\"purchase\":{\"order_id\":\"", order_id,
                     "\",\"amount_minor\":\"", amount, "\",\"currency\":\"", p_.currency(),
                     "\",\"items\":[", item_json, "],\"store_id\":\"s", rng_.Uniform(12), "\"");
    if (partner) {
      const std::string& pid = rng_.Pick(o_.partner_ids);
      absl::StrAppend(&line, ",\"partner_id\":\"", pid, "\"}");
      line.insert(line.find(",\"purchase\""), absl::StrCat(",\"source\":\"partner:", pid, "\""));
    } else {
      line += "}";
    }
    line += "}";
    if (allow_extras) {
      out_.purchases++;
      if (partner) out_.partner_purchases++;
      if (placed) out_.promotion_purchases++;
    }
    return line;
  }

  void Good() {
    const std::string member = Member();
    const std::string id = NextEventId();
    int64_t kind = rng_.Uniform(1000);
    if (kind < 600) {
      const std::string order_id = absl::StrCat("o", event_seq_);
      int64_t amount = 0;
      std::string line = PurchaseLine(id, member, order_id, /*allow_extras=*/true, &amount);
      orders_.push_back({member, order_id, amount});
      Accept(std::move(line));
    } else if (kind < 615 && !capped_actions_.empty()) {
      // A burst within a minute of a capped action: past its daily cap.
      const std::string& action = rng_.Pick(capped_actions_);
      for (int k = 0; k < 5; ++k) {
        Accept(absl::StrCat(Head(k == 0 ? id : NextEventId(), member, now_ + k),
                            ",\"engagement\":{\"action\":\"", action, "\",\"ref\":\"burst-",
                            event_seq_, "\"}}"));
      }
    } else if (kind < 800) {
      const std::string& action = rng_.Pick(actions_);
      // Refs repeat now and then (REF_ALREADY_USED), sometimes are empty.
      std::string ref = rng_.Uniform(12) == 0 ? "" : absl::StrCat("ref", rng_.Uniform(40));
      std::string body =
          absl::StrCat(",\"engagement\":{\"action\":\"", action, "\",\"ref\":\"", ref, "\"");
      if (action == "nps") absl::StrAppend(&body, ",\"score\":", rng_.Uniform(11));
      Accept(absl::StrCat(Head(id, member, OccurredAt()), body, "}}"));
    } else if (kind < 870) {
      if (rng_.Uniform(5) < 3) {
        Accept(absl::StrCat(Head(id, member, OccurredAt()), ",\"redemption\":{\"reward_id\":\"",
                            rng_.Pick(reward_ids_), "\"}}"));
      } else {
        Accept(absl::StrCat(Head(id, member, OccurredAt()), ",\"redemption\":{\"points\":\"",
                            1 + rng_.Uniform(400), "\"}}"));
      }
    } else if (kind < 930) {
      // Mostly an earlier order, fully or partly; sometimes an unknown one.
      if (orders_.empty() || rng_.Uniform(10) == 0) {
        Accept(absl::StrCat(Head(id, member, OccurredAt()), ",\"refund\":{\"order_id\":\"unknown-",
                            rng_.Uniform(100), "\",\"amount_minor\":\"100\"}}"));
        return;
      }
      const Order& o = rng_.Pick(orders_);
      int64_t amount = rng_.Uniform(3) == 0 ? o.amount : 1 + rng_.Uniform(o.amount);
      Accept(absl::StrCat(Head(id, o.member, OccurredAt()), ",\"refund\":{\"order_id\":\"",
                          o.order_id, "\",\"amount_minor\":\"", amount, "\"}}"));
    } else if (kind < 990 || plan_ids_.empty()) {
      int64_t points = rng_.Uniform(3) == 0
                           ? -(1 + rng_.Uniform(rng_.Uniform(10) == 0 ? 5000 : 300))
                           : 1 + rng_.Uniform(200);
      Accept(absl::StrCat(Head(id, member, OccurredAt()), ",\"adjustment\":{\"points\":\"", points,
                          "\",\"reason\":\"", points > 0 ? "goodwill" : "correction",
                          "\",\"operator_id\":\"op", rng_.Uniform(4), "\"}}"));
    } else {
      Accept(absl::StrCat(Head(id, member, OccurredAt()), ",\"membership\":{\"plan_id\":\"",
                          rng_.Pick(plan_ids_), "\"}}"));
    }
  }

  void Bad() {
    const std::string member = Member();
    const std::string id = NextEventId();
    const std::string head = Head(id, member, now_);
    std::string line;
    switch (rng_.Uniform(6)) {
      case 0:  // MALFORMED: cut short
        line = absl::StrCat(head, ",\"purchase\":{\"order_id\":");
        break;
      case 1:  // MISSING_FIELD: no member_id
        line = absl::StrCat("{\"event_id\":\"", id, "\",\"program_id\":\"", p_.program_id(),
                            "\",\"occurred_at\":\"", Rfc3339Utc(now_),
                            "\",\"engagement\":{\"action\":\"nps\",\"score\":3}}");
        break;
      case 2:  // UNKNOWN_PROGRAM
        line = absl::StrCat(Head(id, member, now_, "no-such-program"),
                            ",\"engagement\":{\"action\":\"nps\"}}");
        break;
      case 3:  // BAD_AMOUNT: items that do not sum to the amount
        line = absl::StrCat(head, ",\"purchase\":{\"order_id\":\"bad-", id,
                            "\",\"amount_minor\":\"1000\",\"currency\":\"", p_.currency(),
                            "\",\"items\":[{\"category\":\"misc\",\"quantity\":1,"
                            "\"amount_minor\":\"999\"}]}}");
        break;
      case 4:  // CURRENCY_MISMATCH
        line = absl::StrCat(head, ",\"purchase\":{\"order_id\":\"cur-", id,
                            "\",\"amount_minor\":\"100\",\"currency\":\"",
                            p_.currency() == "XTS" ? "XXX" : "XTS", "\"}}");
        break;
      default: {  // DUPLICATE_ORDER: an order id of the member under a new event
        if (orders_.empty()) return Bad();
        const Order& o = rng_.Pick(orders_);
        int64_t amount = 0;
        line = PurchaseLine(id, o.member, o.order_id, /*allow_extras=*/false, &amount);
        break;
      }
    }
    out_.bad_lines++;
    out_.lines.push_back(std::move(line));
  }

  const CompiledProgram& program_;
  const Program& p_;
  const absl::TimeZone tz_;
  YearOptions o_;
  Rng rng_;
  YearStream out_;
  int64_t start_ = 0;
  int64_t end_ = 0;
  int64_t now_ = 0;
  int64_t event_seq_ = 0;
  std::vector<std::string> categories_;
  std::vector<std::string> actions_;
  std::vector<std::string> capped_actions_;
  std::vector<std::string> reward_ids_;
  std::vector<std::string> plan_ids_;
  std::vector<std::string> accepted_;
  std::vector<Order> orders_;
};

}  // namespace

YearStream GenerateYear(const CompiledProgram& program, const YearOptions& options) {
  return YearGenerator(program, options).Run();
}

}  // namespace loyalty::testing
