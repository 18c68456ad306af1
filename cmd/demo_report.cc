#include "cmd/demo_report.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cmd/demo_format.h"
#include "engine/base/status.h"
#include "engine/base/time.h"

namespace loyalty::demo_internal {
namespace {

using loyalty::v1::LedgerEntry;
using loyalty::v1::MemberState;

// Every member's entries ("program/member" -> entries, in order), from one
// pass over each store's journal.
absl::StatusOr<std::map<std::string, std::vector<LedgerEntry>>> EntriesByMember(
    const StoreContents& contents) {
  std::map<std::string, std::vector<LedgerEntry>> entries_of;
  for (const auto& store : contents.stores) {
    LOYALTY_RETURN_IF_ERROR(store->ForEachEntry([&](const LedgerEntry& e) -> absl::Status {
      entries_of[absl::StrCat(e.program_id(), "/", e.member_id())].push_back(e);
      return absl::OkStatus();
    }));
  }
  return entries_of;
}

// What an entry is about: its reason, reward, order or event (the first
// there, in that order), or what the engagement event was.
std::string EntrySubject(const LedgerEntry& e,
                         const std::map<std::string, std::string>& engagements) {
  std::string what = e.event_id().empty() ? "" : absl::StrCat("event ", e.event_id());
  if (!e.order_id().empty()) what = absl::StrCat("order ", e.order_id());
  if (!e.reward_id().empty()) what = absl::StrCat("reward ", e.reward_id());
  if (!e.reason().empty()) what = absl::StrCat("\"", e.reason(), "\"");
  if (auto it = engagements.find(e.event_id()); it != engagements.end()) {
    what = it->second;
  }
  return what;
}

}  // namespace

absl::StatusOr<StoreContents> ReadStores(const std::string& data_dir) {
  StoreContents contents;
  LOYALTY_ASSIGN_OR_RETURN(auto opened, OpenDataDir(data_dir));
  for (auto& [partition, store] : opened) {
    LOYALTY_RETURN_IF_ERROR(ForEachCheckedMember(
        store.get(), [&](const loyalty::v1::MemberRecord& rec) -> absl::Status {
          contents.members.push_back(rec.state());
          return absl::OkStatus();
        }));
    LOYALTY_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(store.get(), 5));
    VerifyReport& audit = contents.audit;
    audit.members += report.members;
    audit.entries += report.entries;
    audit.problems_total += report.problems_total;
    for (auto& problem : report.problems) audit.problems.push_back(std::move(problem));
    contents.stores.push_back(std::move(store));
  }
  return contents;
}

void PrintOutputs(FILE* out, int64_t records, const Topics& topics, OutputCounts outputs) {
  const int64_t outcomes_total = outputs.records[topics.outcomes];
  const int64_t dlq_total = outputs.records[topics.dlq];
  absl::FPrintF(out, "What the engine did with the %s records\n", Num(records));
  if (outcomes_total + dlq_total == 0) {
    Print(out, "   ",
          absl::StrCat(Num(records),
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
}

void PrintMembers(FILE* out, const CompiledProgram& program,
                  const std::vector<MemberState>& members) {
  const std::string& currency = program.proto().currency();
  int64_t earned = 0, adjusted = 0, redeemed = 0, clawed = 0, expired = 0, outstanding = 0;
  int64_t spend = 0, purchases = 0;
  std::map<std::string, int64_t> tiers, rewards;
  for (const MemberState& s : members) {
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
  for (const auto& t : program.proto().tiers()) {
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
                   Money(outstanding * program.proto().point_value_minor(), currency)));
  row("rewards", Num(rewards_total),
      absl::StrCat("issued, as counted in the members: ", Tally(rewards)));
  absl::FPrintF(out, "\n");
}

std::vector<const MemberState*> PrintTopMembers(FILE* out, const std::string& currency,
                                                const std::vector<MemberState>& members) {
  std::vector<const MemberState*> top;
  for (const MemberState& m : members) top.push_back(&m);
  std::sort(top.begin(), top.end(), [](const MemberState* a, const MemberState* b) {
    if (a->available_points() != b->available_points()) {
      return a->available_points() > b->available_points();
    }
    return a->member_id() < b->member_id();
  });
  if (top.size() > 5) top.resize(5);
  absl::FPrintF(out, "Top members by available points\n");
  absl::FPrintF(out, "   %-8s %-8s %8s %8s %16s\n", "member", "tier", "points", "visits", "spent");
  for (const MemberState* s : top) {
    absl::FPrintF(out, "   %-8s %-8s %8s %8s %16s\n", s->member_id(), s->tier_id(),
                  Num(s->available_points()), Num(s->purchase_count()),
                  Money(s->spend_minor(), currency));
  }
  absl::FPrintF(out, "\n");
  return top;
}

absl::Status PrintHistory(FILE* out, const CompiledProgram& program, const StoreContents& contents,
                          const std::map<std::string, std::string>& engagements) {
  LOYALTY_ASSIGN_OR_RETURN(auto entries_of, EntriesByMember(contents));
  const MemberState* who = nullptr;
  std::vector<LedgerEntry> history;
  size_t who_kinds = 0;
  for (const MemberState& m : contents.members) {
    std::vector<LedgerEntry>& entries =
        entries_of[absl::StrCat(m.program_id(), "/", m.member_id())];
    std::set<int> kinds;
    for (const LedgerEntry& e : entries) kinds.insert(e.type());
    if (who == nullptr || kinds.size() > who_kinds ||
        (kinds.size() == who_kinds && entries.size() > history.size())) {
      who = &m;
      who_kinds = kinds.size();
      history = std::move(entries);
    }
  }
  if (who == nullptr || history.empty()) return absl::OkStatus();
  // What the caption says: the latest entry of each kind, then the most
  // recent entries until 16 are shown, in ledger order.
  constexpr size_t kShownMax = 16;
  std::set<size_t> shown;
  std::set<int> kinds_seen;
  for (size_t i = history.size(); i-- > 0;) {
    if (kinds_seen.insert(history[i].type()).second) shown.insert(i);
  }
  for (size_t i = history.size(); i-- > 0 && shown.size() < kShownMax;) shown.insert(i);
  Print(out, "",
        absl::StrCat("History of ", who->member_id(), " (", shown.size(), " of its ",
                     Num(static_cast<int64_t>(history.size())),
                     " ledger entries: the latest of each of its ", kinds_seen.size(),
                     " kinds, then the most recent; times in ", program.time_zone().name(), ")"));
  for (size_t i : shown) {
    const LedgerEntry& e = history[i];
    auto at = TimestampToNanos(e.effective_at());
    absl::FPrintF(
        out, "   %s  #%-4d %-8s %+6d  %s\n",
        at.ok() ? absl::FormatTime("%Y-%m-%d %H:%M", NanosToTime(*at), program.time_zone()) : "?",
        e.seq(), LedgerEntry::Type_Name(e.type()), e.points(), EntrySubject(e, engagements));
  }
  absl::FPrintF(out, "\n");
  return absl::OkStatus();
}

void PrintAudit(FILE* out, const VerifyReport& audit) {
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
}

}  // namespace loyalty::demo_internal
