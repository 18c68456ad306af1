#include "tests/testing/event_gen.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/testing/rng.h"

namespace loyalty::testing {
namespace {

// Instants next to the edges of the test programs' promotions (windows past
// midnight, DST nights, valid_from/valid_until): when the stream's clock
// passes one, a purchase that occurred exactly then is added, so that a
// model test checks each edge whatever the seed.
struct Probe {
  const char* program;
  const char* at;  // RFC 3339
};
constexpr Probe kProbes[] = {
    // cafe "wednesday-night": Wed 21:00–24:00 Paris (CET).
    {"cafe", "2024-01-03T19:59:59Z"},
    {"cafe", "2024-01-03T20:00:00Z"},
    {"cafe", "2024-01-03T22:59:59Z"},
    {"cafe", "2024-01-03T23:00:00Z"},
    // cafe "spring-food": [2024-03-01 00:00 CET, 2024-04-15 00:00 CEST).
    {"cafe", "2024-02-29T22:59:59Z"},
    {"cafe", "2024-02-29T23:00:00Z"},
    // cafe "late-owl": Fri/Sat 23:00–03:00 Paris, over the spring DST
    // night (02:00–03:00 does not exist on 2024-03-31).
    {"cafe", "2024-03-30T21:59:59Z"},
    {"cafe", "2024-03-30T22:00:00Z"},
    {"cafe", "2024-03-31T00:59:59Z"},
    {"cafe", "2024-03-31T01:00:00Z"},
    {"cafe", "2024-04-14T21:59:59Z"},
    {"cafe", "2024-04-14T22:00:00Z"},
    // ... and the autumn one (02:00–03:00 happens twice on 2024-10-27).
    {"cafe", "2024-10-26T20:59:59Z"},
    {"cafe", "2024-10-26T21:00:00Z"},
    {"cafe", "2024-10-27T00:30:00Z"},
    {"cafe", "2024-10-27T01:30:00Z"},
    {"cafe", "2024-10-27T01:59:59Z"},
    {"cafe", "2024-10-27T02:00:00Z"},
    // shop "happy-hour" 17:00–19:00 New York on its DST day.
    {"shop", "2024-03-10T20:59:59Z"},
    {"shop", "2024-03-10T21:00:00Z"},
    {"shop", "2024-03-10T22:59:59Z"},
    {"shop", "2024-03-10T23:00:00Z"},
    // shop "black-friday": [2024-11-29 00:00 EST, 2024-11-30 00:00 EST).
    {"shop", "2024-11-29T04:59:59Z"},
    {"shop", "2024-11-29T05:00:00Z"},
    {"shop", "2024-11-30T04:59:59Z"},
    {"shop", "2024-11-30T05:00:00Z"},
    // cafe "late-owl" on the 2025 spring DST night.
    {"cafe", "2025-03-29T22:00:00Z"},
    {"cafe", "2025-03-30T00:59:59Z"},
    {"cafe", "2025-03-30T01:00:00Z"},
};

int64_t ParseSeconds(const char* rfc3339) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) {
    std::fprintf(stderr, "bad probe time %s: %s\n", rfc3339, error.c_str());
    std::abort();
  }
  return absl::ToUnixSeconds(t);
}

struct Order {
  std::string program;
  std::string member;
  std::string order_id;
  int64_t amount;
};

class Generator {
 public:
  explicit Generator(const GeneratorOptions& o) : o_(o), rng_(o.seed) {}

  GeneratedStream Run() {
    for (int64_t i = 0; i < o_.events; ++i) {
      now_ += 1 + rng_.Uniform(2 * o_.mean_gap_s);
      while (!o_.purchases_only && next_probe_ < std::size(kProbes) &&
             ParseSeconds(kProbes[next_probe_].at) <= now_) {
        ProbePurchase(kProbes[next_probe_++]);
      }
      if (o_.tick_every > 0 && i > 0 && i % o_.tick_every == 0) {
        Tick();
        continue;
      }
      if (!accepted_.empty() && rng_.Permille(o_.duplicate_permille)) {
        out_.lines.push_back(accepted_[rng_.Uniform(static_cast<int64_t>(accepted_.size()))]);
        out_.duplicate_lines++;
        continue;
      }
      if (rng_.Permille(o_.bad_permille)) {
        Bad();
        continue;
      }
      Good();
    }
    return std::move(out_);
  }

 private:
  std::string NextEventId() { return absl::StrCat("ev-", o_.seed, "-", ++event_seq_); }
  std::string Program() { return o_.two_programs && rng_.Uniform(4) == 0 ? "shop" : "cafe"; }
  std::string Currency(const std::string& program) { return program == "cafe" ? "EUR" : "USD"; }
  std::string Member() {
    // Skewed: a quarter of the traffic goes to 1/20 of the members. That hot
    // set moves every 60 days, so that members qualify for tiers and later
    // fall back at a grace review.
    const int64_t hot = std::max<int64_t>(1, o_.members / 20);
    const int64_t period = (now_ - kStart) / (60 * 86400);
    int64_t m = rng_.Uniform(4) == 0 ? (period * hot + rng_.Uniform(hot)) % o_.members
                                     : rng_.Uniform(o_.members);
    return absl::StrCat("m", m);
  }
  // Mostly now; sometimes a late event from up to two days before.
  int64_t OccurredAt() { return rng_.Uniform(20) == 0 ? now_ - rng_.Uniform(2 * 86400) : now_; }

  std::string Head(const std::string& id, const std::string& program, const std::string& member,
                   int64_t at) {
    return absl::StrCat("{\"event_id\":\"", id, "\",\"program_id\":\"", program,
                        "\",\"member_id\":\"", member, "\",\"occurred_at\":\"", Rfc3339Utc(at),
                        "\"");
  }

  // `category`: if not empty, the first item is of it (bursts and probes).
  std::string PurchaseBody(const std::string& program, const std::string& order_id,
                           int64_t* amount_out, const std::string& category = "") {
    static const char* kCategories[] = {"coffee", "food", "gift_card", "merch", ""};
    int items = static_cast<int>(rng_.Uniform(4));  // 0 = no items
    if (!category.empty()) items = std::max(items, 1);
    std::string item_json;
    int64_t amount = 0;
    for (int k = 0; k < items; ++k) {
      int64_t a = 50 + rng_.Uniform(3000);
      int q = 1 + static_cast<int>(rng_.Uniform(3));
      const std::string item_category =
          k == 0 && !category.empty() ? category : kCategories[rng_.Uniform(5)];
      amount += a;
      absl::StrAppend(&item_json, k ? "," : "", "{\"sku\":\"sku", rng_.Uniform(50),
                      "\",\"category\":\"", item_category, "\",\"quantity\":", q,
                      ",\"amount_minor\":\"", a, "\"}");
    }
    if (items == 0) amount = 100 + rng_.Uniform(20000);
    *amount_out = amount;
    std::string body =
        absl::StrCat(",\"purchase\":{\"order_id\":\"", order_id, "\",\"amount_minor\":\"", amount,
                     "\",\"currency\":\"", Currency(program), "\"");
    if (items > 0) absl::StrAppend(&body, ",\"items\":[", item_json, "]");
    absl::StrAppend(&body, ",\"store_id\":\"s", rng_.Uniform(5), "\"");
    // Some purchases are made at a partner (points issued per partner).
    if (rng_.Uniform(8) == 0) {
      absl::StrAppend(&body, ",\"partner_id\":\"", rng_.Uniform(2) == 0 ? "acme" : "globex", "\"");
    }
    return body + "}";
  }

  void Accept(std::string line) {
    accepted_.push_back(line);
    last_by_id_.push_back(line);
    out_.lines.push_back(std::move(line));
  }

  void Tick() {
    for (const char* program : {"cafe", "shop"}) {
      if (!o_.two_programs && std::string(program) == "shop") continue;
      Accept(absl::StrCat("{\"event_id\":\"tick-", now_, "-", program, "\",\"program_id\":\"",
                          program, "\",\"occurred_at\":\"", Rfc3339Utc(now_),
                          "\",\"tick\":{\"now\":\"", Rfc3339Utc(now_), "\"}}"));
    }
  }

  // A purchase that occurred at the probe's instant (a late event when the
  // stream's clock is past it), with an item of the category the program's
  // promotions and punch cards look at.
  void ProbePurchase(const Probe& probe) {
    const std::string program = probe.program;
    if (program == "shop" && !o_.two_programs) return;
    const std::string member = Member();
    const std::string id = NextEventId();
    const std::string order_id = absl::StrCat("o", event_seq_);
    int64_t amount = 0;
    std::string body =
        PurchaseBody(program, order_id, &amount, program == "cafe" ? "coffee" : "merch");
    orders_.push_back({program, member, order_id, amount});
    Accept(absl::StrCat(Head(id, program, member, ParseSeconds(probe.at)), body, "}"));
  }

  // Long on purpose: one good event per kind, as a list.
  void Good() {
    const std::string program = Program();
    const std::string member = Member();
    const std::string id = NextEventId();
    const std::string head = Head(id, program, member, OccurredAt());
    int64_t kind = o_.purchases_only ? 0 : rng_.Uniform(100);
    if (kind < 55 && !o_.purchases_only && rng_.Uniform(50) == 0) {
      // A burst of purchases within minutes, each with an item of the
      // category of the program's punch card and random rewards: cards fill,
      // daily caps of random rewards are reached.
      for (int k = 0; k < 5; ++k) {
        const std::string burst_id = k == 0 ? id : NextEventId();
        std::string order_id = absl::StrCat("o", event_seq_);
        int64_t amount = 0;
        std::string body =
            PurchaseBody(program, order_id, &amount, program == "cafe" ? "coffee" : "merch");
        orders_.push_back({program, member, order_id, amount});
        Accept(absl::StrCat(Head(burst_id, program, member, now_ + 60 * k), body, "}"));
      }
    } else if (kind < 55) {
      std::string order_id = absl::StrCat("o", event_seq_);
      int64_t amount = 0;
      std::string body = PurchaseBody(program, order_id, &amount);
      orders_.push_back({program, member, order_id, amount});
      Accept(absl::StrCat(head, body, "}"));
    } else if (kind < 72 && rng_.Uniform(40) == 0) {
      // A burst of likes within a minute: past any daily cap, however
      // sparse the stream is.
      for (int k = 0; k < 7; ++k) {
        Accept(absl::StrCat(Head(k == 0 ? id : NextEventId(), program, member, now_ + k),
                            ",\"engagement\":{\"action\":\"like\",\"ref\":\"burst\"}}"));
      }
    } else if (kind < 72) {
      static const char* kActions[] = {"review", "like", "like", "share", "nps"};
      const char* action = kActions[rng_.Uniform(5)];
      std::string ref = rng_.Uniform(10) == 0 ? "" : absl::StrCat("ref", rng_.Uniform(30));
      Accept(absl::StrCat(head, ",\"engagement\":{\"action\":\"", action, "\",\"ref\":\"", ref,
                          "\",\"score\":", rng_.Uniform(11), "}}"));
    } else if (kind < 80) {
      if (rng_.Uniform(2) == 0) {
        static const char* kRewards[] = {"free-coffee", "lounge", "ten-off", "nope", "gift"};
        Accept(absl::StrCat(head, ",\"redemption\":{\"reward_id\":\"", kRewards[rng_.Uniform(5)],
                            "\"}}"));
      } else {
        Accept(absl::StrCat(head, ",\"redemption\":{\"points\":\"", 1 + rng_.Uniform(60), "\"}}"));
      }
    } else if (kind < 88) {
      // Mostly a known order of this member, partly or fully; else unknown.
      std::string order_id = absl::StrCat("unknown-", rng_.Uniform(100));
      std::string who = member;
      std::string prog = program;
      int64_t amount = 100 + rng_.Uniform(1000);
      if (!orders_.empty() && rng_.Uniform(5) != 0) {
        const Order& o = orders_[rng_.Uniform(static_cast<int64_t>(orders_.size()))];
        order_id = o.order_id;
        who = o.member;
        prog = o.program;
        amount = rng_.Uniform(3) == 0 ? o.amount : 1 + rng_.Uniform(o.amount);
      }
      Accept(absl::StrCat(Head(id, prog, who, OccurredAt()), ",\"refund\":{\"order_id\":\"",
                          order_id, "\",\"amount_minor\":\"", amount, "\"}}"));
    } else if (kind < 99) {
      int64_t points = rng_.Uniform(3) == 0
                           ? -(1 + rng_.Uniform(rng_.Uniform(10) == 0 ? 3000 : 200))
                           : 1 + rng_.Uniform(100);
      Accept(absl::StrCat(head, ",\"adjustment\":{\"points\":\"", points,
                          "\",\"reason\":\"goodwill\",\"operator_id\":\"op", rng_.Uniform(3),
                          "\"}}"));
    } else {
      // Mostly short plans, so that plans end within the stream.
      const char* plan = program == "shop" ? "plus" : rng_.Uniform(8) == 0 ? "vip" : "trial";
      Accept(absl::StrCat(head, ",\"membership\":{\"plan_id\":\"", plan, "\"}}"));
    }
  }

  // Long on purpose: one bad line per DLQ reason and field, as a list.
  void Bad() {
    const std::string program = Program();
    const std::string member = Member();
    const std::string id = NextEventId();
    const std::string head = Head(id, program, member, now_);
    int64_t amount = 0;
    std::string reason;
    std::string line;
    switch (rng_.Uniform(11)) {
      case 0:
        reason = "MALFORMED";
        line = absl::StrCat(head, ",\"purchase\":{\"order_id\":");  // cut short
        break;
      case 1:
        reason = "MISSING_FIELD";
        line = absl::StrCat("{\"event_id\":\"", id, "\",\"program_id\":\"", program,
                            "\",\"occurred_at\":\"", Rfc3339Utc(now_),
                            "\",\"engagement\":{\"action\":\"like\"}}");
        break;
      case 2:
        reason = "BAD_ID";
        line = absl::StrCat(Head(id, program, "bad\\u0001member", now_),
                            ",\"engagement\":{\"action\":\"like\"}}");
        break;
      case 3:
        reason = "UNKNOWN_PROGRAM";
        line =
            absl::StrCat(Head(id, "nope", member, now_), ",\"engagement\":{\"action\":\"like\"}}");
        break;
      case 4:
        reason = "BAD_TIME";
        line = absl::StrCat(Head(id, program, member, 915148800 /* 1999-01-01 */),
                            ",\"engagement\":{\"action\":\"like\"}}");
        break;
      case 5:
        reason = "BAD_AMOUNT";
        line =
            absl::StrCat(head, ",\"purchase\":{\"order_id\":\"bad", id,
                         "\",\"amount_minor\":\"-5\",\"currency\":\"", Currency(program), "\"}}");
        break;
      case 6:
        reason = "BAD_AMOUNT";
        line = absl::StrCat(head, ",\"adjustment\":{\"points\":\"0\",\"reason\":\"oops\"}}");
        break;
      case 7:
        reason = "CURRENCY_MISMATCH";
        line = absl::StrCat(head, ",\"purchase\":{\"order_id\":\"cur", id,
                            "\",\"amount_minor\":\"100\",\"currency\":\"JPY\"}}");
        break;
      case 8: {
        // Same event_id as an accepted line, other payload.
        if (last_by_id_.empty()) return Bad();
        const std::string& orig =
            last_by_id_[rng_.Uniform(static_cast<int64_t>(last_by_id_.size()))];
        reason = "DUPLICATE_CONFLICT";
        line = orig;
        line.insert(line.size() - 1, ",\"source\":\"conflict\"");
        break;
      }
      case 9: {
        if (orders_.empty()) return Bad();
        const Order& o = orders_[rng_.Uniform(static_cast<int64_t>(orders_.size()))];
        reason = "DUPLICATE_ORDER";
        line = absl::StrCat(Head(id, o.program, o.member, now_),
                            PurchaseBody(o.program, o.order_id, &amount), "}");
        break;
      }
      default: {
        reason = "OVERSIZED";
        line = absl::StrCat(head, ",\"purchase\":{\"order_id\":\"big", id,
                            "\",\"amount_minor\":\"1001\",\"currency\":\"", Currency(program),
                            "\",\"items\":[");
        for (int k = 0; k < 1001; ++k) {
          absl::StrAppend(&line, k ? "," : "", "{\"quantity\":1,\"amount_minor\":\"1\"}");
        }
        line += "]}}";
        break;
      }
    }
    out_.bad_lines++;
    out_.bad_by_reason[reason]++;
    out_.bad_indices.push_back(out_.lines.size());
    out_.lines.push_back(std::move(line));
  }

  GeneratorOptions o_;
  Rng rng_;
  GeneratedStream out_;
  static constexpr int64_t kStart = 1704067200;  // 2024-01-01T00:00:00Z
  int64_t now_ = kStart;
  size_t next_probe_ = 0;
  int64_t event_seq_ = 0;
  std::vector<std::string> accepted_;
  std::vector<std::string> last_by_id_;
  std::vector<Order> orders_;
};

}  // namespace

GeneratedStream GenerateStream(const GeneratorOptions& options) { return Generator(options).Run(); }

// The test programs use every programme rule (SPEC §5): tiers with a
// middle tier, each a different metric, paid plans, punch cards, promotions
// (one past midnight, one with valid_from/valid_until), random rewards on
// purchases and engagements with daily caps and bonus points.
// Long on purpose: a program's text, one line per field.
std::string CafeProgramText() {
  return R"pb(
    program_id: "cafe"
    currency: "EUR"
    timezone: "Europe/Paris"
    random_seed: "test-seed"
    point_value_minor: 1
    earn { points: 1 per_minor: 100 }
    category_multipliers { category: "coffee" multiplier_bp: 20000 }
    category_multipliers { category: "gift_card" multiplier_bp: 0 }
    expiration { mode: FIXED_DAYS days: 120 round_to_month_end: true }
    tiers { tier_id: "member" threshold: 0 earn_multiplier_bp: 10000 }
    tiers { tier_id: "silver" threshold: 10 earn_multiplier_bp: 12500 perks: "free_refill" }
    tiers { tier_id: "gold" threshold: 40 earn_multiplier_bp: 15000 }
    tier_qualification { metric: PURCHASE_COUNT window_months: 3 grace_days: 30 }
    paid_plans { plan_id: "vip" tier_id: "gold" months: 12 }
    paid_plans { plan_id: "trial" tier_id: "silver" months: 1 }
    engagement_rules { action: "review" points: 20 max_per_local_day: 1 unique_per_ref: true }
    engagement_rules { action: "like" points: 1 max_per_local_day: 5 }
    engagement_rules { action: "nps" points: 0 }
    punch_cards {
      card_id: "coffee-card"
      category: "coffee"
      stamps_required: 10
      reward_id: "free-coffee"
    }
    promotions {
      promotion_id: "wednesday-night"
      category: "coffee"
      days_of_week: WEDNESDAY
      start_local: "21:00"
      end_local: "24:00"
      reward_id: "free-coffee"
    }
    promotions {
      promotion_id: "late-owl"
      days_of_week: FRIDAY
      days_of_week: SATURDAY
      start_local: "23:00"
      end_local: "03:00"
      multiplier_bp: 15000
      bonus_points: 2
    }
    promotions {
      promotion_id: "double-weekend"
      days_of_week: SATURDAY
      days_of_week: SUNDAY
      start_local: "00:00"
      end_local: "24:00"
      multiplier_bp: 20000
    }
    promotions {
      promotion_id: "spring-food"
      category: "food"
      valid_from: "2024-03-01T00:00:00+01:00"
      valid_until: "2024-04-15T00:00:00+02:00"
      bonus_points: 5
    }
    random_rewards {
      rule_id: "surprise"
      on: PURCHASE
      probability_ppm: 10000
      reward_id: "free-coffee"
      max_per_member_per_local_day: 1
    }
    random_rewards {
      rule_id: "coffee-luck"
      on: PURCHASE
      category: "coffee"
      probability_ppm: 300000
      bonus_points: 10
      max_per_member_per_local_day: 1
    }
    random_rewards {
      rule_id: "like-luck"
      on: ENGAGEMENT
      category: "like"
      probability_ppm: 200000
      bonus_points: 3
      max_per_member_per_local_day: 1
    }
    rewards { reward_id: "free-coffee" cost_points: 50 }
    rewards { reward_id: "ten-off" cost_points: 0 }
    rewards { reward_id: "lounge" cost_points: 500 min_tier_id: "gold" }
    first_purchase_reward_id: "ten-off"
  )pb";
}

std::string ShopProgramText() {
  return R"pb(
    program_id: "shop"
    currency: "USD"
    timezone: "America/New_York"
    random_seed: "shop-seed"
    earn { points: 3 per_minor: 250 }
    category_multipliers { category: "merch" multiplier_bp: 15000 }
    pending_days: 14
    expiration { mode: FIXED_DAYS days: 60 }
    allow_negative_balance: false
    tiers { tier_id: "basic" threshold: 0 earn_multiplier_bp: 11000 }
    tiers { tier_id: "pro" threshold: 150 earn_multiplier_bp: 13000 }
    tier_qualification { metric: EARNED_POINTS window_months: 2 grace_days: 15 }
    paid_plans { plan_id: "plus" tier_id: "pro" months: 1 }
    engagement_rules { action: "share" points: 5 max_per_local_day: 2 }
    engagement_rules { action: "review" points: 7 unique_per_ref: true }
    punch_cards { card_id: "merch-card" category: "merch" stamps_required: 5 reward_id: "gift" }
    promotions {
      promotion_id: "happy-hour"
      start_local: "17:00"
      end_local: "19:00"
      multiplier_bp: 12000
      bonus_points: 2
    }
    promotions {
      promotion_id: "black-friday"
      valid_from: "2024-11-29T00:00:00-05:00"
      valid_until: "2024-11-30T00:00:00-05:00"
      multiplier_bp: 30000
      reward_id: "gift"
    }
    random_rewards {
      rule_id: "shop-draw"
      on: PURCHASE
      probability_ppm: 20000
      reward_id: "gift"
      bonus_points: 25
      max_per_member_per_local_day: 1
    }
    random_rewards { rule_id: "review-draw" on: ENGAGEMENT probability_ppm: 300000 bonus_points: 5 }
    rewards { reward_id: "gift" cost_points: 30 }
  )pb";
}

ProgramSet WriteAndLoadTestPrograms(const std::string& dir) {
  std::ofstream(dir + "/cafe.textproto") << CafeProgramText();
  std::ofstream(dir + "/shop.textproto") << ShopProgramText();
  auto programs = LoadPrograms(dir);
  if (!programs.ok()) {
    std::fprintf(stderr, "test programs: %s\n", programs.status().ToString().c_str());
    std::abort();
  }
  return std::move(*programs);
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const std::string& l : lines) out << l << '\n';
  out.flush();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace loyalty::testing
