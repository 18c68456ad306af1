#include "cmd/demo_generator.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/rng.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "google/protobuf/util/json_util.h"
#include "loyalty/v1/events.pb.h"

namespace loyalty::demo_internal {
namespace {

using loyalty::v1::Event;

// The demo's generator: engine/base/rng.h, and a percentage.
class Rng : public SplitMix64 {
 public:
  using SplitMix64::SplitMix64;
  bool Percent(int p) { return Below(100) < p; }
};

struct MenuItem {
  const char* sku;
  const char* category;
  int64_t price_minor;
};

constexpr MenuItem kCoffees[] = {{"espresso", "coffee", 220},
                                 {"cappuccino", "coffee", 350},
                                 {"flat-white", "coffee", 380},
                                 {"latte", "coffee", 390}};
constexpr MenuItem kPastries[] = {
    {"croissant", "pastry", 190}, {"pain-au-chocolat", "pastry", 210}, {"cookie", "pastry", 250}};
constexpr MenuItem kLunches[] = {{"sandwich", "food", 650}, {"salad", "food", 890}};
constexpr MenuItem kGiftCard = {"gift-card-25", "gift_card", 2500};

// Monday 2025-03-03 00:00 UTC: the café's first day.
constexpr UnixNanos kFirstDay = 1'740'960'000 * kNanosPerSecond;
constexpr int64_t kNanosPerMinute = 60 * kNanosPerSecond;
constexpr int64_t kNanosPerHour = 60 * kNanosPerMinute;

class CafeGenerator {
 public:
  CafeGenerator(const DemoOptions& o, std::string program_id, std::string currency)
      : o_(o), rng_(o.seed), program_id_(std::move(program_id)), currency_(std::move(currency)) {
    members_.resize(o.members);
    for (int i = 0; i < o.members; ++i) members_[i].id = absl::StrFormat("m%04d", i + 1);
  }

  Stream Generate() {
    for (int d = 0; d < o_.days; ++d) {
      const UnixNanos day = kFirstDay + d * kNanosPerDay;
      const int weekday = d % 7;  // 0 = Monday
      today_.clear();
      // Who comes when; then the visits in time order, so that order ids
      // ascend through the day.
      std::vector<std::pair<UnixNanos, size_t>> visits;
      const int count = weekday >= 5 ? o_.visits_per_day * 2 / 3 : o_.visits_per_day;
      for (int v = 0; v < count; ++v) {
        // Open 07:00-22:00 in Paris: 06:00-21:00 UTC in March (roughly).
        visits.emplace_back(day + 6 * kNanosPerHour + rng_.Below(15 * 60) * kNanosPerMinute,
                            PickMember());
      }
      if (weekday == 2) {  // Wednesday night: a free coffee after 21:00 local
        for (int v = 0; v < o_.visits_per_day / 10; ++v) {
          visits.emplace_back(day + 20 * kNanosPerHour + rng_.Below(60) * kNanosPerMinute,
                              PickMember());
        }
      }
      std::stable_sort(visits.begin(), visits.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [at, member] : visits) Visit(members_[member], at);
      Specials(d, day);
      std::stable_sort(today_.begin(), today_.end(),
                       [](const Timed& a, const Timed& b) { return a.at < b.at; });
      std::vector<std::string> purchases_today;
      for (Timed& t : today_) {
        if (t.purchase) purchases_today.push_back(t.line);
        out_.lines.push_back(std::move(t.line));
      }
      // A till that resends about 1% of its purchases (after a timeout, say).
      for (size_t k = 0; k < purchases_today.size() / 100; ++k) {
        out_.lines.push_back(purchases_today[rng_.Below(purchases_today.size())]);
        out_.resent++;
      }
      // Every night the partition clocks move on (SPEC §6: ticks).
      Event tick;
      tick.set_event_id(absl::StrCat("tick-", d + 1));
      tick.set_program_id(program_id_);
      *tick.mutable_occurred_at() = NanosToTimestamp(day + kNanosPerDay);
      *tick.mutable_tick()->mutable_now() = NanosToTimestamp(day + kNanosPerDay);
      out_.lines.push_back(Json(tick));
      out_.ticks++;
    }
    return std::move(out_);
  }

 private:
  struct Member {
    std::string id;
    int64_t points_estimate = 0;  // roughly what the program gave: for redemptions
    Event last_purchase;          // for the refunds and the bad events
  };
  struct Timed {
    UnixNanos at;
    std::string line;
    bool purchase = false;
  };

  // Regulars come far more often: m0001 is in about one visit in 17.
  size_t PickMember() {
    const double u = rng_.Unit();
    return static_cast<size_t>(u * u * static_cast<double>(members_.size()));
  }

  Event NewEvent(const Member& m, UnixNanos at) {
    Event e;
    e.set_event_id(absl::StrFormat("e-%06d", ++events_));
    e.set_program_id(program_id_);
    e.set_member_id(m.id);
    *e.mutable_occurred_at() = NanosToTimestamp(at);
    e.set_source(rng_.Percent(20) ? "app" : "pos");
    return e;
  }

  static std::string Json(const Event& e) {
    std::string json;
    LOYALTY_CHECK(google::protobuf::util::MessageToJsonString(e, &json).ok());
    return json;
  }

  void Add(UnixNanos at, const Event& e, bool purchase = false) {
    today_.push_back({at, Json(e), purchase});
  }

  static void AddItem(const MenuItem& item, int quantity, loyalty::v1::Purchase* p) {
    auto* li = p->add_items();
    li->set_sku(item.sku);
    li->set_category(item.category);
    li->set_quantity(quantity);
    li->set_amount_minor(item.price_minor * quantity);
    p->set_amount_minor(p->amount_minor() + li->amount_minor());
  }

  // A redemption perhaps, a purchase, and now and then a review or a like.
  void Visit(Member& m, UnixNanos at) {
    if (m.points_estimate >= 70 && rng_.Percent(25)) {
      Redeem(m, at - kNanosPerMinute, "free-coffee", 50);
    }
    Event e = NewEvent(m, at);
    auto* p = e.mutable_purchase();
    p->set_order_id(absl::StrFormat("o-%06d", ++orders_));
    p->set_currency(currency_);
    p->set_store_id(rng_.Percent(70) ? "paris-bastille" : "paris-marais");
    if (rng_.Percent(85)) {
      AddItem(kCoffees[rng_.Below(std::size(kCoffees))], rng_.Percent(15) ? 2 : 1, p);
    }
    if (rng_.Percent(40)) AddItem(kPastries[rng_.Below(std::size(kPastries))], 1, p);
    const int64_t hour_utc = (at - kFirstDay) % kNanosPerDay / kNanosPerHour;
    if (hour_utc >= 10 && hour_utc < 13 && rng_.Percent(30)) {
      AddItem(kLunches[rng_.Below(std::size(kLunches))], 1, p);
    }
    if (rng_.Percent(1)) AddItem(kGiftCard, 1, p);
    if (p->items_size() == 0) AddItem(kCoffees[0], 1, p);
    m.points_estimate += p->amount_minor() / 100;
    m.last_purchase = e;
    Add(at, e, true);
    out_.purchases++;
    if (rng_.Percent(4)) {
      Event r = NewEvent(m, at + 2 * kNanosPerHour);
      r.mutable_engagement()->set_action("review");
      r.mutable_engagement()->set_ref(p->order_id());
      r.mutable_engagement()->set_score(static_cast<int32_t>(3 + rng_.Below(3)));
      Add(at + 2 * kNanosPerHour, r);
      out_.engagements[r.event_id()] = absl::StrCat("review of ", p->order_id());
      out_.reviews++;
    }
    if (rng_.Percent(6)) {
      Event l = NewEvent(m, at + 3 * kNanosPerHour);
      l.mutable_engagement()->set_action("like");
      l.mutable_engagement()->set_ref(absl::StrCat("post-", 1 + rng_.Below(40)));
      Add(at + 3 * kNanosPerHour, l);
      out_.engagements[l.event_id()] = absl::StrCat("like of ", l.engagement().ref());
      out_.likes++;
    }
  }

  void Redeem(Member& m, UnixNanos at, const char* reward_id, int64_t cost) {
    Event e = NewEvent(m, at);
    e.mutable_redemption()->set_reward_id(reward_id);
    m.points_estimate -= cost;
    Add(at, e);
    out_.redemptions++;
  }

  // A member who bought something already, looking from `from` on.
  Member& Customer(size_t from) {
    for (size_t i = 0; i < members_.size(); ++i) {
      Member& m = members_[(from + i) % members_.size()];
      if (m.last_purchase.has_purchase()) return m;
    }
    return members_[0];  // unreachable after the first day
  }

  // What happens once: a VIP plan, a goodwill gesture, refunds, bad events.
  void Specials(int d, UnixNanos day) {
    const UnixNanos noon = day + 11 * kNanosPerHour;
    if (d == 1 && members_.size() >= 5) {
      Event e = NewEvent(members_[4], noon);
      e.mutable_membership()->set_plan_id("vip");
      Add(noon, e);
      out_.plans++;
    }
    if (d == o_.days / 4) {
      Event e = NewEvent(members_[std::min<size_t>(1, members_.size() - 1)], noon);
      e.set_source("backoffice");
      e.mutable_adjustment()->set_points(25);
      e.mutable_adjustment()->set_reason("goodwill: spilled cappuccino");
      e.mutable_adjustment()->set_operator_id("barista-lea");
      Add(noon, e);
      out_.adjustments++;
    }
    if (d == o_.days / 3) {  // a reward the café does not offer
      Event e = NewEvent(members_[std::min<size_t>(2, members_.size() - 1)], noon);
      e.mutable_redemption()->set_reward_id("free-croissant");
      Add(noon, e);
      out_.redemptions++;
    }
    if (d == o_.days / 2) {  // the best customer asks for the lounge (gold only)
      Event e = NewEvent(members_[0], noon);
      e.mutable_redemption()->set_reward_id("lounge");
      Add(noon, e);
      out_.redemptions++;
    }
    if (d % 10 == 9) {  // a refund every ten days; the second one partial
      Member& m = Customer(rng_.Below(members_.size()));
      const auto& bought = m.last_purchase.purchase();
      Event e = NewEvent(m, noon);
      e.mutable_refund()->set_order_id(bought.order_id());
      e.mutable_refund()->set_amount_minor(d == 19 ? bought.amount_minor() / 2
                                                   : bought.amount_minor());
      Add(noon, e);
      out_.refunds++;
    }
    // Eight bad events, one of each kind, spread over the weeks.
    for (int i = 0; i < 8; ++i) {
      if (d == (i + 1) * o_.days / 9) BadEvent(i, noon + i * kNanosPerMinute);
    }
  }

  void BadEvent(int kind, UnixNanos at) {
    Member& m = Customer(static_cast<size_t>(kind));
    Event e = NewEvent(m, at);
    *e.mutable_purchase() = m.last_purchase.purchase();
    e.mutable_purchase()->set_order_id(absl::StrFormat("o-%06d", ++orders_));
    std::string reason;
    switch (kind) {
      case 0:  // a till cut off mid-line
        reason = "MALFORMED";
        today_.push_back({at, Json(e).substr(0, 60), false});
        out_.bad[reason]++;
        return;
      case 1:
        reason = "BAD_AMOUNT";
        e.mutable_purchase()->clear_items();
        e.mutable_purchase()->set_amount_minor(-350);
        break;
      case 2:
        reason = "CURRENCY_MISMATCH";
        e.mutable_purchase()->set_currency(currency_ == "USD" ? "EUR" : "USD");
        break;
      case 3:
        reason = "UNKNOWN_PROGRAM";
        e.set_program_id("bakery");
        break;
      case 4:
        reason = "MISSING_FIELD";
        e.clear_member_id();
        break;
      case 5:
        reason = "BAD_TIME";
        *e.mutable_occurred_at() = NanosToTimestamp(kEventTimeMinNs - kNanosPerDay);  // 1999
        break;
      case 6:  // an earlier event_id again, with another payload
        reason = "DUPLICATE_CONFLICT";
        e = m.last_purchase;
        e.set_source(e.source() == "app" ? "pos" : "app");
        break;
      default:  // an earlier order_id again, under a new event
        reason = "DUPLICATE_ORDER";
        e.mutable_purchase()->set_order_id(m.last_purchase.purchase().order_id());
        break;
    }
    Add(at, e);
    out_.bad[reason]++;
  }

  const DemoOptions& o_;
  Rng rng_;
  std::string program_id_;
  std::string currency_;
  std::vector<Member> members_;
  std::vector<Timed> today_;
  int64_t events_ = 0;
  int64_t orders_ = 0;
  Stream out_;
};

}  // namespace

Stream GenerateCafeStream(const DemoOptions& options, const std::string& program_id,
                          const std::string& currency) {
  return CafeGenerator(options, program_id, currency).Generate();
}

}  // namespace loyalty::demo_internal
