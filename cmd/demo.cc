#include "cmd/demo.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/embedded.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/kafka.h"
#include "engine/audit/audit.h"
#include "engine/base/rng.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "cmd/cafe_program.h"  // generated from programs/cafe.textproto
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "google/protobuf/util/json_util.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

using loyalty::v1::Event;
using loyalty::v1::LedgerEntry;
using loyalty::v1::MemberState;
using loyalty::v1::Outcome;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Formatting.

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

// ---------------------------------------------------------------------------
// The generated stream: six weeks of a café, one visit at a time.

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

// The stream, and what it holds by kind.
struct Stream {
  std::vector<std::string> lines;  // proto3 JSON, one Event each (but the MALFORMED one)
  int64_t purchases = 0;
  int64_t reviews = 0;
  int64_t likes = 0;
  int64_t redemptions = 0;
  int64_t refunds = 0;
  int64_t plans = 0;
  int64_t adjustments = 0;
  int64_t ticks = 0;
  int64_t resent = 0;                  // exact copies of earlier events
  std::map<std::string, int64_t> bad;  // sent on purpose, by the reason expected
  // What the engagement events were ("review of o-000123"), by event_id:
  // their ledger entries do not say.
  std::map<std::string, std::string> engagements;
};

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

// ---------------------------------------------------------------------------
// Reading the output topics back.

struct OutputCounts {
  std::map<std::string, int64_t> records;  // topic -> records
  std::map<std::string, int64_t> outcome_status;
  std::map<std::string, int64_t> ignored;  // reason -> count
  std::map<std::string, int64_t> refused;  // reason -> count (REJECTED)
  int64_t tick_outcomes = 0;
  int64_t matured = 0;  // MATURED outcomes: a tick's maturities of one member
  std::map<std::string, int64_t> tier_changes;    // cause -> count (in the outcomes)
  std::map<std::string, int64_t> issued_by_rule;  // "punch card coffee-card" -> rewards
  std::map<std::string, int64_t> dlq;             // reason header -> count
};

absl::StatusOr<OutputCounts> ReadOutputs(const std::string& brokers, const Topics& topics,
                                         int partitions) {
  OutputCounts c;
  for (const std::string& topic : topics.outputs()) c.records[topic] = 0;
  Outcome outcome;
  ReadToEndOptions reader;
  reader.brokers = brokers;
  reader.topics = topics.outputs();
  reader.partitions = partitions;
  reader.group_id = "loyalty-demo-reader";
  reader.timeout_ms = 30'000;
  LOYALTY_RETURN_IF_ERROR(
      ReadToEnd(reader, [&](const rd_kafka_message_t& m) {
        const std::string topic = rd_kafka_topic_name(m.rkt);
        c.records[topic]++;
        if (topic == topics.outcomes) {
          if (!outcome.ParseFromArray(m.payload, static_cast<int>(m.len))) {
            c.outcome_status["(not an Outcome)"]++;
            return;
          }
          for (const auto& change : outcome.tier_changes()) c.tier_changes[change.cause()]++;
          if (outcome.reason() == "MATURED") {
            c.matured++;
            return;
          }
          c.outcome_status[Outcome::Status_Name(outcome.status())]++;
          if (outcome.member_id().empty()) c.tick_outcomes++;
          for (const auto& r : outcome.issued_rewards()) {
            c.issued_by_rule[absl::StrCat(
                absl::AsciiStrToLower(loyalty::v1::IssuedReward::Source_Name(r.source())),
                r.rule_id().empty() ? "" : " ", r.rule_id())] += r.count();
          }
          if (outcome.status() == Outcome::IGNORED) c.ignored[outcome.reason()]++;
          if (outcome.status() == Outcome::REJECTED) c.refused[outcome.reason()]++;
        } else if (topic == topics.dlq) {
          // The value is the rejected bytes untouched; the reason is a header
          // (connectors/kafka/publisher.h).
          rd_kafka_headers_t* headers = nullptr;
          const void* value = nullptr;
          size_t size = 0;
          std::string reason = "?";
          if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              rd_kafka_header_get_last(headers, "loyalty.reason", &value, &size) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR) {
            reason.assign(static_cast<const char*>(value), size);
          }
          c.dlq[reason]++;
        }
      }).status());
  return c;
}

// ---------------------------------------------------------------------------
// Reading the stores.

struct MemberSummary {
  MemberState state;
  size_t store = 0;  // index in the stores opened
};

// Owns a temporary data directory and removes it at the end.
class DataDir {
 public:
  ~DataDir() {
    if (!temporary_ || path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  absl::Status Init(const std::string& requested) {
    namespace fs = std::filesystem;
    if (requested.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "loyalty-demo.XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) {
        return absl::UnavailableError(absl::StrCat("cannot create a directory like ", tmpl));
      }
      path_ = tmpl;
      temporary_ = true;
      return absl::OkStatus();
    }
    std::error_code ec;
    if (fs::exists(requested, ec) && !fs::is_empty(requested, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--data-dir=", requested,
          " is not empty: the demo's broker starts empty every time, so a ledger there would "
          "not match its offsets; give a new directory"));
    }
    fs::create_directories(requested, ec);
    if (ec) return absl::UnavailableError(absl::StrCat(requested, ": ", ec.message()));
    path_ = requested;
    return absl::OkStatus();
  }

  const std::string& path() const { return path_; }
  bool temporary() const { return temporary_; }

 private:
  std::string path_;
  bool temporary_ = false;
};

// Runs the engine on its own thread; stopping and joining are certain.
class EngineThread {
 public:
  explicit EngineThread(KafkaEngine* engine)
      : thread_([this, engine] {
          status_ = engine->Run(stop_);
          done_.store(true);
        }) {}
  ~EngineThread() { Stop().IgnoreError(); }  // an early return has its own error
  absl::Status Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  bool done() const { return done_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  absl::Status status_;
  std::thread thread_;  // last: starts after the members it uses
};

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

}  // namespace

absl::Status RunDemo(const DemoOptions& o) {
  if (o.members < 1 || o.members > 100'000) {
    return absl::InvalidArgumentError("members must be in [1, 100000]");
  }
  if (o.days < 1 || o.days > 3660) return absl::InvalidArgumentError("days must be in [1, 3660]");
  if (o.visits_per_day < 1 || o.visits_per_day > 100'000) {
    return absl::InvalidArgumentError("visits per day must be in [1, 100000]");
  }
  if (o.partitions < 1 || o.partitions > 64) {
    return absl::InvalidArgumentError("partitions must be in [1, 64]");
  }
  if (o.workers < 1 || o.workers > 64) {
    return absl::InvalidArgumentError("workers must be in [1, 64]");
  }
  FILE* out = o.out;
  const auto started = Clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };

  // The program: the café compiled into the binary, or --program.
  ProgramSet programs;
  std::string program_source = "programs/cafe.textproto, built in";
  if (o.program_path.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(auto cafe,
                             ParseProgramText(kCafeProgramText, "programs/cafe.textproto"));
    LOYALTY_RETURN_IF_ERROR(programs.Add(std::move(cafe)));
  } else {
    auto loaded = LoadPrograms(o.program_path);
    if (!loaded.ok()) return absl::InvalidArgumentError(loaded.status().message());
    programs = std::move(*loaded);
    program_source = o.program_path;
  }
  if (programs.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(o.program_path, ": no program"));
  }
  const CompiledProgram* program = programs.Find("cafe");
  if (program == nullptr) program = programs.Find(programs.ids().front());
  const std::string& currency = program->proto().currency();

  DataDir dir;
  LOYALTY_RETURN_IF_ERROR(dir.Init(o.data_dir));

  // The broker and the topics.
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedKafka> kafka, EmbeddedKafka::Start());
  const std::string brokers = kafka->bootstrap_servers();
  Topics topics;
  LOYALTY_RETURN_IF_ERROR(kafka->CreateTopics(topics, o.partitions));

  absl::FPrintF(out, "Loyalty Ledger demo: a café on an embedded Kafka broker\n\n");
  Print(out, "  broker    ",
        absl::StrCat(brokers,
                     ": librdkafka's mock cluster, inside this process. It keeps nothing and "
                     "does not filter aborted transactions: a demo, not evidence of exactly-once "
                     "(the tests use a real broker)."));
  Print(out, "  topics    ",
        absl::StrCat(topics.events, ", ", absl::StrJoin(topics.outputs(), ", "), " (", o.partitions,
                     " partitions each)"));
  Print(out, "  program   ",
        absl::StrCat(program->program_id(), " (", program_source, "): ", currency, ", ",
                     Describe(program->proto())));
  Print(out, "  data dir  ",
        absl::StrCat(dir.path(),
                     dir.temporary() ? " (temporary; --data-dir=DIR keeps the ledger)" : ""));
  absl::FPrintF(out, "\n");

  // 1. The stream.
  Print(out, "1. ",
        absl::StrCat("Generating ", o.days, " days of the café from Monday 2025-03-03 (seed ",
                     o.seed, ", ", o.members, " members)"));
  Stream stream = CafeGenerator(o, program->program_id(), currency).Generate();
  int64_t bad_total = 0;
  for (const auto& [reason, n] : stream.bad) bad_total += n;
  Print(out, "   ",
        absl::StrCat(
            Num(static_cast<int64_t>(stream.lines.size())), " events: ", Num(stream.purchases),
            " purchases, ", Num(stream.reviews), " reviews, ", Num(stream.likes), " likes, ",
            Num(stream.redemptions), " redemptions, ", Num(stream.refunds), " refunds, ",
            Num(stream.plans), " VIP plan, ", Num(stream.adjustments), " adjustment, ",
            Num(stream.ticks), " nightly ticks; and, on purpose, ", Num(stream.resent),
            " resent purchases and ", Num(bad_total), " bad events (", Tally(stream.bad), ")"));

  // 2. The engine starts (joining the group takes a few seconds on the mock)
  // while the stream is produced.
  KafkaEngine::Options eo;
  eo.brokers = brokers;
  eo.data_dir = dir.path();
  eo.topics = topics;
  eo.workers = o.workers;
  LOYALTY_ASSIGN_OR_RETURN(std::unique_ptr<KafkaEngine> engine, KafkaEngine::Create(&programs, eo));
  auto runner = std::make_unique<EngineThread>(engine.get());

  Print(out, "2. ",
        absl::StrCat("Producing them to ", topics.events,
                     " as binary protobuf keyed by member_id (a tick goes to every partition), "
                     "while the engine joins its consumer group"));
  ProduceOptions po;
  po.brokers = brokers;
  po.topic = topics.events;
  const double produce_start = seconds();
  LOYALTY_ASSIGN_OR_RETURN(ProduceStats produced, ProduceLines(po, stream.lines));
  absl::FPrintF(out, "   %s records delivered in %.1f s\n", Num(produced.records),
                seconds() - produce_start);

  // 3. Wait until every record took effect.
  Print(out, "3. ",
        absl::StrCat("Running the engine: ", o.workers,
                     " workers (the mock broker holds the "
                     "first join of a group ~3 s)"));
  const double run_start = seconds();
  double last_print = -1;
  for (;;) {
    const int64_t applied = engine->records_applied();
    const bool finished = applied >= produced.records;
    if (finished || seconds() - last_print >= 1.0) {
      last_print = seconds();
      const int owned = engine->owned_partitions();
      absl::FPrintF(out, "   [%4.1f s] %s of %s records applied, %d of %d partitions owned%s\n",
                    seconds() - run_start, Num(applied), Num(produced.records), owned, o.partitions,
                    owned == 0 ? " (joining the group)" : "");
      std::fflush(out);
    }
    if (finished) break;
    if (runner->done()) {
      absl::Status s = runner->Stop();
      return s.ok() ? absl::InternalError("the engine stopped before applying everything") : s;
    }
    if (seconds() - run_start > o.timeout_ms / 1000.0) {
      return absl::DeadlineExceededError(absl::StrCat("the engine applied ", applied, " of ",
                                                      produced.records, " records in ",
                                                      o.timeout_ms, " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  LOYALTY_RETURN_IF_ERROR(runner->Stop());
  runner.reset();
  engine.reset();  // closes the stores
  absl::FPrintF(out, "   all applied; engine stopped after %.1f s\n\n", seconds() - run_start);

  // What the engine published, read back from the output topics.
  LOYALTY_ASSIGN_OR_RETURN(OutputCounts outputs, ReadOutputs(brokers, topics, o.partitions));

  // What the stores hold.
  std::vector<std::unique_ptr<PartitionStore>> stores;
  std::vector<MemberSummary> members;
  VerifyReport audit;
  LOYALTY_ASSIGN_OR_RETURN(auto opened, OpenDataDir(dir.path()));
  for (auto& [partition, store] : opened) {
    LOYALTY_RETURN_IF_ERROR(
        store->ForEachMember([&](const loyalty::v1::MemberRecord& rec) -> absl::Status {
          members.push_back({rec.state(), stores.size()});
          return absl::OkStatus();
        }));
    LOYALTY_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(store.get(), 5));
    audit.members += report.members;
    audit.entries += report.entries;
    audit.problems_total += report.problems_total;
    for (auto& problem : report.problems) audit.problems.push_back(std::move(problem));
    stores.push_back(std::move(store));
  }

  // The summary.
  const int64_t outcomes_total = outputs.records[topics.outcomes];
  const int64_t dlq_total = outputs.records[topics.dlq];
  absl::FPrintF(out, "What the engine did with the %s records\n", Num(produced.records));
  if (outcomes_total + dlq_total == 0) {
    Print(out, "   ",
          absl::StrCat(Num(produced.records),
                       " records took effect; this engine publishes no output topics, so there "
                       "is no breakdown by outcome"));
  } else {
    auto row = [&](const char* name, int64_t n, const std::string& text) {
      Print(out, absl::StrFormat("   %-12s %7s  ", name, Num(n)), text);
    };
    row("applied", outputs.outcome_status["APPLIED"],
        absl::StrCat("(", Num(outputs.tick_outcomes),
                     " of them ticks, one per partition a night)"));
    row("refused", outputs.outcome_status["REJECTED"],
        absl::StrCat("by the program: ", Tally(outputs.refused)));
    row("ignored", outputs.outcome_status["IGNORED"],
        absl::StrCat("valid but without effect: ", Tally(outputs.ignored)));
    row("duplicates", outputs.outcome_status["DUPLICATE"],
        "the resent purchases: outcome DUPLICATE, no effect");
    row("to the DLQ", dlq_total, Tally(outputs.dlq));
    int64_t tier_changes = 0;
    for (const auto& [cause, n] : outputs.tier_changes) tier_changes += n;
    row("matured", outputs.matured,
        "MATURED outcomes: points a nightly tick released or expired, one per member");
    row("tier changes", tier_changes,
        absl::StrCat("carried in the outcomes: ", Tally(outputs.tier_changes)));
    int64_t issued = 0;
    for (const auto& [rule, n] : outputs.issued_by_rule) issued += n;
    row("rewards", issued, absl::StrCat("issued by the rules: ", Tally(outputs.issued_by_rule)));
  }
  std::vector<std::string> topic_counts;
  int64_t published = 0;
  for (const std::string& t : topics.outputs()) {
    topic_counts.push_back(absl::StrCat(t, " ", Num(outputs.records[t])));
    published += outputs.records[t];
  }
  Print(out, absl::StrFormat("   %-12s %7s  ", "published", Num(published)),
        absl::StrCat("output records: ", absl::StrJoin(topic_counts, ", ")));
  absl::FPrintF(out, "\n");

  int64_t earned = 0, adjusted = 0, redeemed = 0, clawed = 0, expired = 0, outstanding = 0;
  int64_t spend = 0, purchases = 0;
  std::map<std::string, int64_t> tiers, rewards;
  for (const MemberSummary& m : members) {
    const MemberState& s = m.state;
    earned += s.lifetime_earned_points();
    adjusted += s.adjusted_points();
    redeemed += s.redeemed_points();
    clawed += s.clawed_back_points();
    expired += s.expired_points();
    outstanding += s.available_points() + s.pending_points();
    spend += s.spend_minor();
    purchases += s.purchase_count();
    tiers[s.tier_id()]++;
    for (const auto& [reward, n] : s.rewards_issued()) rewards[reward] += n;
  }
  int64_t rewards_total = 0;
  for (const auto& [reward, n] : rewards) rewards_total += n;
  std::vector<std::string> tier_parts;
  for (const auto& t : program->proto().tiers()) {
    tier_parts.push_back(absl::StrCat(Num(tiers[t.tier_id()]), " ", t.tier_id()));
  }
  absl::FPrintF(out, "Members and points\n");
  auto row = [&](const char* name, const std::string& n, const std::string& text) {
    Print(out, absl::StrFormat("   %-12s %7s  ", name, n), text);
  };
  row("members", Num(static_cast<int64_t>(members.size())),
      tier_parts.empty() ? "" : absl::StrJoin(tier_parts, ", "));
  row("purchases", Num(purchases), absl::StrCat("for ", Money(spend, currency)));
  row("issued", Num(earned),
      absl::StrCat("points for purchases and engagement; adjusted ", adjusted > 0 ? "+" : "",
                   Num(adjusted)));
  row("redeemed", Num(redeemed), "points");
  row("clawed back", Num(clawed), absl::StrCat("points (refunds); expired ", Num(expired)));
  row("outstanding", Num(outstanding),
      absl::StrCat("points: a liability of ",
                   Money(outstanding * program->proto().point_value_minor(), currency)));
  row("rewards", Num(rewards_total),
      absl::StrCat("issued, as counted in the members: ", Tally(rewards)));
  absl::FPrintF(out, "\n");

  std::vector<const MemberSummary*> top;
  for (const MemberSummary& m : members) top.push_back(&m);
  std::sort(top.begin(), top.end(), [](const MemberSummary* a, const MemberSummary* b) {
    if (a->state.available_points() != b->state.available_points()) {
      return a->state.available_points() > b->state.available_points();
    }
    return a->state.member_id() < b->state.member_id();
  });
  if (top.size() > 5) top.resize(5);
  absl::FPrintF(out, "Top members by available points\n");
  absl::FPrintF(out, "   %-8s %-8s %8s %8s %16s\n", "member", "tier", "points", "visits", "spent");
  for (const MemberSummary* m : top) {
    const MemberState& s = m->state;
    absl::FPrintF(out, "   %-8s %-8s %8s %8s %16s\n", s.member_id(), s.tier_id(),
                  Num(s.available_points()), Num(s.purchase_count()),
                  Money(s.spend_minor(), currency));
  }
  absl::FPrintF(out, "\n");

  // One member's history: the one whose ledger has the most kinds of
  // entries (then the most entries), shown by its latest entries of each kind.
  // Every member's entries, from one pass over each store's journal.
  std::map<std::string, std::vector<LedgerEntry>> entries_of;  // program/member -> entries
  for (auto& store : stores) {
    LOYALTY_RETURN_IF_ERROR(store->ForEachEntry([&](const LedgerEntry& e) -> absl::Status {
      entries_of[absl::StrCat(e.program_id(), "/", e.member_id())].push_back(e);
      return absl::OkStatus();
    }));
  }
  const MemberSummary* who = nullptr;
  std::vector<LedgerEntry> history;
  size_t who_kinds = 0;
  for (const MemberSummary& m : members) {
    std::vector<LedgerEntry>& entries =
        entries_of[absl::StrCat(m.state.program_id(), "/", m.state.member_id())];
    std::set<int> kinds;
    for (const LedgerEntry& e : entries) kinds.insert(e.type());
    if (who == nullptr || kinds.size() > who_kinds ||
        (kinds.size() == who_kinds && entries.size() > history.size())) {
      who = &m;
      who_kinds = kinds.size();
      history = std::move(entries);
    }
  }
  if (who != nullptr && !history.empty()) {
    // The last 3 entries of each kind and the last 4 overall, at most 16.
    std::set<size_t> shown;
    std::map<int, int> per_kind;
    for (size_t i = history.size(); i-- > 0;) {
      if (history.size() - i <= 4 || per_kind[history[i].type()]++ < 3) shown.insert(i);
    }
    while (shown.size() > 16) shown.erase(shown.begin());
    Print(out, "",
          absl::StrCat("History of ", who->state.member_id(), " (", shown.size(), " of its ",
                       Num(static_cast<int64_t>(history.size())),
                       " ledger entries: the latest of each kind; times in ",
                       program->time_zone().name(), ")"));
    for (size_t i : shown) {
      const LedgerEntry& e = history[i];
      auto at = TimestampToNanos(e.effective_at());
      std::string what = e.event_id().empty() ? "" : absl::StrCat("event ", e.event_id());
      if (!e.order_id().empty()) what = absl::StrCat("order ", e.order_id());
      if (!e.reward_id().empty()) what = absl::StrCat("reward ", e.reward_id());
      if (!e.reason().empty()) what = absl::StrCat("\"", e.reason(), "\"");
      if (auto it = stream.engagements.find(e.event_id()); it != stream.engagements.end()) {
        what = it->second;
      }
      absl::FPrintF(out, "   %s  #%-4d %-8s %+6d  %s\n",
                    at.ok()
                        ? absl::FormatTime("%Y-%m-%d %H:%M", NanosToTime(*at), program->time_zone())
                        : "?",
                    e.seq(), LedgerEntry::Type_Name(e.type()), e.points(), what);
    }
    absl::FPrintF(out, "\n");
  }

  if (audit.ok()) {
    Print(out, "",
          absl::StrCat("Audit (as loyaltyctl verify): every member's ledger adds up to its "
                       "balances: ",
                       Num(audit.members), " members, ", Num(audit.entries),
                       " entries, no problems."));
  } else {
    absl::FPrintF(out, "Audit (loyaltyctl verify): %s PROBLEMS\n", Num(audit.problems_total));
    for (const std::string& p : audit.problems) absl::FPrintF(out, "   %s\n", p);
  }
  stores.clear();
  if (dir.temporary()) {
    absl::FPrintF(out, "Done in %.1f s. The ledger was temporary; keep one with --data-dir=DIR.\n",
                  seconds());
  } else {
    absl::FPrintF(out,
                  "Done in %.1f s. The ledger stays in %s:\n"
                  "   loyaltyctl --data-dir=%s balance %s   (also: history, dump, verify)\n",
                  seconds(), dir.path(), dir.path(),
                  top.empty() ? "m0001" : top.front()->state.member_id());
  }
  if (!audit.ok()) return absl::DataLossError("the audit found problems");
  return absl::OkStatus();
}

}  // namespace loyalty
