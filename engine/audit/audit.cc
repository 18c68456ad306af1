#include "engine/audit/audit.h"

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/apply/apply.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

using loyalty::v1::BalanceUpdate;
using loyalty::v1::LedgerEntry;
using loyalty::v1::LedgerEntry_Type_LedgerEntry_Type_INT_MAX_SENTINEL_DO_NOT_USE_;
using loyalty::v1::LedgerEntry_Type_LedgerEntry_Type_INT_MIN_SENTINEL_DO_NOT_USE_;
using loyalty::v1::MemberRecord;
using loyalty::v1::Outcome;

google::protobuf::util::TypeResolver* Resolver() {
  static google::protobuf::util::TypeResolver* resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool());
  return resolver;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& msg) {
  // Through the deterministic binary form, so that map entries are sorted.
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::BinaryToJsonString(
      Resolver(), "type.googleapis.com/" + msg.GetDescriptor()->full_name(),
      SerializeDeterministic(msg), &json, options);
  LOYALTY_CHECK(status.ok()) << status.ToString();
  return json;
}

namespace {

// What the journal says of one member.
struct JournalFacts {
  int64_t entries = 0;
  int64_t expected_seq = 1;
  int64_t sum = 0, earned = 0, redeemed = 0, expired = 0, clawed = 0, adjusted = 0;
  int64_t last_debt = 0;
  int64_t last_version = 0;
  std::string last_state;  // serialized MemberState of the last balance update
  std::vector<std::string> problems;
};

// CheckMemberRecord of a record read from `store`, naming store and member.
absl::Status CheckRead(const PartitionStore& store, const MemberRecord& record) {
  absl::Status s = CheckMemberRecord(record);
  if (s.ok()) return s;
  return absl::DataLossError(absl::StrCat(store.path(), ": member ", record.state().program_id(),
                                          "/", record.state().member_id(), ": ", s.message()));
}

}  // namespace

absl::StatusOr<bool> GetCheckedMember(PartitionStore* store, const MemberRef& member,
                                      MemberRecord* out) {
  LOYALTY_ASSIGN_OR_RETURN(bool found, store->GetMember(member, out));
  if (found) LOYALTY_RETURN_IF_ERROR(CheckRead(*store, *out));
  return found;
}

absl::Status ForEachCheckedMember(PartitionStore* store,
                                  const std::function<absl::Status(const MemberRecord&)>& fn) {
  return store->ForEachMember([&](const MemberRecord& record) -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(CheckRead(*store, record));
    return fn(record);
  });
}

absl::StatusOr<VerifyReport> VerifyStore(PartitionStore* store, size_t problems_max) {
  VerifyReport report;
  auto problem = [&](absl::string_view who, const std::string& what) {
    report.problems_total++;
    if (report.problems.size() < problems_max) {
      report.problems.push_back(absl::StrCat(store->path(), ": ", who, ": ", what));
    }
  };
  // 1. The journal, once: per member, its entries and balance updates.
  absl::flat_hash_map<std::string, JournalFacts> facts;
  int64_t expected_output_seq = 1;
  Outcome outcome;
  BalanceUpdate balance;
  LOYALTY_RETURN_IF_ERROR(
      store->ForEachJournalRecord(0, [&](const JournalRecordView& r) -> absl::Status {
        if (r.seq != expected_output_seq) {
          problem("journal", absl::StrCat("output seq ", r.seq, " where ", expected_output_seq,
                                          " was expected"));
        }
        expected_output_seq = r.seq + 1;
        switch (r.kind) {
          case JournalKind::kOutcome: {
            if (!outcome.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
              return absl::DataLossError(absl::StrCat(store->path(), ": outcome ", r.seq));
            }
            if (outcome.entries_size() == 0) return absl::OkStatus();
            JournalFacts& f = facts[r.key];
            for (const LedgerEntry& e : outcome.entries()) {
              report.entries++;
              f.entries++;
              if (e.seq() != f.expected_seq && f.problems.size() < 3) {
                f.problems.push_back(absl::StrCat("ledger seq ", e.seq(), " where ", f.expected_seq,
                                                  " was expected"));
              }
              f.expected_seq = e.seq() + 1;
              f.sum += e.points();
              f.last_debt = e.debt_points_after();
              switch (e.type()) {
                case LedgerEntry::EARN:
                case LedgerEntry::ENGAGE:
                case LedgerEntry::BONUS:
                  f.earned += e.points();
                  break;
                case LedgerEntry::REDEEM:
                  f.redeemed -= e.points();
                  break;
                case LedgerEntry::EXPIRE:
                  f.expired -= e.points();
                  break;
                case LedgerEntry::CLAWBACK:
                  f.clawed -= e.points();
                  break;
                case LedgerEntry::ADJUST:
                  f.adjusted += e.points();
                  break;
                case LedgerEntry::RELEASE:
                  if (e.points() != 0) f.problems.push_back("RELEASE entry with points");
                  break;
                case LedgerEntry::TYPE_UNSPECIFIED:
                case LedgerEntry_Type_LedgerEntry_Type_INT_MIN_SENTINEL_DO_NOT_USE_:
                case LedgerEntry_Type_LedgerEntry_Type_INT_MAX_SENTINEL_DO_NOT_USE_:
                  f.problems.push_back(absl::StrCat("entry ", e.seq(), " of unknown type"));
                  break;
              }
            }
            return absl::OkStatus();
          }
          case JournalKind::kBalance: {
            if (!balance.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
              return absl::DataLossError(absl::StrCat(store->path(), ": balance ", r.seq));
            }
            JournalFacts& f = facts[r.key];
            const int64_t version = balance.state().version();
            if ((version != f.last_version + 1 || version != r.version) && f.problems.size() < 3) {
              f.problems.push_back(absl::StrCat("balance version ", version, " (header ", r.version,
                                                ") after ", f.last_version));
            }
            f.last_version = version;
            f.last_state = SerializeDeterministic(balance.state());
            return absl::OkStatus();
          }
          case JournalKind::kDlq:
            return absl::OkStatus();
        }
        return absl::OkStatus();
      }));
  LOYALTY_ASSIGN_OR_RETURN(PartitionMeta meta, store->ReadMeta({}));
  if (expected_output_seq != meta.next_seq) {
    problem("journal", absl::StrCat("the journal ends at seq ", expected_output_seq - 1,
                                    " but the next output seq is ", meta.next_seq));
  }
  // 2. Every member against its journal facts.
  absl::Status scan = store->ForEachMember([&](const MemberRecord& rec) -> absl::Status {
    report.members++;
    const auto& st = rec.state();
    const std::string who = absl::StrCat(st.program_id(), "/", st.member_id());
    JournalFacts none;
    auto found = facts.find(who);
    const JournalFacts& f = found == facts.end() ? none : found->second;
    for (const std::string& p : f.problems) problem(who, p);
    if (f.expected_seq != rec.next_entry_seq()) {
      problem(who, absl::StrCat(f.expected_seq - 1, " ledger entries, record expects ",
                                rec.next_entry_seq() - 1));
    }
    const int64_t balance = st.available_points() + st.pending_points();
    if (f.sum != balance) {
      problem(who, absl::StrCat("entries sum to ", f.sum, " but available + pending = ", balance));
    }
    auto compare = [&](const char* name, int64_t from_journal, int64_t stored) {
      if (from_journal != stored) {
        problem(who, absl::StrCat(name, " = ", stored, " but the journal gives ", from_journal));
      }
    };
    compare("lifetime_earned_points", f.earned, st.lifetime_earned_points());
    compare("redeemed_points", f.redeemed, st.redeemed_points());
    compare("expired_points", f.expired, st.expired_points());
    compare("clawed_back_points", f.clawed, st.clawed_back_points());
    compare("adjusted_points", f.adjusted, st.adjusted_points());
    compare("debt_points (last entry)", f.last_debt, st.debt_points());
    compare("version (last balance update)", f.last_version, st.version());
    if (f.last_state != SerializeDeterministic(st)) {
      problem(who, "the last balance update is not the stored state");
    }
    absl::Status record = CheckMemberRecord(rec);
    if (!record.ok()) problem(who, std::string(record.message()));
    if (st.version() < 1) problem(who, "version < 1");
    const UnixNanos due = NextDue(rec);
    const UnixNanos indexed = rec.indexed_due_ns();
    if (due != 0 && (indexed == 0 || indexed > due)) {
      problem(who, absl::StrCat("next maturity ", due, " but indexed ", indexed));
    }
    if (indexed != 0) {
      LOYALTY_ASSIGN_OR_RETURN(bool present, store->HasDue(MemberRefOf(rec), indexed));
      if (!present) problem(who, "missing from the due index");
    }
    return absl::OkStatus();
  });
  LOYALTY_RETURN_IF_ERROR(scan);
  if (static_cast<int64_t>(facts.size()) > report.members) {
    problem("journal", absl::StrCat(static_cast<int64_t>(facts.size()) - report.members,
                                    " members in the journal have no record"));
  }
  return report;
}

}  // namespace loyalty
