// The reference fold: SPEC §6–§7 and docs/semantics.md, written plainly.
// See reference_fold.h. Nothing here is shared with engine/ on purpose.

#include "tests/model/reference_fold.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/program.pb.h"

namespace loyalty::model {
namespace {

using ::loyalty::v1::Event;
using ::loyalty::v1::Program;

constexpr int64_t kNanosPerSecond = 1000000000;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kBpOne = 10000;  // basis points of 1x

// SPEC §7 and docs/semantics.md "Limits".
constexpr size_t kRecordBytesMax = size_t{1} << 20;  // 1 MiB
constexpr int kLineItemsMax = 1000;
constexpr int64_t kAmountMinorMax = 1000000000000;        // 10^12
constexpr int64_t kPointsPerEventMax = 1000000000000000;  // 10^15
// [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)
constexpr int64_t kTimeMinSeconds = 946684800;
constexpr int64_t kTimeEndSeconds = 4102444800;
constexpr size_t kMemberIdBytesMax = 64;
constexpr size_t kIdBytesMax = 128;
constexpr size_t kAdjustmentReasonBytesMax = 1024;

// ---------------------------------------------------------------------------
// Stateless validation helpers.

// Strict UTF-8 decoding: no overlong forms, no surrogates, nothing above
// U+10FFFF. Returns false on invalid input.
bool DecodeUtf8(const std::string& s, std::vector<uint32_t>* code_points) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char lead = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 0;
    if (lead < 0x80) {
      cp = lead;
      len = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      cp = lead & 0x1F;
      len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      cp = lead & 0x0F;
      len = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      cp = lead & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) {
      return false;
    }
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    code_points->push_back(cp);
    i += len;
  }
  return true;
}

// C0, DEL and C1 control characters.
bool IsControl(uint32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

struct StringField {
  const std::string* value;
  size_t bytes_max;
};

// Every string of the event, with its length limit. All of them are checked
// for UTF-8 (MALFORMED) and for control characters and length (BAD_ID).
std::vector<StringField> StringFields(const Event& e) {
  std::vector<StringField> f = {
      {&e.event_id(), kIdBytesMax},
      {&e.program_id(), kIdBytesMax},
      {&e.member_id(), kMemberIdBytesMax},
      {&e.source(), kIdBytesMax},
  };
  switch (e.body_case()) {
    case Event::kPurchase:
      f.push_back({&e.purchase().order_id(), kIdBytesMax});
      f.push_back({&e.purchase().currency(), kIdBytesMax});
      f.push_back({&e.purchase().store_id(), kIdBytesMax});
      f.push_back({&e.purchase().partner_id(), kIdBytesMax});
      for (const auto& item : e.purchase().items()) {
        f.push_back({&item.sku(), kIdBytesMax});
        f.push_back({&item.category(), kIdBytesMax});
      }
      break;
    case Event::kEngagement:
      f.push_back({&e.engagement().action(), kIdBytesMax});
      f.push_back({&e.engagement().ref(), kIdBytesMax});
      break;
    case Event::kRedemption:
      f.push_back({&e.redemption().reward_id(), kIdBytesMax});
      break;
    case Event::kRefund:
      f.push_back({&e.refund().order_id(), kIdBytesMax});
      break;
    case Event::kAdjustment:
      f.push_back({&e.adjustment().reason(), kAdjustmentReasonBytesMax});
      f.push_back({&e.adjustment().operator_id(), kIdBytesMax});
      break;
    case Event::kMembership:
      f.push_back({&e.membership().plan_id(), kIdBytesMax});
      break;
    case Event::kTick:
    case Event::BODY_NOT_SET:
      break;
  }
  return f;
}

bool TimeInRange(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= kTimeMinSeconds && ts.seconds() < kTimeEndSeconds;
}

// REQUIRES: TimeInRange(ts), so the result cannot overflow.
int64_t ToNanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * kNanosPerSecond + ts.nanos();
}

std::string DeterministicBytes(const Event& e) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  return out;
}

__int128 FloorDiv(__int128 a, __int128 b) {
  __int128 q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

// ---------------------------------------------------------------------------
// Model state.

struct ProgramModel {
  Program program;
  absl::TimeZone tz;
  bool allow_negative_balance = true;
  int64_t tick_time_ns = 0;  // the largest Tick.now seen (0 = none)
};

struct Lot {
  int64_t lot_id = 0;  // per member, creation order
  int64_t remaining_points = 0;
  int64_t available_at_ns = 0;
  std::optional<int64_t> expires_at_ns;  // nullopt = never
  bool pending = false;
};

struct MemberModel {
  RefMember state;  // available/pending are computed from lots at the end
  std::optional<int64_t> clock_ns;
  int64_t next_lot_id = 1;
  std::vector<Lot> lots;       // creation order; lots with 0 points are dropped
  bool has_purchased = false;  // ever, refunds notwithstanding
  // (action, local day of occurred_at) -> applied engagements.
  std::map<std::pair<std::string, absl::CivilDay>, int64_t> engagements_per_day;
  std::set<std::pair<std::string, std::string>> used_refs;  // (action, ref)
};

struct Order {
  int64_t amount_minor = 0;
  int64_t points = 0;  // what the purchase earned
  int64_t refunded_minor = 0;
  int64_t lot_id = 0;  // 0 = no lot (earned 0 points)
};

using Key3 = std::tuple<std::string, std::string, std::string>;

// The first instant of the local civil time `cs`: when `cs` was skipped by a
// transition, the transition itself.
absl::Time FirstInstant(absl::CivilSecond cs, absl::TimeZone tz) {
  const absl::TimeZone::TimeInfo info = tz.At(cs);
  if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) return info.trans;
  return info.pre;
}

std::optional<int64_t> ExpiresAt(const ProgramModel& p, int64_t available_at_ns) {
  const auto& ex = p.program.expiration();
  if (ex.mode() != loyalty::v1::Expiration::FIXED_DAYS) return std::nullopt;
  const absl::Time e =
      absl::FromUnixNanos(available_at_ns) + absl::Seconds(int64_t{ex.days()} * kSecondsPerDay);
  if (!ex.round_to_month_end()) return absl::ToUnixNanos(e);
  const absl::CivilMonth next = absl::CivilMonth(absl::ToCivilSecond(e, p.tz)) + 1;
  return absl::ToUnixNanos(FirstInstant(absl::CivilSecond(next), p.tz));
}

// `ns` + `months` local civil months, day clamped to the month's end, local
// wall time kept (a skipped wall time maps as absl::FromCivil does: with the
// offset before the transition), sub-second part kept.
int64_t AddLocalMonths(int64_t ns, int64_t months, absl::TimeZone tz) {
  const absl::CivilSecond cs = absl::ToCivilSecond(absl::FromUnixNanos(ns), tz);
  const int64_t subsecond = ((ns % kNanosPerSecond) + kNanosPerSecond) % kNanosPerSecond;
  const absl::CivilMonth target = absl::CivilMonth(cs) + months;
  const int last_day = (absl::CivilDay(target + 1) - 1).day();
  const int day = std::min(cs.day(), last_day);
  const absl::CivilSecond out(target.year(), target.month(), day, cs.hour(), cs.minute(),
                              cs.second());
  return absl::ToUnixNanos(absl::FromCivil(out, tz)) + subsecond;
}

// ---------------------------------------------------------------------------

class Folder {
 public:
  explicit Folder(const std::vector<Program>& programs) {
    for (const Program& program : programs) {
      ProgramModel p;
      p.program = program;
      const std::string tz_name = program.timezone().empty() ? "UTC" : program.timezone();
      if (!absl::LoadTimeZone(tz_name, &p.tz)) p.tz = absl::UTCTimeZone();
      p.allow_negative_balance =
          program.has_allow_negative_balance() ? program.allow_negative_balance() : true;
      programs_.emplace(program.program_id(), std::move(p));
    }
  }

  void Line(const std::string& line) {
    Event e;
    const std::string reason = Validate(line, &e);
    if (!reason.empty()) {
      ++result_.dlq_by_reason[reason];
      return;
    }
    const bool is_tick = e.body_case() == Event::kTick;
    const Key3 dedupe_key{e.program_id(), is_tick ? "" : e.member_id(), e.event_id()};
    std::string bytes = DeterministicBytes(e);
    auto dup = dedupe_.find(dedupe_key);
    if (dup != dedupe_.end()) {
      if (dup->second == bytes) {
        ++result_.duplicates;
      } else {
        ++result_.dlq_by_reason["DUPLICATE_CONFLICT"];
      }
      return;
    }
    if (e.body_case() == Event::kPurchase &&
        orders_.count(Key3{e.program_id(), e.member_id(), e.purchase().order_id()}) > 0) {
      ++result_.dlq_by_reason["DUPLICATE_ORDER"];
      return;
    }
    dedupe_.emplace(dedupe_key, std::move(bytes));
    const std::string outcome = is_tick ? ApplyTick(e) : ApplyMemberEvent(e);
    ++result_.outcome_reasons[outcome];
  }

  RefResult Finish() {
    for (auto& [key, m] : members_) {
      int64_t available = 0;
      int64_t pending = 0;
      for (const Lot& lot : m.lots) {
        (lot.pending ? pending : available) += lot.remaining_points;
      }
      m.state.available_points = available - m.state.debt_points;
      m.state.pending_points = pending;
      result_.members.emplace(key, m.state);
    }
    return std::move(result_);
  }

 private:
  // SPEC §7 in order. Returns the DLQ reason, or "" when the event is valid.
  std::string Validate(const std::string& line, Event* e) const {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(line, e, options).ok()) {
      return "MALFORMED";
    }
    const std::vector<StringField> strings = StringFields(*e);
    std::vector<std::vector<uint32_t>> decoded(strings.size());
    for (size_t i = 0; i < strings.size(); ++i) {
      if (!DecodeUtf8(*strings[i].value, &decoded[i])) return "MALFORMED";
    }

    if (line.size() > kRecordBytesMax) return "OVERSIZED";
    if (e->has_purchase() && e->purchase().items_size() > kLineItemsMax) {
      return "OVERSIZED";
    }

    const bool is_tick = e->body_case() == Event::kTick;
    if (e->event_id().empty() || e->program_id().empty() || !e->has_occurred_at() ||
        e->body_case() == Event::BODY_NOT_SET || (!is_tick && e->member_id().empty())) {
      return "MISSING_FIELD";
    }
    switch (e->body_case()) {
      case Event::kPurchase:
        if (e->purchase().order_id().empty()) return "MISSING_FIELD";
        break;
      case Event::kRefund:
        if (e->refund().order_id().empty()) return "MISSING_FIELD";
        break;
      case Event::kAdjustment:
        if (e->adjustment().reason().empty()) return "MISSING_FIELD";
        break;
      case Event::kMembership:
        if (e->membership().plan_id().empty()) return "MISSING_FIELD";
        break;
      case Event::kTick:
        if (!e->tick().has_now()) return "MISSING_FIELD";
        break;
      default:
        break;
    }

    for (size_t i = 0; i < strings.size(); ++i) {
      if (strings[i].value->size() > strings[i].bytes_max) return "BAD_ID";
      for (uint32_t cp : decoded[i]) {
        if (IsControl(cp)) return "BAD_ID";
      }
    }
    if (is_tick && !e->member_id().empty()) return "BAD_ID";

    auto program_it = programs_.find(e->program_id());
    if (program_it == programs_.end()) return "UNKNOWN_PROGRAM";
    const Program& program = program_it->second.program;

    if (!TimeInRange(e->occurred_at())) return "BAD_TIME";
    if (is_tick && !TimeInRange(e->tick().now())) return "BAD_TIME";

    switch (e->body_case()) {
      case Event::kPurchase: {
        const auto& pu = e->purchase();
        if (pu.amount_minor() <= 0 || pu.amount_minor() > kAmountMinorMax) {
          return "BAD_AMOUNT";
        }
        if (pu.items_size() > 0) {
          __int128 sum = 0;
          for (const auto& item : pu.items()) {
            if (item.quantity() < 1 || item.amount_minor() < 0) {
              return "BAD_AMOUNT";
            }
            sum += item.amount_minor();
          }
          if (sum != pu.amount_minor()) return "BAD_AMOUNT";
        }
        break;
      }
      case Event::kEngagement:
        if (e->engagement().action() == "nps" &&
            (e->engagement().score() < 0 || e->engagement().score() > 10)) {
          return "BAD_AMOUNT";
        }
        break;
      case Event::kRedemption: {
        const auto& r = e->redemption();
        const bool has_reward = !r.reward_id().empty();
        const bool has_points = r.points() != 0;
        if (has_reward == has_points) return "BAD_AMOUNT";
        if (has_points && (r.points() <= 0 || r.points() > kPointsPerEventMax)) {
          return "BAD_AMOUNT";
        }
        break;
      }
      case Event::kRefund:
        if (e->refund().amount_minor() <= 0 || e->refund().amount_minor() > kAmountMinorMax) {
          return "BAD_AMOUNT";
        }
        break;
      case Event::kAdjustment: {
        const int64_t points = e->adjustment().points();
        if (points == 0 || points > kPointsPerEventMax || points < -kPointsPerEventMax) {
          return "BAD_AMOUNT";
        }
        break;
      }
      case Event::kMembership:
        if (FindPlan(program, e->membership().plan_id()) == nullptr) {
          return "BAD_AMOUNT";
        }
        break;
      default:
        break;
    }

    if (e->body_case() == Event::kPurchase && e->purchase().currency() != program.currency()) {
      return "CURRENCY_MISMATCH";
    }
    return "";
  }

  static const loyalty::v1::PaidPlan* FindPlan(const Program& program, const std::string& plan_id) {
    for (const auto& plan : program.paid_plans()) {
      if (plan.plan_id() == plan_id) return &plan;
    }
    return nullptr;
  }

  // --- Ticks -----------------------------------------------------------------

  std::string ApplyTick(const Event& e) {
    ProgramModel& p = programs_.at(e.program_id());
    const int64_t now = ToNanos(e.tick().now());
    if (now <= p.tick_time_ns) return "IGNORED:STALE_TICK";
    p.tick_time_ns = now;
    // Every member of this program in the partition.
    for (auto it = members_.lower_bound({e.program_id(), ""});
         it != members_.end() && it->first.first == e.program_id(); ++it) {
      Mature(&it->second, now);
    }
    return "APPLIED";
  }

  // --- Lots ------------------------------------------------------------------

  static void PayDebt(MemberModel* m, Lot* lot) {
    const int64_t paid = std::min(m->state.debt_points, lot->remaining_points);
    lot->remaining_points -= paid;
    m->state.debt_points -= paid;
  }

  static void DropEmptyLots(MemberModel* m) {
    std::erase_if(m->lots, [](const Lot& lot) { return lot.remaining_points == 0; });
  }

  static Lot* FindLot(MemberModel* m, int64_t lot_id) {
    for (Lot& lot : m->lots) {
      if (lot.lot_id == lot_id) return &lot;
    }
    return nullptr;
  }

  // REQUIRES: points > 0. Returns the new lot's id.
  static int64_t AddLot(const ProgramModel& p, MemberModel* m, int64_t points,
                        int64_t available_at_ns, bool pending) {
    Lot lot;
    lot.lot_id = m->next_lot_id++;
    lot.remaining_points = points;
    lot.available_at_ns = available_at_ns;
    lot.expires_at_ns = ExpiresAt(p, available_at_ns);
    lot.pending = pending;
    if (!pending) PayDebt(m, &lot);
    m->lots.push_back(lot);
    return lot.lot_id;
  }

  // Every maturity of `m` due at or before `upto_ns`, in due-time order, ties
  // by lot creation, a release before the expiry of the same lot.
  static void Mature(MemberModel* m, int64_t upto_ns) {
    enum Kind { kRelease = 0, kExpiry = 1 };
    std::vector<std::tuple<int64_t, int64_t, int>> due;  // (due, lot_id, kind)
    for (const Lot& lot : m->lots) {
      if (lot.pending && lot.available_at_ns <= upto_ns) {
        due.emplace_back(lot.available_at_ns, lot.lot_id, kRelease);
      }
      if (lot.expires_at_ns.has_value() && *lot.expires_at_ns <= upto_ns) {
        due.emplace_back(*lot.expires_at_ns, lot.lot_id, kExpiry);
      }
    }
    std::sort(due.begin(), due.end());
    for (const auto& [due_ns, lot_id, kind] : due) {
      Lot* lot = FindLot(m, lot_id);
      if (kind == kRelease) {
        lot->pending = false;
        PayDebt(m, lot);
      } else {
        m->state.expired_points += lot->remaining_points;
        lot->remaining_points = 0;
        lot->pending = false;
      }
    }
    DropEmptyLots(m);
  }

  static int64_t AvailablePoints(const MemberModel& m) {
    int64_t sum = 0;
    for (const Lot& lot : m.lots) {
      if (!lot.pending) sum += lot.remaining_points;
    }
    return sum - m.state.debt_points;
  }

  // Takes up to `points` from available lots in spending order: expires_at
  // (never-expiring last), then creation. Returns what was taken.
  static int64_t SpendFifo(MemberModel* m, int64_t points) {
    std::vector<Lot*> order;
    for (Lot& lot : m->lots) {
      if (!lot.pending && lot.remaining_points > 0) order.push_back(&lot);
    }
    std::sort(order.begin(), order.end(), [](const Lot* a, const Lot* b) {
      const auto key = [](const Lot* l) {
        return std::make_tuple(l->expires_at_ns.has_value() ? 0 : 1, l->expires_at_ns.value_or(0),
                               l->lot_id);
      };
      return key(a) < key(b);
    });
    int64_t taken = 0;
    for (Lot* lot : order) {
      if (taken == points) break;
      const int64_t take = std::min(points - taken, lot->remaining_points);
      lot->remaining_points -= take;
      taken += take;
    }
    return taken;
  }

  // FIFO, then the shortfall becomes debt (allow_negative_balance) or is
  // written off. Returns what was taken, debt included, write-off excluded.
  static int64_t TakeWithDebt(const ProgramModel& p, MemberModel* m, int64_t points) {
    int64_t taken = SpendFifo(m, points);
    const int64_t shortfall = points - taken;
    if (shortfall > 0 && p.allow_negative_balance) {
      m->state.debt_points += shortfall;
      taken += shortfall;
    }
    return taken;
  }

  // --- Member events ---------------------------------------------------------

  std::string ApplyMemberEvent(const Event& e) {
    ProgramModel& p = programs_.at(e.program_id());
    auto [it, created] = members_.try_emplace({e.program_id(), e.member_id()});
    MemberModel& m = it->second;
    if (created) {
      m.state.program_id = e.program_id();
      m.state.member_id = e.member_id();
      if (p.program.tiers_size() > 0) {
        m.state.tier_id = p.program.tiers(0).tier_id();
      }
    }
    const int64_t occurred_ns = ToNanos(e.occurred_at());
    const int64_t t = std::max({occurred_ns, m.clock_ns.value_or(occurred_ns), p.tick_time_ns});
    Mature(&m, t);
    m.clock_ns = t;

    std::string outcome;
    const bool grows = e.has_purchase() || e.has_engagement() || e.has_adjustment();
    if (grows && NearCounterLimit(m.state)) {
      DropEmptyLots(&m);
      return "REJECTED:COUNTER_LIMIT";
    }
    switch (e.body_case()) {
      case Event::kPurchase:
        outcome = ApplyPurchase(p, &m, e, t, occurred_ns);
        break;
      case Event::kEngagement:
        outcome = ApplyEngagement(p, &m, e, t, occurred_ns);
        break;
      case Event::kRedemption:
        outcome = ApplyRedemption(p, &m, e);
        break;
      case Event::kRefund:
        outcome = ApplyRefund(p, &m, e);
        break;
      case Event::kAdjustment:
        outcome = ApplyAdjustment(p, &m, e, t);
        break;
      case Event::kMembership:
        outcome = ApplyMembership(p, &m, e, t);
        break;
      default:
        outcome = "UNREACHABLE";
        break;
    }
    DropEmptyLots(&m);
    return outcome;
  }

  static int64_t CategoryBp(const Program& program, const std::string& category) {
    for (const auto& cm : program.category_multipliers()) {
      if (cm.category() == category) return cm.multiplier_bp();
    }
    return kBpOne;
  }

  std::string ApplyPurchase(const ProgramModel& p, MemberModel* m, const Event& e, int64_t t,
                            int64_t occurred_ns) {
    const Program& program = p.program;
    const auto& pu = e.purchase();

    // base = floor(Σ amount_i × cat_bp_i × N / (M × 10000)).
    __int128 weighted = 0;
    if (pu.items_size() == 0) {
      weighted = static_cast<__int128>(pu.amount_minor()) * CategoryBp(program, "");
    } else {
      for (const auto& item : pu.items()) {
        weighted +=
            static_cast<__int128>(item.amount_minor()) * CategoryBp(program, item.category());
      }
    }
    __int128 base = 0;
    if (program.earn().per_minor() > 0) {
      const __int128 divisor = static_cast<__int128>(program.earn().per_minor()) * kBpOne;
      base = FloorDiv(weighted * program.earn().points(), divisor);
    }
    // × the first tier's multiplier (tiers are not evaluated yet).
    const int64_t tier_bp =
        program.tiers_size() > 0 ? program.tiers(0).earn_multiplier_bp() : kBpOne;
    const int64_t points = static_cast<int64_t>(FloorDiv(base * tier_bp, kBpOne));

    Order order;
    order.amount_minor = pu.amount_minor();
    order.points = points;
    if (points > 0) {
      const int64_t pending_ns = int64_t{program.pending_days()} * kSecondsPerDay * kNanosPerSecond;
      order.lot_id = AddLot(p, m, points, t + pending_ns, pending_ns > 0);
      m->state.lifetime_earned_points += points;
    }
    orders_.emplace(Key3{e.program_id(), e.member_id(), pu.order_id()}, order);

    if (!program.first_purchase_reward_id().empty() && !m->has_purchased) {
      ++m->state.rewards_issued[program.first_purchase_reward_id()];
    }
    m->has_purchased = true;
    ++m->state.purchase_count;
    m->state.spend_minor += pu.amount_minor();
    RefMember& s = m->state;
    if (!s.first_purchase_at_ns || occurred_ns < *s.first_purchase_at_ns) {
      s.first_purchase_at_ns = occurred_ns;
    }
    if (!s.last_purchase_at_ns || occurred_ns > *s.last_purchase_at_ns) {
      s.last_purchase_at_ns = occurred_ns;
    }
    return "APPLIED";
  }

  static std::string ApplyEngagement(const ProgramModel& p, MemberModel* m, const Event& e,
                                     int64_t t, int64_t occurred_ns) {
    const auto& en = e.engagement();
    const loyalty::v1::EngagementRule* rule = nullptr;
    for (const auto& r : p.program.engagement_rules()) {
      if (r.action() == en.action()) {
        rule = &r;
        break;
      }
    }
    if (rule == nullptr) return "IGNORED:NO_RULE";
    if (rule->unique_per_ref()) {
      if (en.ref().empty()) return "IGNORED:EMPTY_REF";
      if (m->used_refs.count({en.action(), en.ref()}) > 0) {
        return "IGNORED:REF_ALREADY_USED";
      }
    }
    const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixNanos(occurred_ns), p.tz);
    const std::pair<std::string, absl::CivilDay> day_key{en.action(), day};
    auto count_it = m->engagements_per_day.find(day_key);
    const int64_t count = count_it == m->engagements_per_day.end() ? 0 : count_it->second;
    if (rule->max_per_local_day() > 0 && count >= rule->max_per_local_day()) {
      return "IGNORED:DAILY_CAP";
    }
    m->engagements_per_day[day_key] = count + 1;
    if (rule->unique_per_ref()) m->used_refs.insert({en.action(), en.ref()});
    if (rule->points() > 0) {
      AddLot(p, m, rule->points(), t, /*pending=*/false);
      m->state.lifetime_earned_points += rule->points();
    }
    return "APPLIED";
  }

  static std::string ApplyRedemption(const ProgramModel& p, MemberModel* m, const Event& e) {
    const auto& r = e.redemption();
    int64_t cost = r.points();
    if (!r.reward_id().empty()) {
      const loyalty::v1::Reward* reward = nullptr;
      for (const auto& candidate : p.program.rewards()) {
        if (candidate.reward_id() == r.reward_id()) {
          reward = &candidate;
          break;
        }
      }
      if (reward == nullptr) return "REJECTED:UNKNOWN_REWARD";
      if (reward->cost_points() == 0) return "REJECTED:NOT_REDEEMABLE";
      if (!reward->min_tier_id().empty()) {
        // The member is in tier 0; the reward needs the rank of min_tier_id.
        int min_rank = p.program.tiers_size();  // unknown tier: unreachable
        for (int i = 0; i < p.program.tiers_size(); ++i) {
          if (p.program.tiers(i).tier_id() == reward->min_tier_id()) {
            min_rank = i;
            break;
          }
        }
        if (min_rank > 0) return "REJECTED:TIER_TOO_LOW";
      }
      cost = reward->cost_points();
    }
    if (AvailablePoints(*m) < cost) return "REJECTED:INSUFFICIENT_POINTS";
    SpendFifo(m, cost);
    m->state.redeemed_points += cost;
    return "APPLIED";
  }

  std::string ApplyRefund(const ProgramModel& p, MemberModel* m, const Event& e) {
    auto it = orders_.find(Key3{e.program_id(), e.member_id(), e.refund().order_id()});
    if (it == orders_.end()) return "IGNORED:UNKNOWN_ORDER";
    Order& order = it->second;
    if (order.refunded_minor >= order.amount_minor) {
      return "IGNORED:NOTHING_TO_REFUND";
    }
    const int64_t before = order.refunded_minor;
    const int64_t after = std::min(order.amount_minor, before + e.refund().amount_minor());
    const __int128 p128 = order.points;
    const int64_t clawback = static_cast<int64_t>(FloorDiv(p128 * after, order.amount_minor) -
                                                  FloorDiv(p128 * before, order.amount_minor));
    order.refunded_minor = after;

    int64_t taken = 0;
    if (clawback > 0) {
      // The order's own lot first (pending or available), ...
      if (Lot* own = order.lot_id == 0 ? nullptr : FindLot(m, order.lot_id)) {
        taken = std::min(clawback, own->remaining_points);
        own->remaining_points -= taken;
      }
      // ... then FIFO, then debt or write-off.
      if (clawback > taken) taken += TakeWithDebt(p, m, clawback - taken);
    }
    m->state.clawed_back_points += taken;
    m->state.spend_minor -= after - before;
    if (after == order.amount_minor) --m->state.purchase_count;
    return "APPLIED";
  }

  static std::string ApplyAdjustment(const ProgramModel& p, MemberModel* m, const Event& e,
                                     int64_t t) {
    const int64_t points = e.adjustment().points();
    if (points > 0) {
      AddLot(p, m, points, t, /*pending=*/false);
      m->state.adjusted_points += points;
    } else {
      m->state.adjusted_points -= TakeWithDebt(p, m, -points);
    }
    return "APPLIED";
  }

  // docs/semantics.md "Limits that refuse instead of overflowing".
  static bool NearCounterLimit(const RefMember& s) {
    const int64_t limit = INT64_MAX - 10 * kPointsPerEventMax;
    for (int64_t v : {s.lifetime_earned_points, s.adjusted_points, s.debt_points, s.redeemed_points,
                      s.expired_points, s.clawed_back_points, s.spend_minor, s.purchase_count}) {
      if (v > limit || v < -limit) return true;
    }
    return false;
  }

  static std::string ApplyMembership(const ProgramModel& p, MemberModel* m, const Event& e,
                                     int64_t t) {
    const loyalty::v1::PaidPlan* plan = FindPlan(p.program, e.membership().plan_id());
    const int64_t from = std::max(m->state.vip_until_ns.value_or(t), t);
    const int64_t until = AddLocalMonths(from, plan->months(), p.tz);
    if (until >= kTimeEndSeconds * kNanosPerSecond) return "REJECTED:VIP_UNTIL_LIMIT";
    m->state.vip_until_ns = until;
    return "APPLIED";
  }

  std::map<std::string, ProgramModel> programs_;
  std::map<std::pair<std::string, std::string>, MemberModel> members_;
  std::map<Key3, std::string> dedupe_;  // -> deterministic serialization
  std::map<Key3, Order> orders_;        // (program, member, order_id)
  RefResult result_;
};

}  // namespace

RefResult Fold(const std::vector<std::string>& lines,
               const std::vector<loyalty::v1::Program>& programs) {
  Folder folder(programs);
  for (const std::string& line : lines) folder.Line(line);
  return folder.Finish();
}

}  // namespace loyalty::model
