#include "engine/program/program.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "engine/base/time.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace loyalty {
namespace {

using loyalty::v1::Expiration;
using loyalty::v1::Program;
using loyalty::v1::ProgramVersion;
using loyalty::v1::Promotion;
using loyalty::v1::RandomReward;
using loyalty::v1::TierQualification;

// One step of a field path: `name` or `name[index]`.
struct PathStep {
  std::string field;
  int index = -1;
};

struct ValidationError {
  std::vector<PathStep> path;
  std::string message;

  // The error of a program nested at `prefix` (versions[i].program).
  ValidationError Under(const std::vector<PathStep>& prefix) const {
    ValidationError out{prefix, message};
    out.path.insert(out.path.end(), path.begin(), path.end());
    return out;
  }

  std::string PathString() const {
    std::string out;
    for (const PathStep& s : path) {
      if (!out.empty()) out += ".";
      out += s.field;
      if (s.index >= 0) absl::StrAppend(&out, "[", s.index, "]");
    }
    return out;
  }
};

// Collects the first semantic error of a program.
class Validator {
 public:
  explicit Validator(const Program& p) : p_(p) {}

  std::optional<ValidationError> Run();

 private:
  // Records an error at `path` unless one is recorded already.
  void Fail(std::vector<PathStep> path, std::string message) {
    if (!error_) error_ = ValidationError{std::move(path), std::move(message)};
  }
  void CheckId(std::vector<PathStep> path, absl::string_view id, bool required);
  void CheckRange(std::vector<PathStep> path, int64_t v, int64_t lo, int64_t hi);
  // Fails at the first repeated id of `items` (field[i].id_field).
  template <typename Repeated, typename GetId>
  void Unique(const Repeated& items, const char* field, const char* id_field, GetId get_id);
  bool RewardKnown(absl::string_view id) const;
  bool TierKnown(absl::string_view id) const;
  void CheckBasics();
  void CheckTiers();
  void CheckEngagementRules();
  void CheckPunchCards();
  void CheckPromotions();
  void CheckRandomRewards();
  void CheckRewards();
  void CheckEarnBound();

  const Program& p_;
  std::optional<ValidationError> error_;
};

void Validator::CheckId(std::vector<PathStep> path, absl::string_view id, bool required) {
  if (id.empty()) {
    if (required) Fail(std::move(path), "required");
    return;
  }
  if (id.size() > 128) {
    Fail(std::move(path), absl::StrCat("longer than 128 bytes (", id.size(), ")"));
  } else if (!IsCleanText(id)) {
    Fail(std::move(path), "must be UTF-8 without control characters");
  }
}

void Validator::CheckRange(std::vector<PathStep> path, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    Fail(std::move(path), absl::StrCat("must be in [", lo, ", ", hi, "], got ", v));
  }
}

bool Validator::RewardKnown(absl::string_view id) const {
  return std::any_of(p_.rewards().begin(), p_.rewards().end(),
                     [&](const auto& r) { return r.reward_id() == id; });
}

bool Validator::TierKnown(absl::string_view id) const {
  return std::any_of(p_.tiers().begin(), p_.tiers().end(),
                     [&](const auto& t) { return t.tier_id() == id; });
}

template <typename Repeated, typename GetId>
void Validator::Unique(const Repeated& items, const char* field, const char* id_field,
                       GetId get_id) {
  std::map<std::string, int> seen;
  for (int i = 0; i < items.size(); ++i) {
    std::string id(get_id(items.Get(i)));
    auto [it, inserted] = seen.emplace(id, i);
    if (!inserted) {
      Fail({{field, i}, {id_field, -1}},
           absl::StrCat("duplicate id \"", id, "\" (also ", field, "[", it->second, "])"));
      return;
    }
  }
}

int ParseMinutes(absl::string_view hhmm) {
  if (hhmm.size() != 5 || hhmm[2] != ':') return -1;
  for (int i : {0, 1, 3, 4}) {
    if (hhmm[i] < '0' || hhmm[i] > '9') return -1;
  }
  int h = (hhmm[0] - '0') * 10 + (hhmm[1] - '0');
  int m = (hhmm[3] - '0') * 10 + (hhmm[4] - '0');
  if (h == 24 && m == 0) return 24 * 60;
  if (h > 23 || m > 59) return -1;
  return h * 60 + m;
}

// Worst-case points of one purchase: the largest amount, the largest category
// multiplier, the largest tier multiplier and every promotion at once. Refused
// when it exceeds kPointsPerEventMax, so that earn never overflows.
void Validator::CheckEarnBound() {
  using i128 = __int128;
  i128 bp = kBp;
  for (const auto& c : p_.category_multipliers()) bp = std::max<i128>(bp, c.multiplier_bp());
  i128 points =
      i128{kAmountMinorMax} * bp * p_.earn().points() / (i128{p_.earn().per_minor()} * kBp);
  i128 tier_bp = kBp;
  for (const auto& t : p_.tiers()) tier_bp = std::max<i128>(tier_bp, t.earn_multiplier_bp());
  points = points * tier_bp / kBp;
  i128 bonus = 0;
  for (const auto& promo : p_.promotions()) {
    if (promo.multiplier_bp() > 0) points = points * promo.multiplier_bp() / kBp;
    bonus += promo.bonus_points();
    if (points > kPointsPerEventMax) break;
  }
  // Random rewards' bonus lots are earned by the same event.
  for (const auto& rule : p_.random_rewards()) bonus += rule.bonus_points();
  if (points + bonus > kPointsPerEventMax) {
    Fail({{"earn", -1}},
         absl::StrCat("a purchase of ", kAmountMinorMax, " minor units could earn more than ",
                      kPointsPerEventMax,
                      " points with these rates, multipliers and bonuses (promotions and "
                      "random_rewards bonus_points count)"));
  }
}

// The program's own fields: id, currency, time zone, point value, earn rate and category
// multipliers, pending days and expiration.
void Validator::CheckBasics() {
  CheckId({{"program_id", -1}}, p_.program_id(), /*required=*/true);
  {
    const std::string& c = p_.currency();
    bool ok = c.size() == 3 &&
              std::all_of(c.begin(), c.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
    if (!ok) Fail({{"currency", -1}}, "must be an ISO 4217 code of three upper-case letters");
  }
  if (!p_.timezone().empty()) {
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(p_.timezone(), &tz)) {
      Fail({{"timezone", -1}}, absl::StrCat("unknown IANA time zone \"", p_.timezone(), "\""));
    }
  }
  CheckRange({{"point_value_minor", -1}}, p_.point_value_minor(), 0, kAmountMinorMax);

  if (!p_.has_earn()) Fail({{"earn", -1}}, "required: earn { points: N per_minor: M }");
  CheckRange({{"earn", -1}, {"points", -1}}, p_.earn().points(), 1, 1'000'000);
  CheckRange({{"earn", -1}, {"per_minor", -1}}, p_.earn().per_minor(), 1, kAmountMinorMax);

  for (int i = 0; i < p_.category_multipliers_size(); ++i) {
    const auto& c = p_.category_multipliers(i);
    CheckId({{"category_multipliers", i}, {"category", -1}}, c.category(), true);
    CheckRange({{"category_multipliers", i}, {"multiplier_bp", -1}}, c.multiplier_bp(), 0,
               kMultiplierBpMax);
  }
  Unique(p_.category_multipliers(), "category_multipliers", "category",
         [](const auto& c) { return c.category(); });

  CheckRange({{"pending_days", -1}}, p_.pending_days(), 0, 3650);
  const Expiration& exp = p_.expiration();
  if (exp.mode() == Expiration::FIXED_DAYS) {
    CheckRange({{"expiration", -1}, {"days", -1}}, exp.days(), 1, 36500);
  } else if (exp.days() != 0 || exp.round_to_month_end()) {
    Fail({{"expiration", -1}, {"mode", -1}}, "days and round_to_month_end need mode: FIXED_DAYS");
  }
}

// Tiers (unique ids, first threshold 0, strictly ascending thresholds), their qualification and the
// paid plans.
void Validator::CheckTiers() {
  for (int i = 0; i < p_.tiers_size(); ++i) {
    const auto& t = p_.tiers(i);
    CheckId({{"tiers", i}, {"tier_id", -1}}, t.tier_id(), true);
    if (i == 0 && t.threshold() != 0) {
      Fail({{"tiers", 0}, {"threshold", -1}}, "the first tier must have threshold 0");
    }
    if (i > 0 && t.threshold() <= p_.tiers(i - 1).threshold()) {
      Fail({{"tiers", i}, {"threshold", -1}},
           absl::StrCat("thresholds must ascend (", t.threshold(), " after ",
                        p_.tiers(i - 1).threshold(), ")"));
    }
    CheckRange({{"tiers", i}, {"earn_multiplier_bp", -1}}, t.earn_multiplier_bp(), 1,
               kMultiplierBpMax);
    for (int k = 0; k < t.perks_size(); ++k)
      CheckId({{"tiers", i}, {"perks", k}}, t.perks(k), true);
  }
  Unique(p_.tiers(), "tiers", "tier_id", [](const auto& t) { return t.tier_id(); });
  if (p_.tiers_size() > 1 || p_.has_tier_qualification()) {
    const TierQualification& q = p_.tier_qualification();
    if (p_.tiers_size() == 0) {
      Fail({{"tier_qualification", -1}}, "needs tiers");
    } else if (q.metric() == TierQualification::METRIC_UNSPECIFIED) {
      Fail({{"tier_qualification", -1}, {"metric", -1}},
           "required when there is more than one tier: SPEND_MINOR, PURCHASE_COUNT or "
           "EARNED_POINTS");
    }
    CheckRange({{"tier_qualification", -1}, {"window_months", -1}}, q.window_months(), 1, 120);
    CheckRange({{"tier_qualification", -1}, {"grace_days", -1}}, q.grace_days(), 1, 3650);
  }

  for (int i = 0; i < p_.paid_plans_size(); ++i) {
    const auto& plan = p_.paid_plans(i);
    CheckId({{"paid_plans", i}, {"plan_id", -1}}, plan.plan_id(), true);
    if (!TierKnown(plan.tier_id())) {
      Fail({{"paid_plans", i}, {"tier_id", -1}},
           absl::StrCat("unknown tier \"", plan.tier_id(), "\""));
    }
    CheckRange({{"paid_plans", i}, {"months", -1}}, plan.months(), 1, 1200);
  }
  Unique(p_.paid_plans(), "paid_plans", "plan_id", [](const auto& x) { return x.plan_id(); });
}

// Engagement rules.
void Validator::CheckEngagementRules() {
  for (int i = 0; i < p_.engagement_rules_size(); ++i) {
    const auto& r = p_.engagement_rules(i);
    CheckId({{"engagement_rules", i}, {"action", -1}}, r.action(), true);
    CheckRange({{"engagement_rules", i}, {"points", -1}}, r.points(), 0, 1'000'000'000);
    CheckRange({{"engagement_rules", i}, {"max_per_local_day", -1}}, r.max_per_local_day(), 0,
               1'000'000);
  }
  Unique(p_.engagement_rules(), "engagement_rules", "action",
         [](const auto& x) { return x.action(); });
}

// Punch cards.
void Validator::CheckPunchCards() {
  for (int i = 0; i < p_.punch_cards_size(); ++i) {
    const auto& c = p_.punch_cards(i);
    CheckId({{"punch_cards", i}, {"card_id", -1}}, c.card_id(), true);
    CheckId({{"punch_cards", i}, {"category", -1}}, c.category(), true);
    CheckRange({{"punch_cards", i}, {"stamps_required", -1}}, c.stamps_required(), 1, 1'000'000);
    if (!RewardKnown(c.reward_id())) {
      Fail({{"punch_cards", i}, {"reward_id", -1}},
           absl::StrCat("unknown reward \"", c.reward_id(), "\""));
    }
  }
  Unique(p_.punch_cards(), "punch_cards", "card_id", [](const auto& x) { return x.card_id(); });
}

// Promotions: days, local window, validity dates, effects.
void Validator::CheckPromotions() {
  for (int i = 0; i < p_.promotions_size(); ++i) {
    const Promotion& pr = p_.promotions(i);
    CheckId({{"promotions", i}, {"promotion_id", -1}}, pr.promotion_id(), true);
    CheckId({{"promotions", i}, {"category", -1}}, pr.category(), false);
    uint8_t mask = 0;
    for (int k = 0; k < pr.days_of_week_size(); ++k) {
      int d = pr.days_of_week(k);
      if (d < Promotion::MONDAY || d > Promotion::SUNDAY) {
        Fail({{"promotions", i}, {"days_of_week", k}}, "must be MONDAY .. SUNDAY");
      } else if (mask & (1u << d)) {
        Fail({{"promotions", i}, {"days_of_week", k}}, "listed twice");
      } else {
        mask |= static_cast<uint8_t>(1u << d);
      }
    }
    if (!pr.start_local().empty()) {
      int m = ParseMinutes(pr.start_local());
      if (m < 0 || m == 24 * 60) {
        Fail({{"promotions", i}, {"start_local", -1}}, "must be \"HH:MM\" in 00:00..23:59");
      }
    }
    if (!pr.end_local().empty() && ParseMinutes(pr.end_local()) < 0) {
      Fail({{"promotions", i}, {"end_local", -1}}, "must be \"HH:MM\" in 00:00..24:00");
    }
    std::optional<int64_t> from, until;
    if (!pr.valid_from().empty()) {
      auto ns = ParseRfc3339(pr.valid_from());
      if (!ns.ok())
        Fail({{"promotions", i}, {"valid_from", -1}}, std::string(ns.status().message()));
      else
        from = *ns;
    }
    if (!pr.valid_until().empty()) {
      auto ns = ParseRfc3339(pr.valid_until());
      if (!ns.ok())
        Fail({{"promotions", i}, {"valid_until", -1}}, std::string(ns.status().message()));
      else
        until = *ns;
    }
    if (from && until && *from >= *until) {
      Fail({{"promotions", i}, {"valid_until", -1}}, "must be after valid_from");
    }
    if (pr.multiplier_bp() != 0) {
      CheckRange({{"promotions", i}, {"multiplier_bp", -1}}, pr.multiplier_bp(), 1,
                 kMultiplierBpMax);
    }
    CheckRange({{"promotions", i}, {"bonus_points", -1}}, pr.bonus_points(), 0, 1'000'000'000);
    if (!pr.reward_id().empty() && !RewardKnown(pr.reward_id())) {
      Fail({{"promotions", i}, {"reward_id", -1}},
           absl::StrCat("unknown reward \"", pr.reward_id(), "\""));
    }
    if (pr.multiplier_bp() == 0 && pr.bonus_points() == 0 && pr.reward_id().empty()) {
      Fail({{"promotions", i}}, "has no effect: set multiplier_bp, bonus_points or reward_id");
    }
  }
  Unique(p_.promotions(), "promotions", "promotion_id",
         [](const auto& x) { return x.promotion_id(); });
}

// Random rewards.
void Validator::CheckRandomRewards() {
  for (int i = 0; i < p_.random_rewards_size(); ++i) {
    const RandomReward& r = p_.random_rewards(i);
    CheckId({{"random_rewards", i}, {"rule_id", -1}}, r.rule_id(), true);
    if (r.on() != RandomReward::PURCHASE && r.on() != RandomReward::ENGAGEMENT) {
      Fail({{"random_rewards", i}, {"on", -1}}, "required: PURCHASE or ENGAGEMENT");
    }
    CheckId({{"random_rewards", i}, {"category", -1}}, r.category(), false);
    CheckRange({{"random_rewards", i}, {"probability_ppm", -1}}, r.probability_ppm(), 0, 1'000'000);
    if (!r.reward_id().empty() && !RewardKnown(r.reward_id())) {
      Fail({{"random_rewards", i}, {"reward_id", -1}},
           absl::StrCat("unknown reward \"", r.reward_id(), "\""));
    }
    CheckRange({{"random_rewards", i}, {"bonus_points", -1}}, r.bonus_points(), 0, 1'000'000'000);
    CheckRange({{"random_rewards", i}, {"max_per_member_per_local_day", -1}},
               r.max_per_member_per_local_day(), 0, 1'000'000);
    if (r.reward_id().empty() && r.bonus_points() == 0) {
      Fail({{"random_rewards", i}}, "has no effect: set reward_id or bonus_points");
    }
    if (p_.random_seed().empty()) {
      Fail({{"random_rewards", i}}, "needs the program's random_seed, which is empty");
    }
  }
  Unique(p_.random_rewards(), "random_rewards", "rule_id",
         [](const auto& x) { return x.rule_id(); });
}

// The reward catalogue and the first-purchase reward.
void Validator::CheckRewards() {
  for (int i = 0; i < p_.rewards_size(); ++i) {
    const auto& r = p_.rewards(i);
    CheckId({{"rewards", i}, {"reward_id", -1}}, r.reward_id(), true);
    CheckRange({{"rewards", i}, {"cost_points", -1}}, r.cost_points(), 0, kPointsPerEventMax);
    if (!r.min_tier_id().empty() && !TierKnown(r.min_tier_id())) {
      Fail({{"rewards", i}, {"min_tier_id", -1}},
           absl::StrCat("unknown tier \"", r.min_tier_id(), "\""));
    }
  }
  Unique(p_.rewards(), "rewards", "reward_id", [](const auto& x) { return x.reward_id(); });
  if (!p_.first_purchase_reward_id().empty() && !RewardKnown(p_.first_purchase_reward_id())) {
    Fail({{"first_purchase_reward_id", -1}},
         absl::StrCat("unknown reward \"", p_.first_purchase_reward_id(), "\""));
  }
}

// The sections in the order of program.proto: the first error found is the
// one reported, so the order is part of the behaviour.
std::optional<ValidationError> Validator::Run() {
  CheckBasics();
  CheckTiers();
  CheckEngagementRules();
  CheckPunchCards();
  CheckPromotions();
  CheckRandomRewards();
  CheckRewards();
  if (!error_) CheckEarnBound();
  return error_;
}

// --- Versions (SPEC §10, docs/semantics.md "Program versions") -------------

constexpr char kBaseVersionName[] = "1";

// The name of the base version: the file's `version`, "1" when empty.
std::string BaseVersionName(const Program& file) {
  return file.version().empty() ? std::string(kBaseVersionName) : file.version();
}

std::string TimeZoneName(const Program& p) { return p.timezone().empty() ? "UTC" : p.timezone(); }

// What a later version (`next`) must keep of the one before it (`prev`,
// named `prev_name`): the currency and time zone, and every id a member
// record refers to. Paths are relative to `next`.
std::optional<ValidationError> CheckSuccessor(const Program& prev, const std::string& prev_name,
                                              const Program& next) {
  const std::string was = absl::StrCat(" in version \"", prev_name, "\"");
  if (next.currency() != prev.currency()) {
    return ValidationError{{{"currency", -1}},
                           absl::StrCat("may not change between versions (\"", prev.currency(),
                                        "\"", was, "): amounts already applied are in it")};
  }
  if (TimeZoneName(next) != TimeZoneName(prev)) {
    return ValidationError{
        {{"timezone", -1}},
        absl::StrCat("may not change between versions (\"", TimeZoneName(prev), "\"", was,
                     "): local days and months already counted are in it")};
  }
  for (int j = 0; j < prev.tiers_size(); ++j) {
    const std::string& id = prev.tiers(j).tier_id();
    if (j < next.tiers_size() && next.tiers(j).tier_id() == id) continue;
    std::vector<PathStep> path = {{"tiers", -1}};
    if (j < next.tiers_size()) path = {{"tiers", j}, {"tier_id", -1}};
    return ValidationError{
        path, absl::StrCat("tier \"", id, "\"", was, " must stay tiers[", j,
                           "]: member records keep tiers by id and position; a later version "
                           "may change a tier's threshold, multiplier and perks, and add tiers "
                           "after the existing ones")};
  }
  struct Kept {
    const char* field;
    const char* what;
    const char* why;
    std::vector<std::string> prev_ids, next_ids;
  };
  auto ids = [](const auto& items, auto get) {
    std::vector<std::string> out;
    for (const auto& x : items) out.push_back(std::string(get(x)));
    return out;
  };
  const Kept kept[] = {
      {"rewards", "reward", "member records count the rewards issued by id",
       ids(prev.rewards(), [](const auto& r) { return r.reward_id(); }),
       ids(next.rewards(), [](const auto& r) { return r.reward_id(); })},
      {"paid_plans", "paid plan",
       "membership events are checked against the version in force at their occurred_at and "
       "applied under the one at their effective time, which may be later",
       ids(prev.paid_plans(), [](const auto& r) { return r.plan_id(); }),
       ids(next.paid_plans(), [](const auto& r) { return r.plan_id(); })},
      {"punch_cards", "punch card", "member records keep stamps by card id",
       ids(prev.punch_cards(), [](const auto& r) { return r.card_id(); }),
       ids(next.punch_cards(), [](const auto& r) { return r.card_id(); })},
  };
  for (const Kept& k : kept) {
    for (const std::string& id : k.prev_ids) {
      if (std::find(k.next_ids.begin(), k.next_ids.end(), id) != k.next_ids.end()) continue;
      return ValidationError{{{k.field, -1}},
                             absl::StrCat(k.what, " \"", id, "\"", was, " is missing: ", k.why,
                                          "; a later version keeps every ", k.what,
                                          " (it may change its parameters) and may add new ones")};
    }
  }
  return std::nullopt;
}

// The programs of a file's versions as they apply: the base (the file
// without its versions) and each later one with the base's program_id.
// REQUIRES: CheckVersions found no error.
std::vector<Program> EffectivePrograms(const Program& file) {
  std::vector<Program> out;
  out.push_back(file);
  out.back().clear_versions();
  out.back().set_version(BaseVersionName(file));
  for (const ProgramVersion& v : file.versions()) {
    out.push_back(v.program());
    out.back().set_program_id(file.program_id());
    out.back().set_version(v.version());
  }
  return out;
}

// The checks of versions[i] itself: its name, its effective_from and the
// fields of its program that versions own. `*names` holds the names so far,
// `*last_from_ns` the previous effective_from.
std::optional<ValidationError> CheckVersionHeader(const Program& file, int i,
                                                  std::set<std::string>* names,
                                                  int64_t* last_from_ns) {
  const ProgramVersion& v = file.versions(i);
  auto fail = [&](std::vector<PathStep> rest, std::string message) {
    std::vector<PathStep> path = {{"versions", i}};
    path.insert(path.end(), rest.begin(), rest.end());
    return ValidationError{std::move(path), std::move(message)};
  };
  if (v.version().empty()) return fail({{"version", -1}}, "required: the version's name");
  if (v.version().size() > 128 || !IsCleanText(v.version())) {
    return fail({{"version", -1}}, "at most 128 bytes of UTF-8 without control characters");
  }
  if (!names->insert(v.version()).second) {
    return fail({{"version", -1}}, absl::StrCat("duplicate version name \"", v.version(), "\""));
  }
  if (v.effective_from().empty()) {
    return fail({{"effective_from", -1}}, "required: an RFC 3339 instant");
  }
  absl::StatusOr<int64_t> from = ParseRfc3339(v.effective_from());
  if (!from.ok()) return fail({{"effective_from", -1}}, std::string(from.status().message()));
  if (*from < kEventTimeMinNs || *from >= kEventTimeLimitNs) {
    return fail({{"effective_from", -1}}, "must be in [2000-01-01, 2100-01-01), as event times");
  }
  if (*from <= *last_from_ns) {
    return fail({{"effective_from", -1}},
                "must be after the previous version's effective_from (versions ascend)");
  }
  *last_from_ns = *from;
  if (!v.has_program()) {
    return fail({{"program", -1}}, "required: the whole program as it is from effective_from");
  }
  const Program& p = v.program();
  if (!p.program_id().empty() && p.program_id() != file.program_id()) {
    return fail({{"program", -1}, {"program_id", -1}},
                absl::StrCat("must be empty or \"", file.program_id(), "\" (the file's)"));
  }
  if (!p.version().empty()) {
    return fail({{"program", -1}, {"version", -1}},
                absl::StrCat("must be empty: the version's name is versions[", i, "].version"));
  }
  if (p.versions_size() > 0) {
    return fail({{"program", -1}, {"versions", 0}}, "a version has no versions of its own");
  }
  return std::nullopt;
}

// Every check of a file: the base as a program of its own, then each
// version (header, program, what it keeps of the one before).
std::optional<ValidationError> CheckFile(const Program& file) {
  if (auto err = Validator(file).Run()) return err;
  if (!file.version().empty() && (file.version().size() > 128 || !IsCleanText(file.version()))) {
    return ValidationError{{{"version", -1}},
                           "at most 128 bytes of UTF-8 without control characters"};
  }
  if (file.versions_size() == 0) return std::nullopt;
  std::set<std::string> names = {BaseVersionName(file)};
  int64_t last_from_ns = INT64_MIN;
  for (int i = 0; i < file.versions_size(); ++i) {
    if (auto err = CheckVersionHeader(file, i, &names, &last_from_ns)) return err;
  }
  const std::vector<Program> programs = EffectivePrograms(file);
  for (int i = 0; i < file.versions_size(); ++i) {
    const std::vector<PathStep> at = {{"versions", i}, {"program", -1}};
    if (auto err = Validator(programs[i + 1]).Run()) return err->Under(at);
    if (auto err = CheckSuccessor(programs[i], programs[i].version(), programs[i + 1])) {
      return err->Under(at);
    }
  }
  return std::nullopt;
}

// Finds where `path` was written in the parsed text. Falls back to the
// nearest written ancestor, or to the start of the file.
google::protobuf::TextFormat::ParseLocation Locate(
    const google::protobuf::TextFormat::ParseInfoTree& root, const std::vector<PathStep>& path) {
  google::protobuf::TextFormat::ParseLocation best(0, 0);
  const google::protobuf::Descriptor* desc = Program::descriptor();
  const google::protobuf::TextFormat::ParseInfoTree* tree = &root;
  for (const PathStep& step : path) {
    if (desc == nullptr || tree == nullptr) break;
    const google::protobuf::FieldDescriptor* field = desc->FindFieldByName(step.field);
    if (field == nullptr) break;
    // A repeated field as a whole ("tiers: tier ... is missing") has no one
    // location: its parent's stands.
    if (field->is_repeated() && step.index < 0) break;
    auto loc = tree->GetLocation(field, step.index);
    if (loc.line < 0) break;
    best = loc;
    if (field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) break;
    tree = tree->GetTreeForNested(field, step.index);
    desc = field->message_type();
  }
  return best;
}

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(std::string source) : source_(std::move(source)) {}
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty())
      first_ = absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string source_;
  std::string first_;
};

}  // namespace

int64_t CompiledProgram::CategoryBp(absl::string_view category) const {
  auto it = category_bp_.find(category);
  return it == category_bp_.end() ? kBp : it->second;
}

const loyalty::v1::EngagementRule* CompiledProgram::EngagementRule(absl::string_view action) const {
  auto it = engagement_.find(action);
  return it == engagement_.end() ? nullptr : &proto_.engagement_rules(it->second);
}

const loyalty::v1::Reward* CompiledProgram::Reward(absl::string_view reward_id) const {
  auto it = rewards_.find(reward_id);
  return it == rewards_.end() ? nullptr : &proto_.rewards(it->second);
}

const loyalty::v1::PaidPlan* CompiledProgram::PaidPlan(absl::string_view plan_id) const {
  auto it = plans_.find(plan_id);
  return it == plans_.end() ? nullptr : &proto_.paid_plans(it->second);
}

int CompiledProgram::TierIndex(absl::string_view tier_id) const {
  auto it = tiers_.find(tier_id);
  return it == tiers_.end() ? -1 : it->second;
}

int64_t CompiledProgram::TierEarnBp(int index) const {
  if (index < 0 || index >= proto_.tiers_size()) return kBp;
  return proto_.tiers(index).earn_multiplier_bp();
}

// Builds CompiledPrograms and ProgramHistories from validated programs.
class ProgramCompiler {
 public:
  // One version. REQUIRES: `program` passed the Validator; `program.version()`
  // is the version's name.
  static std::unique_ptr<CompiledProgram> Compile(Program program, std::string source_path,
                                                  int64_t effective_from_ns);
  // Every version of a file. REQUIRES: CheckFile found no error.
  static std::unique_ptr<ProgramHistory> CompileFile(const Program& file,
                                                     const std::string& source_path);
};

std::unique_ptr<CompiledProgram> ProgramCompiler::Compile(Program program, std::string source_path,
                                                          int64_t effective_from_ns) {
  auto out = std::unique_ptr<CompiledProgram>(new CompiledProgram());
  out->proto_ = std::move(program);
  out->source_path_ = std::move(source_path);
  const Program& p = out->proto_;
  out->version_ = p.version();
  out->effective_from_ns_ = effective_from_ns;
  if (effective_from_ns != INT64_MIN) out->effective_from_ = FormatRfc3339(effective_from_ns);
  {
    ProgramVersion hashed;
    hashed.set_version(out->version_);
    hashed.set_effective_from(out->effective_from_);
    *hashed.mutable_program() = p;
    out->hash_ = HexDigest(Sha256(SerializeDeterministic(hashed)));
  }
  if (p.timezone().empty()) {
    out->time_zone_ = absl::UTCTimeZone();
  } else {
    LOYALTY_CHECK(absl::LoadTimeZone(p.timezone(), &out->time_zone_)) << p.timezone();
  }
  out->allow_negative_balance_ = !p.has_allow_negative_balance() || p.allow_negative_balance();
  for (const auto& c : p.category_multipliers())
    out->category_bp_[c.category()] = c.multiplier_bp();
  for (int i = 0; i < p.engagement_rules_size(); ++i)
    out->engagement_[p.engagement_rules(i).action()] = i;
  for (int i = 0; i < p.rewards_size(); ++i) out->rewards_[p.rewards(i).reward_id()] = i;
  for (int i = 0; i < p.paid_plans_size(); ++i) out->plans_[p.paid_plans(i).plan_id()] = i;
  for (int i = 0; i < p.tiers_size(); ++i) out->tiers_[p.tiers(i).tier_id()] = i;
  for (const Promotion& pr : p.promotions()) {
    CompiledPromotion cp;
    cp.proto = &pr;
    for (int d : pr.days_of_week()) cp.day_mask |= static_cast<uint8_t>(1u << d);
    if (!pr.start_local().empty()) cp.start_minute = ParseMinutes(pr.start_local());
    if (!pr.end_local().empty()) cp.end_minute = ParseMinutes(pr.end_local());
    if (!pr.valid_from().empty()) cp.valid_from_ns = *ParseRfc3339(pr.valid_from());
    if (!pr.valid_until().empty()) cp.valid_until_ns = *ParseRfc3339(pr.valid_until());
    out->promotions_.push_back(cp);
  }
  return out;
}

std::unique_ptr<ProgramHistory> ProgramCompiler::CompileFile(const Program& file,
                                                             const std::string& source_path) {
  std::vector<Program> programs = EffectivePrograms(file);
  auto out = std::unique_ptr<ProgramHistory>(new ProgramHistory());
  for (size_t i = 0; i < programs.size(); ++i) {
    const int64_t from =
        i == 0 ? INT64_MIN : *ParseRfc3339(file.versions(static_cast<int>(i - 1)).effective_from());
    out->versions_.push_back(Compile(std::move(programs[i]), source_path, from));
    out->effective_from_ns_.push_back(from);
  }
  return out;
}

ProgramHistory::ProgramHistory(std::unique_ptr<CompiledProgram> program) {
  LOYALTY_CHECK(program != nullptr) << "null program";
  effective_from_ns_.push_back(program->effective_from_ns());
  versions_.push_back(std::move(program));
}

const CompiledProgram& ProgramHistory::AtSearch(int64_t t_ns) const {
  // The first version that starts after t_ns; the one before it is in force.
  // The base starts at INT64_MIN, so there is always one before.
  const auto after =
      std::upper_bound(effective_from_ns_.begin() + 1, effective_from_ns_.end(), t_ns);
  return *versions_[static_cast<size_t>(after - effective_from_ns_.begin()) - 1];
}

const CompiledProgram* ProgramHistory::FindVersion(absl::string_view name) const {
  for (const auto& v : versions_) {
    if (v->version() == name) return v.get();
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<CompiledProgram>> CompileProgram(Program program,
                                                                std::string source_path) {
  if (program.versions_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_path, ": versions: a program with versions is compiled by ParseProgramFile"));
  }
  if (auto err = CheckFile(program)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": ", err->PathString(), ": ", err->message));
  }
  program.set_version(BaseVersionName(program));
  return ProgramCompiler::Compile(std::move(program), std::move(source_path), INT64_MIN);
}

namespace {

// Parses a program file's text; on failure, the parser's first error as
// "source_path:line:column: message".
absl::Status ParseText(absl::string_view text, const std::string& source_path, Program* program,
                       google::protobuf::TextFormat::ParseInfoTree* tree) {
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors(source_path);
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(tree);
  if (!parser.ParseFromString(std::string(text), program)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(source_path, ": cannot parse") : errors.first());
  }
  return absl::OkStatus();
}

absl::Status LocatedError(const google::protobuf::TextFormat::ParseInfoTree& tree,
                          const std::string& source_path, const ValidationError& err) {
  auto loc = Locate(tree, err.path);
  return absl::InvalidArgumentError(absl::StrCat(source_path, ":", loc.line + 1, ":",
                                                 loc.column + 1, ": ", err.PathString(), ": ",
                                                 err.message));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CompiledProgram>> ParseProgramText(absl::string_view text,
                                                                  std::string source_path) {
  Program program;
  google::protobuf::TextFormat::ParseInfoTree tree;
  LOYALTY_RETURN_IF_ERROR(ParseText(text, source_path, &program, &tree));
  if (program.versions_size() > 0) {
    return LocatedError(
        tree, source_path,
        ValidationError{{{"versions", 0}}, "a program with versions is read by ParseProgramFile"});
  }
  if (auto err = CheckFile(program)) return LocatedError(tree, source_path, *err);
  return CompileProgram(std::move(program), std::move(source_path));
}

absl::StatusOr<std::unique_ptr<ProgramHistory>> ParseProgramFile(absl::string_view text,
                                                                 std::string source_path) {
  Program file;
  google::protobuf::TextFormat::ParseInfoTree tree;
  LOYALTY_RETURN_IF_ERROR(ParseText(text, source_path, &file, &tree));
  if (auto err = CheckFile(file)) return LocatedError(tree, source_path, *err);
  return ProgramCompiler::CompileFile(file, source_path);
}

const CompiledProgram* ProgramSet::Find(absl::string_view program_id) const {
  auto it = programs_.find(program_id);
  return it == programs_.end() ? nullptr : &it->second->latest();
}

const ProgramHistory* ProgramSet::FindHistory(absl::string_view program_id) const {
  auto it = programs_.find(program_id);
  return it == programs_.end() ? nullptr : it->second.get();
}

std::vector<std::string> ProgramSet::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, _] : programs_) out.push_back(id);
  return out;
}

absl::Status ProgramSet::Add(std::unique_ptr<CompiledProgram> program) {
  return Add(std::make_unique<ProgramHistory>(std::move(program)));
}

absl::Status ProgramSet::Add(std::unique_ptr<ProgramHistory> program) {
  const std::string id = program->program_id();
  auto [it, inserted] = programs_.emplace(id, std::move(program));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("program_id \"", id, "\" is defined twice: in ", it->second->source_path()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProgramSet> LoadPrograms(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".textproto" || ext == ".txtpb" || ext == ".pbtxt")) {
        files.push_back(entry.path().string());
      }
    }
    if (ec) return absl::NotFoundError(absl::StrCat(path, ": ", ec.message()));
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      return absl::NotFoundError(
          absl::StrCat(path, ": no program files (*.textproto, *.txtpb, *.pbtxt)"));
    }
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    return absl::NotFoundError(absl::StrCat(path, ": no such program file or directory"));
  }
  ProgramSet set;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open"));
    std::stringstream buf;
    buf << in.rdbuf();
    LOYALTY_ASSIGN_OR_RETURN(auto program, ParseProgramFile(buf.str(), file));
    absl::Status added = set.Add(std::move(program));
    if (!added.ok()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", added.message()));
  }
  return set;
}

}  // namespace loyalty
