#include "cmd/explain_draw.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/apply/apply.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "engine/store/store.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty {
namespace {

using loyalty::v1::Event;
using loyalty::v1::RandomReward;

// Why rule `rule` does not apply to `e` (the apply path's RandomRuleApplies
// decides), or "" if it does.
std::string NotEligible(const RandomReward& rule, const Event& e) {
  if (RandomRuleApplies(rule, e)) return "";
  if (rule.on() == RandomReward::PURCHASE) {
    return e.has_purchase() ? absl::StrCat("no \"", rule.category(), "\" item") : "not a purchase";
  }
  return e.has_engagement() ? absl::StrCat("action is not \"", rule.category(), "\"")
                            : "not an engagement";
}

// Wins of `rule_id` paid to the member on local day `day` (yyyymmdd), from
// whichever partition store holds the member; -1 if the member is unknown.
absl::StatusOr<int64_t> PaidWins(const std::string& data_dir, const Event& e,
                                 const std::string& rule_id, int64_t day) {
  LOYALTY_ASSIGN_OR_RETURN(auto stores, OpenDataDir(data_dir));
  const MemberRef member{ProgramId(e.program_id()), MemberId(e.member_id())};
  const std::string counter = RandomWinsCounter(rule_id, day);
  loyalty::v1::MemberRecord record;
  for (auto& [partition, store] : stores) {
    LOYALTY_ASSIGN_OR_RETURN(bool found, GetCheckedMember(store.get(), member, &record));
    if (found) return store->GetCounter(member, counter);
  }
  return -1;
}

}  // namespace

absl::StatusOr<std::string> ExplainDraw(const ProgramSet& programs, const std::string& event_json,
                                        const std::string& data_dir) {
  Event e;
  google::protobuf::util::JsonParseOptions json_options;
  json_options.ignore_unknown_fields = true;
  auto parsed = google::protobuf::util::JsonStringToMessage(event_json, &e, json_options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the event is not JSON of a loyalty.v1.Event: ",
                                                   parsed.message().as_string()));
  }
  if (e.event_id().empty()) return absl::InvalidArgumentError("the event has no event_id");
  const ProgramHistory* history = programs.FindHistory(e.program_id());
  if (history == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the event's program_id \"", e.program_id(), "\" is not in --program"));
  }
  auto occurred = TimestampToNanos(e.occurred_at());
  if (!e.has_occurred_at() || !occurred.ok()) {
    return absl::InvalidArgumentError("the event has no valid occurred_at");
  }
  // The rules in force when the customer acted. The engine applies those
  // in force at the event's effective time: the same, unless the member's
  // clock or the tick time had already passed a version's effective_from.
  const CompiledProgram* program = &history->At(*occurred);
  const int64_t day = LocalDayKey(*occurred, program->time_zone());
  std::string out = absl::StrFormat(
      "event %s of member %s, program %s\noccurred_at %s, local day %04d-%02d-%02d (%s)\n",
      e.event_id(), e.member_id(), e.program_id(), FormatRfc3339(*occurred), day / 10000,
      day / 100 % 100, day % 100, program->time_zone().name());
  if (history->size() > 1) {
    absl::StrAppend(&out, "program version \"", program->version(),
                    "\", in force at occurred_at (the engine applies the version in force at "
                    "the event's effective time, a later one if the member's clock or the tick "
                    "time had passed its effective_from)\n");
  }
  if (program->proto().random_rewards_size() == 0) {
    return absl::StrCat(out, "the program has no random reward rules\n");
  }
  absl::StrAppend(&out,
                  "draw = big-endian uint64 of HMAC-SHA256(random_seed, rule_id \"\\0\" "
                  "event_id)[0..8) mod 1000000; a rule wins iff draw < probability_ppm\n\n");
  absl::StrAppendFormat(&out, "%-20s %-10s %8s %10s  %s\n", "rule", "on", "draw", "threshold",
                        "result");
  for (const RandomReward& rule : program->proto().random_rewards()) {
    const int64_t draw = RandomDraw(*program, rule.rule_id(), e.event_id());
    std::string result;
    const std::string why_not = NotEligible(rule, e);
    if (!why_not.empty()) {
      result = absl::StrCat("does not apply: ", why_not);
    } else if (draw >= rule.probability_ppm()) {
      result = "lost: draw >= threshold";
    } else {
      result = "won the draw";
      if (rule.on() == RandomReward::ENGAGEMENT) result += " (paid only if the engagement applied)";
      if (rule.max_per_member_per_local_day() > 0) {
        absl::StrAppend(&result, "; daily cap ", rule.max_per_member_per_local_day());
        if (!data_dir.empty()) {
          LOYALTY_ASSIGN_OR_RETURN(int64_t wins, PaidWins(data_dir, e, rule.rule_id(), day));
          if (wins < 0) {
            absl::StrAppend(&result, ", member not in ", data_dir);
          } else {
            absl::StrAppend(&result, ", wins paid that day (this one included if paid): ", wins);
          }
        }
      }
    }
    absl::StrAppendFormat(&out, "%-20s %-10s %8d %10d  %s\n", rule.rule_id(),
                          RandomReward::Trigger_Name(rule.on()), draw, rule.probability_ppm(),
                          result);
  }
  return out;
}

absl::StatusOr<std::string> FindEventLine(const std::string& path, const std::string& event_id) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const std::string needle = absl::StrCat("\"", event_id, "\"");
  const bool escaped = std::any_of(event_id.begin(), event_id.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
           static_cast<unsigned char>(c) >= 0x7f;
  });
  std::string line;
  while (std::getline(in, line)) {
    // A quick filter; ids with characters JSON escapes are parsed on every line.
    if (!escaped && line.find(needle) == std::string::npos) continue;
    Event e;
    google::protobuf::util::JsonParseOptions json_options;
    json_options.ignore_unknown_fields = true;
    if (google::protobuf::util::JsonStringToMessage(line, &e, json_options).ok() &&
        e.event_id() == event_id) {
      return line;
    }
  }
  return absl::NotFoundError(absl::StrCat(path, ": no event with event_id \"", event_id, "\""));
}

}  // namespace loyalty
