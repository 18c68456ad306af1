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

}  // namespace

absl::Status CheckStoredMember(const PartitionStore& store, const MemberRecord& record) {
  absl::Status s = CheckMemberRecord(record);  // names the member
  if (s.ok()) return s;
  return absl::DataLossError(absl::StrCat(store.path(), ": ", s.message()));
}

absl::StatusOr<bool> GetCheckedMember(PartitionStore* store, const MemberRef& member,
                                      MemberRecord* out) {
  LOYALTY_ASSIGN_OR_RETURN(bool found, store->GetMember(member, out));
  if (found) LOYALTY_RETURN_IF_ERROR(CheckStoredMember(*store, *out));
  return found;
}

absl::Status ForEachCheckedMember(PartitionStore* store,
                                  const std::function<absl::Status(const MemberRecord&)>& fn) {
  return store->ForEachMember([&](const MemberRecord& record) -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(CheckStoredMember(*store, record));
    return fn(record);
  });
}

namespace {

// VerifyStore's two passes: the journal once, into facts per member, then
// every member record against its facts.
class Verifier {
 public:
  Verifier(PartitionStore* store, size_t problems_max)
      : store_(store), problems_max_(problems_max) {}

  absl::StatusOr<VerifyReport> Run() {
    LOYALTY_RETURN_IF_ERROR(store_->ForEachJournalRecord(
        0, [this](const JournalRecordView& r) { return AddJournalRecord(r); }));
    LOYALTY_ASSIGN_OR_RETURN(PartitionMeta meta, store_->ReadMeta({}));
    if (expected_output_seq_ != meta.next_seq) {
      Problem("journal", absl::StrCat("the journal ends at seq ", expected_output_seq_ - 1,
                                      " but the next output seq is ", meta.next_seq));
    }
    LOYALTY_RETURN_IF_ERROR(
        store_->ForEachMember([this](const MemberRecord& rec) { return CheckMember(rec); }));
    if (static_cast<int64_t>(facts_.size()) > report_.members) {
      Problem("journal", absl::StrCat(static_cast<int64_t>(facts_.size()) - report_.members,
                                      " members in the journal have no record"));
    }
    return std::move(report_);
  }

 private:
  void Problem(absl::string_view who, const std::string& what) {
    report_.problems_total++;
    if (report_.problems.size() < problems_max_) {
      report_.problems.push_back(absl::StrCat(store_->path(), ": ", who, ": ", what));
    }
  }

  absl::Status AddJournalRecord(const JournalRecordView& r) {
    if (r.seq != expected_output_seq_) {
      Problem("journal",
              absl::StrCat("output seq ", r.seq, " where ", expected_output_seq_, " was expected"));
    }
    expected_output_seq_ = r.seq + 1;
    switch (r.kind) {
      case JournalKind::kOutcome: {
        if (!outcome_.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
          return absl::DataLossError(absl::StrCat(store_->path(), ": outcome ", r.seq));
        }
        if (outcome_.entries_size() == 0) return absl::OkStatus();
        JournalFacts& f = facts_[r.key];
        for (const LedgerEntry& e : outcome_.entries()) AddEntry(e, &f);
        return absl::OkStatus();
      }
      case JournalKind::kBalance: {
        if (!balance_.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
          return absl::DataLossError(absl::StrCat(store_->path(), ": balance ", r.seq));
        }
        JournalFacts& f = facts_[r.key];
        const int64_t version = balance_.state().version();
        if ((version != f.last_version + 1 || version != r.version) && f.problems.size() < 3) {
          f.problems.push_back(absl::StrCat("balance version ", version, " (header ", r.version,
                                            ") after ", f.last_version));
        }
        f.last_version = version;
        f.last_state = SerializeDeterministic(balance_.state());
        return absl::OkStatus();
      }
      case JournalKind::kDlq:
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  void AddEntry(const LedgerEntry& e, JournalFacts* f) {
    report_.entries++;
    f->entries++;
    if (e.seq() != f->expected_seq && f->problems.size() < 3) {
      f->problems.push_back(
          absl::StrCat("ledger seq ", e.seq(), " where ", f->expected_seq, " was expected"));
    }
    f->expected_seq = e.seq() + 1;
    f->sum += e.points();
    f->last_debt = e.debt_points_after();
    switch (e.type()) {
      case LedgerEntry::EARN:
      case LedgerEntry::ENGAGE:
      case LedgerEntry::BONUS:
        f->earned += e.points();
        break;
      case LedgerEntry::REDEEM:
        f->redeemed -= e.points();
        break;
      case LedgerEntry::EXPIRE:
        f->expired -= e.points();
        break;
      case LedgerEntry::CLAWBACK:
        f->clawed -= e.points();
        break;
      case LedgerEntry::ADJUST:
        f->adjusted += e.points();
        break;
      case LedgerEntry::RELEASE:
        if (e.points() != 0) f->problems.push_back("RELEASE entry with points");
        break;
      case LedgerEntry::TYPE_UNSPECIFIED:
      case LedgerEntry_Type_LedgerEntry_Type_INT_MIN_SENTINEL_DO_NOT_USE_:
      case LedgerEntry_Type_LedgerEntry_Type_INT_MAX_SENTINEL_DO_NOT_USE_:
        f->problems.push_back(absl::StrCat("entry ", e.seq(), " of unknown type"));
        break;
    }
  }

  absl::Status CheckMember(const MemberRecord& rec) {
    report_.members++;
    const auto& st = rec.state();
    const std::string who = absl::StrCat(st.program_id(), "/", st.member_id());
    static const JournalFacts kNone;
    auto found = facts_.find(who);
    const JournalFacts& f = found == facts_.end() ? kNone : found->second;
    for (const std::string& p : f.problems) Problem(who, p);
    if (f.expected_seq != rec.next_entry_seq()) {
      Problem(who, absl::StrCat(f.expected_seq - 1, " ledger entries, record expects ",
                                rec.next_entry_seq() - 1));
    }
    const int64_t balance = st.available_points() + st.pending_points();
    if (f.sum != balance) {
      Problem(who, absl::StrCat("entries sum to ", f.sum, " but available + pending = ", balance));
    }
    auto compare = [&](const char* name, int64_t from_journal, int64_t stored) {
      if (from_journal != stored) {
        Problem(who, absl::StrCat(name, " = ", stored, " but the journal gives ", from_journal));
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
      Problem(who, "the last balance update is not the stored state");
    }
    absl::Status record = CheckMemberRecord(rec);
    if (!record.ok()) Problem(who, std::string(record.message()));
    if (st.version() < 1) Problem(who, "version < 1");
    return CheckDueIndex(rec, who);
  }

  absl::Status CheckDueIndex(const MemberRecord& rec, const std::string& who) {
    const UnixNanos due = NextDue(rec);
    const UnixNanos indexed = rec.indexed_due_ns();
    if (due != 0 && (indexed == 0 || indexed > due)) {
      Problem(who, absl::StrCat("next maturity ", due, " but indexed ", indexed));
    }
    if (indexed != 0) {
      LOYALTY_ASSIGN_OR_RETURN(bool present, store_->HasDue(MemberRefOf(rec), indexed));
      if (!present) Problem(who, "missing from the due index");
    }
    return absl::OkStatus();
  }

  PartitionStore* const store_;
  const size_t problems_max_;
  VerifyReport report_;
  absl::flat_hash_map<std::string, JournalFacts> facts_;  // by program/member
  int64_t expected_output_seq_ = 1;
  Outcome outcome_;  // reused between records
  BalanceUpdate balance_;
};

}  // namespace

absl::StatusOr<VerifyReport> VerifyStore(PartitionStore* store, size_t problems_max) {
  return Verifier(store, problems_max).Run();
}

}  // namespace loyalty
