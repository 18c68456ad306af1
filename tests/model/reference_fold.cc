// The reference fold: SPEC §6–§7 and docs/semantics.md, written plainly.
// See reference_fold.h. Nothing here is shared with engine/ on purpose.

#include "tests/model/reference_fold.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/program.pb.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"

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

// A promotion's bounds, parsed once from the program text.
struct PromotionBounds {
  std::optional<int64_t> from_ns, until_ns;  // nullopt = unbounded
  int start_minute = 0;                      // local minute of day
  int end_minute = 24 * 60;                  // "24:00" = the end of the day
};

struct ProgramModel {
  Program program;
  absl::TimeZone tz;
  bool allow_negative_balance = true;
  int64_t tick_time_ns = 0;                 // the largest Tick.now seen (0 = none)
  std::vector<PromotionBounds> promotions;  // parallel to program.promotions()
};

// SPEC §6 Lots. Available lots: one per expires_at. Pending lots: one per
// (available_at, expires_at). A lot exists only while it holds points.
struct Lot {
  int64_t lot_id = 0;  // per member, creation order
  int64_t remaining_points = 0;
  int64_t available_at_ns = 0;           // pending: the release instant
  std::optional<int64_t> expires_at_ns;  // nullopt = never
  bool pending = false;
};

// The tier metrics of one local calendar month of t.
struct MonthBucket {
  int64_t spend_minor = 0, purchase_count = 0, earned_points = 0;
};

struct MemberModel {
  RefMember state;  // available/pending/held_until are computed by Public()
  std::optional<int64_t> clock_ns;
  int64_t next_lot_id = 1;
  std::vector<Lot> lots;  // creation order; a lot with 0 points is dropped at once
  // Pending lot id -> the available lot (of its expiry) it merged into when
  // it was released (a refund follows its purchase's points there).
  std::map<int64_t, int64_t> merged_into;
  bool has_purchased = false;  // ever, refunds notwithstanding
  // (action, local day of occurred_at) -> applied engagements.
  std::map<std::pair<std::string, absl::CivilDay>, int64_t> engagements_per_day;
  std::set<std::pair<std::string, std::string>> used_refs;  // (action, ref)
  // (random rule_id, local day of occurred_at) -> paying wins.
  std::map<std::pair<std::string, absl::CivilDay>, int64_t> random_wins_per_day;
  // Tiers. `held_tier` is H of docs/semantics.md (an index into tiers);
  // `held_until_ns` is set while H > 0 and is the grace review's due time.
  int held_tier = 0;
  std::optional<int64_t> held_until_ns;
  // The paid plan's tier while a plan runs (its end is a maturity due at
  // state.vip_until_ns); -1 = no running plan.
  int paid_tier = -1;
  // Local month index (year * 12 + month - 1) -> metrics. Every month is kept
  // for ever: months before the window are never summed again (t only grows),
  // so dropping them, as the engine does, cannot change a metric.
  std::map<int64_t, MonthBucket> months;
};

struct Order {
  int64_t amount_minor = 0;
  int64_t points = 0;  // what the purchase earned
  int64_t refunded_minor = 0;
  int64_t lot_id = 0;  // the lot its EARN named; 0 = none (earned 0 points)
  int64_t month = 0;   // local month index of the purchase's t
};

using Key3 = std::tuple<std::string, std::string, std::string>;

// The first instant of the local civil time `cs`: when `cs` was skipped by a
// transition, the transition itself.
absl::Time FirstInstant(absl::CivilSecond cs, absl::TimeZone tz) {
  const absl::TimeZone::TimeInfo info = tz.At(cs);
  if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) return info.trans;
  return info.pre;
}

// The first instant of the local day after the one containing `ns`.
int64_t NextLocalDayStart(int64_t ns, absl::TimeZone tz) {
  const absl::CivilDay next = absl::ToCivilDay(absl::FromUnixNanos(ns), tz) + 1;
  return absl::ToUnixNanos(FirstInstant(absl::CivilSecond(next), tz));
}

// SPEC §6 Lots: a lot available at `a` expires at the first instant of the
// local day after the one containing a + days × 86400 s, or with
// round_to_month_end of the local month after the one containing it.
std::optional<int64_t> ExpiresAt(const ProgramModel& p, int64_t available_at_ns) {
  const auto& ex = p.program.expiration();
  if (ex.mode() != loyalty::v1::Expiration::FIXED_DAYS) return std::nullopt;
  const int64_t e = available_at_ns + int64_t{ex.days()} * kSecondsPerDay * kNanosPerSecond;
  if (!ex.round_to_month_end()) return NextLocalDayStart(e, p.tz);
  const absl::CivilMonth next = absl::ToCivilMonth(absl::FromUnixNanos(e), p.tz) + 1;
  return absl::ToUnixNanos(FirstInstant(absl::CivilSecond(next), p.tz));
}

// SPEC §6 Lots: purchase points of effective time `t` become available at
// the first instant of the local day after the one containing
// t + pending_days × 86400 s, at `t` itself when pending_days is 0.
int64_t PendingUntil(const ProgramModel& p, int64_t t) {
  const int64_t days = p.program.pending_days();
  if (days == 0) return t;
  return NextLocalDayStart(t + days * kSecondsPerDay * kNanosPerSecond, p.tz);
}

// `ns` + `months` local civil months, day clamped to the month's end, local
// wall time kept (as absl::FromCivil maps it: a skipped wall time to the
// transition, a repeated one to its first instant), sub-second part kept.
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

// The local calendar month of `ns` as year * 12 + (month - 1).
int64_t LocalMonth(int64_t ns, absl::TimeZone tz) {
  const absl::CivilMonth m = absl::ToCivilMonth(absl::FromUnixNanos(ns), tz);
  return m.year() * 12 + (m.month() - 1);
}

absl::CivilDay LocalDay(int64_t ns, absl::TimeZone tz) {
  return absl::ToCivilDay(absl::FromUnixNanos(ns), tz);
}

// "HH:MM" -> minutes since midnight; `empty` for "". The program loader has
// validated the text, so a plain parse is enough.
int ParseLocalMinute(const std::string& hh_mm, int empty) {
  if (hh_mm.size() != 5) return empty;
  return ((hh_mm[0] - '0') * 10 + (hh_mm[1] - '0')) * 60 + (hh_mm[3] - '0') * 10 + (hh_mm[4] - '0');
}

std::optional<int64_t> ParseInstant(const std::string& rfc3339) {
  if (rfc3339.empty()) return std::nullopt;
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) return std::nullopt;
  return absl::ToUnixNanos(t);
}

// Monday = 1 ... Sunday = 7, as Promotion.DayOfWeek numbers them.
int DayOfWeekNumber(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return 1;
    case absl::Weekday::tuesday:
      return 2;
    case absl::Weekday::wednesday:
      return 3;
    case absl::Weekday::thursday:
      return 4;
    case absl::Weekday::friday:
      return 5;
    case absl::Weekday::saturday:
      return 6;
    case absl::Weekday::sunday:
      return 7;
  }
  return 0;
}

// SPEC §6 "Random rewards": u = big-endian uint64 of the first 8 bytes of
// HMAC-SHA256(key = random_seed, msg = rule_id "\0" event_id).
uint64_t RandomDraw(const std::string& random_seed, const std::string& rule_id,
                    const std::string& event_id) {
  std::string msg = rule_id;
  msg.push_back('\0');
  msg += event_id;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), random_seed.data(), static_cast<int>(random_seed.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &mac_len);
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | mac[i];
  return u;
}

bool HasItemOfCategory(const loyalty::v1::Purchase& purchase, const std::string& category) {
  for (const auto& item : purchase.items()) {
    if (item.category() == category) return true;
  }
  return false;
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
      for (const auto& promo : program.promotions()) {
        PromotionBounds b;
        b.from_ns = ParseInstant(promo.valid_from());
        b.until_ns = ParseInstant(promo.valid_until());
        b.start_minute = ParseLocalMinute(promo.start_local(), 0);
        b.end_minute = ParseLocalMinute(promo.end_local(), 24 * 60);
        p.promotions.push_back(b);
      }
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
    if (is_tick) {
      ApplyTick(e);
    } else {
      ApplyMemberEvent(e);
    }
  }

  RefResult Finish() {
    for (const auto& [key, m] : members_) result_.members.emplace(key, Public(m));
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
    if (MissingBodyField(*e)) return "MISSING_FIELD";

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

    if (BadAmount(*e, program)) return "BAD_AMOUNT";

    if (e->body_case() == Event::kPurchase && e->purchase().currency() != program.currency()) {
      return "CURRENCY_MISMATCH";
    }
    return "";
  }

  // The field of its own each kind of event requires (SPEC §7 MISSING_FIELD).
  static bool MissingBodyField(const Event& event) {
    switch (event.body_case()) {
      case Event::kPurchase:
        if (event.purchase().order_id().empty()) return true;
        break;
      case Event::kRefund:
        if (event.refund().order_id().empty()) return true;
        break;
      case Event::kAdjustment:
        if (event.adjustment().reason().empty()) return true;
        break;
      case Event::kMembership:
        if (event.membership().plan_id().empty()) return true;
        break;
      case Event::kTick:
        if (!event.tick().has_now()) return true;
        break;
      case Event::kEngagement:
      case Event::kRedemption:
      case Event::BODY_NOT_SET:
        break;
    }
    return false;
  }

  // The amounts and references SPEC §7 BAD_AMOUNT checks.
  static bool BadAmount(const Event& event, const Program& program) {
    switch (event.body_case()) {
      case Event::kPurchase: {
        const auto& pu = event.purchase();
        if (pu.amount_minor() <= 0 || pu.amount_minor() > kAmountMinorMax) {
          return true;
        }
        if (pu.items_size() > 0) {
          __int128 sum = 0;
          for (const auto& item : pu.items()) {
            if (item.quantity() < 1 || item.amount_minor() < 0) {
              return true;
            }
            sum += item.amount_minor();
          }
          if (sum != pu.amount_minor()) return true;
        }
        break;
      }
      case Event::kEngagement:
        if (event.engagement().action() == "nps" &&
            (event.engagement().score() < 0 || event.engagement().score() > 10)) {
          return true;
        }
        break;
      case Event::kRedemption: {
        const auto& r = event.redemption();
        const bool has_reward = !r.reward_id().empty();
        const bool has_points = r.points() != 0;
        if (has_reward == has_points) return true;
        if (has_points && (r.points() <= 0 || r.points() > kPointsPerEventMax)) {
          return true;
        }
        break;
      }
      case Event::kRefund:
        if (event.refund().amount_minor() <= 0 || event.refund().amount_minor() > kAmountMinorMax) {
          return true;
        }
        break;
      case Event::kAdjustment: {
        const int64_t points = event.adjustment().points();
        if (points == 0 || points > kPointsPerEventMax || points < -kPointsPerEventMax) {
          return true;
        }
        break;
      }
      case Event::kMembership:
        if (FindPlan(program, event.membership().plan_id()) == nullptr) {
          return true;
        }
        break;
      case Event::kTick:
      case Event::BODY_NOT_SET:
        break;
    }
    return false;
  }

  static const loyalty::v1::PaidPlan* FindPlan(const Program& program, const std::string& plan_id) {
    for (const auto& plan : program.paid_plans()) {
      if (plan.plan_id() == plan_id) return &plan;
    }
    return nullptr;
  }

  // --- Outcomes --------------------------------------------------------------

  // The member's public state (MemberState but version).
  static RefMember Public(const MemberModel& m) {
    RefMember s = m.state;
    s.available_points = -m.state.debt_points;
    s.pending_points = 0;
    for (const Lot& lot : m.lots) {
      (lot.pending ? s.pending_points : s.available_points) += lot.remaining_points;
    }
    s.tier_held_until_ns = m.held_tier > 0 ? m.held_until_ns : std::nullopt;
    return s;
  }

  // available + pending (what the ledger entries sum to).
  static int64_t Holding(const MemberModel& m) {
    const RefMember s = Public(m);
    return s.available_points + s.pending_points;
  }

  static RefOutcome NewOutcome(const Event& e, const std::string& member_id,
                               const std::string& status) {
    RefOutcome o;
    o.program_id = e.program_id();
    o.member_id = member_id;
    o.event_id = e.event_id();
    o.status = status;
    return o;
  }

  void Emit(RefOutcome o) {
    ++result_.outcome_reasons[o.status];
    result_.outcomes.push_back(std::move(o));
  }

  void AddLotEntry(const char* type, int64_t lot_id, int64_t points, int64_t at_ns) {
    out_->lot_entries.push_back({type, lot_id, points, at_ns});
  }

  // --- Ticks -----------------------------------------------------------------

  // The tick's maturities: one APPLIED:MATURED outcome per member of its
  // program whose public state they changed; then the tick's own outcome.
  void ApplyTick(const Event& e) {
    ProgramModel& p = programs_.at(e.program_id());
    RefOutcome own = NewOutcome(e, "", "APPLIED");
    const int64_t now = ToNanos(e.tick().now());
    if (now <= p.tick_time_ns) {
      own.status = "IGNORED:STALE_TICK";
      Emit(std::move(own));
      return;
    }
    p.tick_time_ns = now;
    // Every member of this program in the partition.
    for (auto it = members_.lower_bound({e.program_id(), ""});
         it != members_.end() && it->first.first == e.program_id(); ++it) {
      MemberModel& m = it->second;
      RefOutcome matured = NewOutcome(e, m.state.member_id, "APPLIED:MATURED");
      const RefMember before = Public(m);
      out_ = &matured;
      Mature(p, &m, now);
      out_ = nullptr;
      const RefMember after = Public(m);
      if (after == before) continue;
      matured.points = (after.available_points + after.pending_points) -
                       (before.available_points + before.pending_points);
      Emit(std::move(matured));
    }
    Emit(std::move(own));
  }

  // --- Tiers -----------------------------------------------------------------

  // The effective tier (index into tiers, -1 without tiers): max(H, the paid
  // tier while a plan runs).
  static int EffectiveTier(const ProgramModel& p, const MemberModel& m) {
    if (p.program.tiers_size() == 0) return -1;
    return std::max(m.held_tier, m.paid_tier);
  }

  static std::string TierId(const ProgramModel& p, int tier) {
    return tier < 0 ? "" : p.program.tiers(tier).tier_id();
  }

  static int TierIndex(const Program& program, const std::string& tier_id) {
    for (int i = 0; i < program.tiers_size(); ++i) {
      if (program.tiers(i).tier_id() == tier_id) return i;
    }
    return -1;
  }

  // Records an effective tier change (a TierChange of the current outcome)
  // if the effective tier is no longer `before`.
  void NoteTierChange(const ProgramModel& p, MemberModel* m, int before, const char* cause,
                      int64_t at_ns) {
    const int after = EffectiveTier(p, *m);
    m->state.tier_id = TierId(p, after);
    if (after == before) return;
    RefTierChange change;
    change.from_tier_id = TierId(p, before);
    change.to_tier_id = m->state.tier_id;
    change.cause = cause;
    change.effective_at_ns = at_ns;
    if (after >= 0) {
      const auto& perks = p.program.tiers(after).perks();
      change.perks.assign(perks.begin(), perks.end());
    }
    out_->tier_changes.push_back(std::move(change));
    ++result_.tier_changes[cause];
    ++result_.rule_hits["tier_to:" + m->state.tier_id];
  }

  // metric(t): Σ of the program's metric over the local months
  // m(t) − window_months + 1 .. m(t).
  static int64_t Metric(const ProgramModel& p, const MemberModel& m, int64_t t) {
    const auto& q = p.program.tier_qualification();
    const int64_t last = LocalMonth(t, p.tz);
    const int64_t first = last - q.window_months() + 1;
    int64_t sum = 0;
    for (auto it = m.months.lower_bound(first); it != m.months.end() && it->first <= last; ++it) {
      switch (q.metric()) {
        case loyalty::v1::TierQualification::SPEND_MINOR:
          sum += it->second.spend_minor;
          break;
        case loyalty::v1::TierQualification::PURCHASE_COUNT:
          sum += it->second.purchase_count;
          break;
        case loyalty::v1::TierQualification::EARNED_POINTS:
          sum += it->second.earned_points;
          break;
        case loyalty::v1::TierQualification::METRIC_UNSPECIFIED:  // refused with the program
        case loyalty::v1::
            TierQualification_Metric_TierQualification_Metric_INT_MIN_SENTINEL_DO_NOT_USE_:
        case loyalty::v1::
            TierQualification_Metric_TierQualification_Metric_INT_MAX_SENTINEL_DO_NOT_USE_:
          break;
      }
    }
    return sum;
  }

  // docs/semantics.md "Tier evaluation", at time `t` (an event's t or a
  // grace review's due time). Programs without tier_qualification have no
  // metric: H stays the first tier.
  void EvaluateTier(const ProgramModel& p, MemberModel* m, int64_t t) {
    if (!p.program.has_tier_qualification() || p.program.tiers_size() == 0) return;
    const int64_t metric = Metric(p, *m, t);
    int q = 0;
    for (int i = 0; i < p.program.tiers_size(); ++i) {
      if (p.program.tiers(i).threshold() <= metric) q = i;
    }
    const int64_t grace_ns =
        int64_t{p.program.tier_qualification().grace_days()} * kSecondsPerDay * kNanosPerSecond;
    const int before = EffectiveTier(p, *m);
    const char* cause = "QUALIFIED";
    if (q > m->held_tier) {
      m->held_tier = q;
      m->held_until_ns = t + grace_ns;
    } else if (q == m->held_tier) {
      m->held_until_ns = t + grace_ns;
    } else if (t >= m->held_until_ns.value_or(0)) {
      m->held_tier = q;
      m->held_until_ns = t + grace_ns;
      cause = "GRACE_ENDED";
    }
    // In the first tier nothing is held (and no review is due).
    if (m->held_tier == 0) m->held_until_ns = std::nullopt;
    NoteTierChange(p, m, before, cause, t);
  }

  static MonthBucket& Bucket(const ProgramModel& p, MemberModel* m, int64_t t) {
    return m->months[LocalMonth(t, p.tz)];
  }

  // --- Lots ------------------------------------------------------------------

  // Points that become available pay debt first.
  static void PayDebt(MemberModel* m, Lot* lot) {
    const int64_t paid = std::min(m->state.debt_points, lot->remaining_points);
    lot->remaining_points -= paid;
    m->state.debt_points -= paid;
  }

  // A lot with no points disappears (its id is never used again).
  static void DropEmptyLots(MemberModel* m) {
    std::erase_if(m->lots, [](const Lot& lot) { return lot.remaining_points == 0; });
  }

  static Lot* FindLot(MemberModel* m, int64_t lot_id) {
    for (Lot& lot : m->lots) {
      if (lot.lot_id == lot_id) return &lot;
    }
    return nullptr;
  }

  // Credits `points` (> 0) at effective time `t`, available at
  // `available_at_ns` (pending while that is after t), to the lot of its key:
  // the available lot of its expiry, or the pending lot of its (available_at,
  // expires_at); a new lot with the next id if none holds points. Available
  // points pay debt first (the lot may be left empty, and then disappears:
  // its id is used all the same). Writes the `type` entry naming the lot and
  // returns the lot's id.
  int64_t Credit(const ProgramModel& p, MemberModel* m, const char* type, int64_t points, int64_t t,
                 int64_t available_at_ns) {
    const bool pending = available_at_ns > t;
    const std::optional<int64_t> expires_at_ns = ExpiresAt(p, available_at_ns);
    Lot* lot = nullptr;
    for (Lot& candidate : m->lots) {
      if (candidate.pending == pending && candidate.expires_at_ns == expires_at_ns &&
          (!pending || candidate.available_at_ns == available_at_ns)) {
        lot = &candidate;  // at most one lot per key
        break;
      }
    }
    if (lot == nullptr) {
      m->lots.push_back(Lot{.lot_id = m->next_lot_id++,
                            .remaining_points = 0,
                            .available_at_ns = available_at_ns,
                            .expires_at_ns = expires_at_ns,
                            .pending = pending});
      lot = &m->lots.back();
    }
    const int64_t lot_id = lot->lot_id;
    lot->remaining_points += points;
    AddLotEntry(type, lot_id, points, t);
    if (!pending && m->state.debt_points > 0) {
      PayDebt(m, lot);
      ++result_.rule_hits[lot->remaining_points == 0 ? "credit:all_to_debt" : "credit:paid_debt"];
    }
    DropEmptyLots(m);
    return lot_id;
  }

  // A pending lot's release at `due_ns`: a RELEASE entry (0 points); its
  // points pay debt first, the rest merges into the available lot of its
  // expiry (which keeps its id); without one, the released lot becomes that
  // available lot, keeping its own id.
  void Release(MemberModel* m, int64_t lot_id, int64_t due_ns) {
    Lot* lot = FindLot(m, lot_id);
    AddLotEntry("RELEASE", lot_id, 0, due_ns);
    lot->pending = false;
    if (m->state.debt_points > 0) {
      PayDebt(m, lot);
      ++result_.rule_hits[lot->remaining_points == 0 ? "release:all_to_debt" : "release:paid_debt"];
    }
    if (lot->remaining_points > 0) {
      const char* how = "release:kept_id";
      for (Lot& other : m->lots) {
        if (other.pending || other.lot_id == lot_id || other.expires_at_ns != lot->expires_at_ns) {
          continue;
        }
        other.remaining_points += lot->remaining_points;
        lot->remaining_points = 0;
        m->merged_into[lot_id] = other.lot_id;
        how = "release:merged";
        break;
      }
      ++result_.rule_hits[how];
    }
    DropEmptyLots(m);
  }

  // A lot's expiry at `due_ns`: an EXPIRE entry of what it holds.
  void Expire(MemberModel* m, int64_t lot_id, int64_t due_ns) {
    Lot* lot = FindLot(m, lot_id);
    m->state.expired_points += lot->remaining_points;
    AddLotEntry("EXPIRE", lot_id, -lot->remaining_points, due_ns);
    lot->remaining_points = 0;
    DropEmptyLots(m);
  }

  // Every maturity of `m` due at or before `upto_ns`, one at a time, the
  // earliest first. At equal due times: lots first (by lot id, a release
  // before an expiry), then the grace review, then the plan end. A release
  // changes the lots and a grace review sets the next review, which may
  // itself be due by `upto_ns`, so the candidates are looked for again after
  // each one.
  void Mature(const ProgramModel& p, MemberModel* m, int64_t upto_ns) {
    enum Kind { kRelease = 0, kExpiry = 1, kGraceReview = 2, kPlanEnd = 3 };
    while (true) {
      // (due, class, lot_id, kind): class 0 = lots, 1 = review, 2 = plan end.
      std::optional<std::tuple<int64_t, int, int64_t, int>> next;
      const auto consider = [&](std::tuple<int64_t, int, int64_t, int> candidate) {
        if (std::get<0>(candidate) <= upto_ns && (!next || candidate < *next)) next = candidate;
      };
      for (const Lot& lot : m->lots) {
        if (lot.pending) {
          consider({lot.available_at_ns, 0, lot.lot_id, kRelease});
        } else if (lot.expires_at_ns) {
          consider({*lot.expires_at_ns, 0, lot.lot_id, kExpiry});
        }
      }
      if (m->held_tier > 0 && m->held_until_ns) consider({*m->held_until_ns, 1, 0, kGraceReview});
      if (m->paid_tier >= 0 && m->state.vip_until_ns) {
        consider({*m->state.vip_until_ns, 2, 0, kPlanEnd});
      }
      if (!next) break;
      const auto [due_ns, cls, lot_id, kind] = *next;
      if (kind == kRelease) {
        Release(m, lot_id, due_ns);
      } else if (kind == kExpiry) {
        Expire(m, lot_id, due_ns);
      } else if (kind == kGraceReview) {
        EvaluateTier(p, m, due_ns);
      } else {
        const int before = EffectiveTier(p, *m);
        m->paid_tier = -1;
        NoteTierChange(p, m, before, "PLAN_ENDED", due_ns);
      }
    }
  }

  static int64_t AvailablePoints(const MemberModel& m) { return Public(m).available_points; }

  // Takes up to `points` from available lots in spending order: expires_at,
  // never-expiring last (one available lot per expiry, so no further tie).
  // Returns what was taken.
  static int64_t SpendByExpiry(MemberModel* m, int64_t points) {
    std::vector<Lot*> order;
    for (Lot& lot : m->lots) {
      if (!lot.pending) order.push_back(&lot);
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
    DropEmptyLots(m);
    return taken;
  }

  // By expiry, then the shortfall becomes debt (allow_negative_balance) or
  // is written off. Returns what was taken, debt included, write-off
  // excluded.
  static int64_t TakeWithDebt(const ProgramModel& p, MemberModel* m, int64_t points) {
    int64_t taken = SpendByExpiry(m, points);
    const int64_t shortfall = points - taken;
    if (shortfall > 0 && p.allow_negative_balance) {
      m->state.debt_points += shortfall;
      taken += shortfall;
    }
    return taken;
  }

  // --- Member events ---------------------------------------------------------

  void ApplyMemberEvent(const Event& e) {
    ProgramModel& p = programs_.at(e.program_id());
    auto [it, created] = members_.try_emplace({e.program_id(), e.member_id()});
    MemberModel& m = it->second;
    if (created) {
      m.state.program_id = e.program_id();
      m.state.member_id = e.member_id();
      m.state.tier_id = TierId(p, EffectiveTier(p, m));
    }
    const int64_t occurred_ns = ToNanos(e.occurred_at());
    const int64_t t = std::max({occurred_ns, m.clock_ns.value_or(occurred_ns), p.tick_time_ns});
    // The outcome carries the entries and tier changes of the maturities
    // applied before the event too.
    RefOutcome o = NewOutcome(e, e.member_id(), "");
    out_ = &o;
    Mature(p, &m, t);
    m.clock_ns = t;
    const int64_t holding_before = Holding(m);

    // Kept whatever the outcome, rule or not.
    if (e.has_engagement() && e.engagement().action() == "nps") {
      m.state.last_nps_score = e.engagement().score();
      ++result_.rule_hits["nps"];
    }

    std::string outcome;
    const bool grows = e.has_purchase() || e.has_engagement() || e.has_adjustment();
    if (grows && NearCounterLimit(m.state)) {
      outcome = "REJECTED:COUNTER_LIMIT";
    } else {
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
        case Event::kTick:  // ticks go to ApplyTick
        case Event::BODY_NOT_SET:
          outcome = "UNREACHABLE";
          break;
      }
    }
    // After every member event that reaches the apply path, whatever its
    // outcome.
    EvaluateTier(p, &m, t);
    o.status = outcome;
    o.points = Holding(m) - holding_before;
    out_ = nullptr;
    Emit(std::move(o));
  }

  static int64_t CategoryBp(const Program& program, const std::string& category) {
    for (const auto& cm : program.category_multipliers()) {
      if (cm.category() == category) return cm.multiplier_bp();
    }
    return kBpOne;
  }

  // docs/semantics.md "Promotions": valid_from ≤ occurred_at < valid_until,
  // the category, and the weekly window on the local wall clock.
  static bool PromotionMatches(const ProgramModel& p, int index,
                               const loyalty::v1::Purchase& purchase, int64_t occurred_ns) {
    const loyalty::v1::Promotion& promo = p.program.promotions(index);
    const PromotionBounds& b = p.promotions[index];
    if (b.from_ns && occurred_ns < *b.from_ns) return false;
    if (b.until_ns && occurred_ns >= *b.until_ns) return false;
    if (!promo.category().empty() && !HasItemOfCategory(purchase, promo.category())) return false;

    const absl::CivilSecond local = absl::ToCivilSecond(absl::FromUnixNanos(occurred_ns), p.tz);
    const int x = local.hour() * 60 + local.minute();
    const int day = DayOfWeekNumber(absl::CivilDay(local));
    const int day_before = day == 1 ? 7 : day - 1;
    const auto listed = [&](int d) {
      if (promo.days_of_week_size() == 0) return true;
      for (int listed_day : promo.days_of_week()) {
        if (listed_day == d) return true;
      }
      return false;
    };
    if (b.end_minute > b.start_minute) {
      return listed(day) && b.start_minute <= x && x < b.end_minute;
    }
    // Past midnight: the evening part on a listed day, the morning part on
    // the day after one.
    return (listed(day) && x >= b.start_minute) || (listed(day_before) && x < b.end_minute);
  }

  void IssueReward(MemberModel* m, const std::string& reward_id, const std::string& source,
                   const std::string& rule_id, int64_t count) {
    m->state.rewards_issued[reward_id] += count;
    result_.issued_rewards[absl::StrCat(source, ":", rule_id, ":", reward_id)] += count;
    out_->issued_rewards.push_back(
        {.source = source, .rule_id = rule_id, .reward_id = reward_id, .count = count});
  }

  // Random rewards of `trigger` (rules in file order) for the event; `matches`
  // says whether a rule's category fits. Paying wins issue the reward and put
  // the bonus into the available lot of its expiry (a BONUS entry), counted
  // in the month bucket of t.
  void DrawRandomRewards(const ProgramModel& p, MemberModel* m, const Event& e,
                         loyalty::v1::RandomReward::Trigger trigger,
                         const std::function<bool(const std::string&)>& matches, int64_t t,
                         int64_t occurred_ns) {
    for (const auto& rule : p.program.random_rewards()) {
      if (rule.on() != trigger || !(rule.category().empty() || matches(rule.category()))) {
        continue;
      }
      const uint64_t u = RandomDraw(p.program.random_seed(), rule.rule_id(), e.event_id());
      if (static_cast<int64_t>(u % 1000000) >= rule.probability_ppm()) continue;
      int64_t& wins = m->random_wins_per_day[{rule.rule_id(), LocalDay(occurred_ns, p.tz)}];
      if (rule.max_per_member_per_local_day() > 0 && wins >= rule.max_per_member_per_local_day()) {
        ++result_.rule_hits["random_capped:" + rule.rule_id()];
        continue;
      }
      ++wins;
      ++result_.rule_hits["random_win:" + rule.rule_id()];
      if (!rule.reward_id().empty()) IssueReward(m, rule.reward_id(), "RANDOM", rule.rule_id(), 1);
      if (rule.bonus_points() > 0) {
        Credit(p, m, "BONUS", rule.bonus_points(), t, t);
        m->state.lifetime_earned_points += rule.bonus_points();
        Bucket(p, m, t).earned_points += rule.bonus_points();
        result_.rule_hits["bonus_points"] += rule.bonus_points();
      }
    }
  }

  // Long on purpose: SPEC §6's purchase, step by step in the SPEC's order,
  // written apart from the engine's (which splits it differently).
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
    __int128 earn = 0;
    if (program.earn().per_minor() > 0) {
      const __int128 divisor = static_cast<__int128>(program.earn().per_minor()) * kBpOne;
      earn = FloorDiv(weighted * program.earn().points(), divisor);
    }
    // × the effective tier before this event (maturities have run).
    const int tier = EffectiveTier(p, *m);
    const int64_t tier_bp = tier < 0 ? kBpOne : program.tiers(tier).earn_multiplier_bp();
    earn = FloorDiv(earn * tier_bp, kBpOne);
    // × each matching promotion's multiplier in file order, then + their
    // bonuses.
    std::vector<int> promotions;
    for (int i = 0; i < program.promotions_size(); ++i) {
      if (PromotionMatches(p, i, pu, occurred_ns)) promotions.push_back(i);
    }
    for (int i : promotions) {
      const int64_t bp = program.promotions(i).multiplier_bp();
      earn = FloorDiv(earn * (bp == 0 ? kBpOne : bp), kBpOne);
    }
    for (int i : promotions) {
      earn += program.promotions(i).bonus_points();
      ++result_.rule_hits["promotion:" + program.promotions(i).promotion_id()];
    }
    const int64_t points = static_cast<int64_t>(earn);

    Order order;
    order.amount_minor = pu.amount_minor();
    order.points = points;
    order.month = LocalMonth(t, p.tz);
    if (points > 0) {
      // One EARN entry into the lot of its (available_at, expires_at).
      order.lot_id = Credit(p, m, "EARN", points, t, PendingUntil(p, t));
      m->state.lifetime_earned_points += points;
    }
    orders_.emplace(Key3{e.program_id(), e.member_id(), pu.order_id()}, order);

    // Punch cards, in file order; the remainder is carried.
    for (const auto& card : program.punch_cards()) {
      int64_t stamps = 0;
      for (const auto& item : pu.items()) {
        if (item.category() == card.category()) stamps += item.quantity();
      }
      if (stamps == 0) continue;
      int64_t& on_card = m->state.stamps[card.card_id()];
      on_card += stamps;
      const int64_t filled = on_card / card.stamps_required();
      on_card %= card.stamps_required();
      if (filled > 0) IssueReward(m, card.reward_id(), "PUNCH_CARD", card.card_id(), filled);
    }
    // Promotions' rewards, once per matching purchase.
    for (int i : promotions) {
      const auto& promo = program.promotions(i);
      if (!promo.reward_id().empty()) {
        IssueReward(m, promo.reward_id(), "PROMOTION", promo.promotion_id(), 1);
      }
    }
    DrawRandomRewards(
        p, m, e, loyalty::v1::RandomReward::PURCHASE,
        [&](const std::string& category) { return HasItemOfCategory(pu, category); }, t,
        occurred_ns);
    if (!program.first_purchase_reward_id().empty() && !m->has_purchased) {
      IssueReward(m, program.first_purchase_reward_id(), "FIRST_PURCHASE", "", 1);
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
    MonthBucket& bucket = Bucket(p, m, t);
    bucket.spend_minor += pu.amount_minor();
    bucket.purchase_count += 1;
    bucket.earned_points += points;
    return "APPLIED";
  }

  std::string ApplyEngagement(const ProgramModel& p, MemberModel* m, const Event& e, int64_t t,
                              int64_t occurred_ns) {
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
    const std::pair<std::string, absl::CivilDay> day_key{en.action(), LocalDay(occurred_ns, p.tz)};
    auto count_it = m->engagements_per_day.find(day_key);
    const int64_t count = count_it == m->engagements_per_day.end() ? 0 : count_it->second;
    if (rule->max_per_local_day() > 0 && count >= rule->max_per_local_day()) {
      return "IGNORED:DAILY_CAP";
    }
    m->engagements_per_day[day_key] = count + 1;
    if (rule->unique_per_ref()) m->used_refs.insert({en.action(), en.ref()});
    if (rule->points() > 0) {
      Credit(p, m, "ENGAGE", rule->points(), t, t);
      m->state.lifetime_earned_points += rule->points();
      Bucket(p, m, t).earned_points += rule->points();
    }
    DrawRandomRewards(
        p, m, e, loyalty::v1::RandomReward::ENGAGEMENT,
        [&](const std::string& category) { return category == en.action(); }, t, occurred_ns);
    return "APPLIED";
  }

  std::string ApplyRedemption(const ProgramModel& p, MemberModel* m, const Event& e) {
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
      if (!reward->min_tier_id().empty() &&
          EffectiveTier(p, *m) < TierIndex(p.program, reward->min_tier_id())) {
        return "REJECTED:TIER_TOO_LOW";
      }
      cost = reward->cost_points();
    }
    if (AvailablePoints(*m) < cost) return "REJECTED:INSUFFICIENT_POINTS";
    SpendByExpiry(m, cost);
    m->state.redeemed_points += cost;
    return "APPLIED";
  }

  // "The lot the purchase's points went into": the lot its EARN named while
  // it exists (still pending, or available: an available credit, or a
  // released lot that became the available lot of its expiry), else the
  // available lot it merged into at its release, while that same lot (same
  // id) exists. A later lot of the same key has a new id and is not it.
  // `which` says which case applied (for rule_hits).
  static Lot* PurchaseLot(MemberModel* m, const Order& order, const char** which) {
    *which = "none";
    if (order.lot_id == 0) return nullptr;
    if (Lot* lot = FindLot(m, order.lot_id)) {
      *which = lot->pending ? "pending" : "available";
      return lot;
    }
    auto merged = m->merged_into.find(order.lot_id);
    if (merged == m->merged_into.end()) return nullptr;
    Lot* lot = FindLot(m, merged->second);
    if (lot != nullptr) *which = "merged";
    return lot;
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
      // The lot the purchase's points went into first (pending or
      // available, at most what it holds; it may hold other events' points
      // too), ...
      const char* which = "none";
      if (Lot* own = PurchaseLot(m, order, &which)) {
        taken = std::min(clawback, own->remaining_points);
        own->remaining_points -= taken;
        DropEmptyLots(m);
      }
      ++result_.rule_hits[absl::StrCat("refund_lot:", which)];
      // ... then by expiry, then debt or write-off.
      if (clawback > taken) taken += TakeWithDebt(p, m, clawback - taken);
    }
    m->state.clawed_back_points += taken;
    m->state.spend_minor -= after - before;
    if (after == order.amount_minor) --m->state.purchase_count;
    // The purchase's month bucket shrinks by the refunded amount and the
    // clawback as computed (a written-off part included: the purchase no
    // longer earned it). Months before the window are never summed again.
    MonthBucket& bucket = m->months[order.month];
    bucket.spend_minor -= after - before;
    bucket.earned_points -= clawback;
    if (after == order.amount_minor) bucket.purchase_count -= 1;
    return "APPLIED";
  }

  std::string ApplyAdjustment(const ProgramModel& p, MemberModel* m, const Event& e, int64_t t) {
    const int64_t points = e.adjustment().points();
    if (points > 0) {
      Credit(p, m, "ADJUST", points, t, t);
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

  std::string ApplyMembership(const ProgramModel& p, MemberModel* m, const Event& e, int64_t t) {
    const loyalty::v1::PaidPlan* plan = FindPlan(p.program, e.membership().plan_id());
    const int64_t from = std::max(m->state.vip_until_ns.value_or(t), t);
    const int64_t until = AddLocalMonths(from, plan->months(), p.tz);
    if (until >= kTimeEndSeconds * kNanosPerSecond) return "REJECTED:VIP_UNTIL_LIMIT";
    m->state.vip_until_ns = until;
    // The plan's tier, or the higher one of a plan still running (an ended
    // plan's tier was dropped by its maturity before this event).
    const int before = EffectiveTier(p, *m);
    m->paid_tier = std::max(m->paid_tier, TierIndex(p.program, plan->tier_id()));
    NoteTierChange(p, m, before, "PLAN_STARTED", t);
    return "APPLIED";
  }

  std::map<std::string, ProgramModel> programs_;
  std::map<std::pair<std::string, std::string>, MemberModel> members_;
  std::map<Key3, std::string> dedupe_;  // -> deterministic serialization
  std::map<Key3, Order> orders_;        // (program, member, order_id)
  RefResult result_;
  // The outcome being built: maturities, credits, tier changes and issued
  // rewards append to it.
  RefOutcome* out_ = nullptr;
};

}  // namespace

std::string Describe(const RefOutcome& o) {
  const auto at = [](int64_t ns) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
  };
  std::string out = absl::StrCat(o.program_id, "/", o.member_id, " ", o.event_id, " ", o.status,
                                 " points ", o.points);
  for (const RefTierChange& c : o.tier_changes) {
    absl::StrAppend(&out, " tier ", c.from_tier_id, ">", c.to_tier_id, ":", c.cause, "@",
                    at(c.effective_at_ns), "[", absl::StrJoin(c.perks, ","), "]");
  }
  for (const RefLotEntry& e : o.lot_entries) {
    absl::StrAppend(&out, " ", e.type, "#", e.lot_id, e.points >= 0 ? "+" : "", e.points, "@",
                    at(e.effective_at_ns));
  }
  for (const RefIssuedReward& r : o.issued_rewards) {
    absl::StrAppend(&out, " issued ", r.source, ":", r.rule_id, ":", r.reward_id, "x", r.count);
  }
  return out;
}

RefResult Fold(const std::vector<std::string>& lines,
               const std::vector<loyalty::v1::Program>& programs) {
  Folder folder(programs);
  for (const std::string& line : lines) folder.Line(line);
  return folder.Finish();
}

}  // namespace loyalty::model
