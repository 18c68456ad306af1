#include "engine/program/program.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "engine/base/time.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace loyalty {
namespace {

using loyalty::v1::Expiration;
using loyalty::v1::Program;
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

absl::StatusOr<std::unique_ptr<CompiledProgram>> CompileProgram(Program program,
                                                                std::string source_path) {
  if (auto err = Validator(program).Run()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, ": ", err->PathString(), ": ", err->message));
  }
  auto out = std::unique_ptr<CompiledProgram>(new CompiledProgram());
  out->proto_ = std::move(program);
  out->source_path_ = std::move(source_path);
  const Program& p = out->proto_;
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

absl::StatusOr<std::unique_ptr<CompiledProgram>> ParseProgramText(absl::string_view text,
                                                                  std::string source_path) {
  Program program;
  google::protobuf::TextFormat::Parser parser;
  google::protobuf::TextFormat::ParseInfoTree tree;
  CollectErrors errors(source_path);
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &program)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(source_path, ": cannot parse") : errors.first());
  }
  if (auto err = Validator(program).Run()) {
    auto loc = Locate(tree, err->path);
    return absl::InvalidArgumentError(absl::StrCat(source_path, ":", loc.line + 1, ":",
                                                   loc.column + 1, ": ", err->PathString(), ": ",
                                                   err->message));
  }
  return CompileProgram(std::move(program), std::move(source_path));
}

const CompiledProgram* ProgramSet::Find(absl::string_view program_id) const {
  auto it = programs_.find(program_id);
  return it == programs_.end() ? nullptr : it->second.get();
}

std::vector<std::string> ProgramSet::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, _] : programs_) out.push_back(id);
  return out;
}

absl::Status ProgramSet::Add(std::unique_ptr<CompiledProgram> program) {
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
    LOYALTY_ASSIGN_OR_RETURN(auto program, ParseProgramText(buf.str(), file));
    absl::Status added = set.Add(std::move(program));
    if (!added.ok()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", added.message()));
  }
  return set;
}

}  // namespace loyalty
