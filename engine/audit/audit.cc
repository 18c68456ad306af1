#include "engine/audit/audit.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/apply/apply.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"
#include "engine/store/keys.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

using loyalty::v1::LedgerEntry;
using loyalty::v1::MemberRecord;

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

absl::StatusOr<VerifyReport> VerifyStore(PartitionStore* store, size_t problems_max) {
  VerifyReport report;
  auto problem = [&](const MemberRecord& rec, const std::string& what) {
    report.problems_total++;
    if (report.problems.size() < problems_max) {
      report.problems.push_back(absl::StrCat(store->path(), ": ", rec.state().program_id(), "/",
                                             rec.state().member_id(), ": ", what));
    }
  };
  absl::Status scan = store->ForEachMember([&](const MemberRecord& rec) -> absl::Status {
    report.members++;
    const auto& st = rec.state();
    int64_t expected_seq = 1;
    int64_t sum = 0, earned = 0, redeemed = 0, expired = 0, clawed = 0, adjusted = 0;
    int64_t last_debt = 0;
    absl::Status entries = store->ForEachEntry(
        st.program_id(), st.member_id(), [&](const LedgerEntry& e) -> absl::Status {
          report.entries++;
          if (e.seq() != expected_seq) {
            problem(rec,
                    absl::StrCat("ledger seq ", e.seq(), " where ", expected_seq, " was expected"));
            expected_seq = e.seq();
          }
          expected_seq++;
          sum += e.points();
          last_debt = e.debt_points_after();
          switch (e.type()) {
            case LedgerEntry::EARN:
            case LedgerEntry::ENGAGE:
            case LedgerEntry::BONUS:
              earned += e.points();
              break;
            case LedgerEntry::REDEEM:
              redeemed -= e.points();
              break;
            case LedgerEntry::EXPIRE:
              expired -= e.points();
              break;
            case LedgerEntry::CLAWBACK:
              clawed -= e.points();
              break;
            case LedgerEntry::ADJUST:
              adjusted += e.points();
              break;
            case LedgerEntry::RELEASE:
              if (e.points() != 0) problem(rec, "RELEASE entry with points");
              break;
            default:
              problem(rec, absl::StrCat("entry ", e.seq(), " of unknown type"));
          }
          return absl::OkStatus();
        });
    LOYALTY_RETURN_IF_ERROR(entries);
    if (expected_seq != rec.next_entry_seq()) {
      problem(rec, absl::StrCat(expected_seq - 1, " ledger entries, record expects ",
                                rec.next_entry_seq() - 1));
    }
    const int64_t balance = st.available_points() + st.pending_points();
    if (sum != balance) {
      problem(rec, absl::StrCat("entries sum to ", sum, " but available + pending = ", balance));
    }
    auto compare = [&](const char* name, int64_t from_entries, int64_t stored) {
      if (from_entries != stored) {
        problem(rec, absl::StrCat(name, " = ", stored, " but the entries give ", from_entries));
      }
    };
    compare("lifetime_earned_points", earned, st.lifetime_earned_points());
    compare("redeemed_points", redeemed, st.redeemed_points());
    compare("expired_points", expired, st.expired_points());
    compare("clawed_back_points", clawed, st.clawed_back_points());
    compare("adjusted_points", adjusted, st.adjusted_points());
    compare("debt_points (last entry)", last_debt, st.debt_points());
    const int64_t rhs = st.lifetime_earned_points() + st.adjusted_points() - st.redeemed_points() -
                        st.expired_points() - st.clawed_back_points();
    if (balance != rhs) {
      problem(rec,
              absl::StrCat("invariant broken: available + pending = ", balance,
                           " but earned + adjusted - redeemed - expired - clawed_back = ", rhs));
    }
    int64_t lots_pending = 0, lots_available = 0;
    for (const auto& lot : rec.lots()) {
      if (lot.remaining_points() <= 0) problem(rec, absl::StrCat("empty lot ", lot.lot_id()));
      if (lot.lot_id() <= 0 || lot.lot_id() >= rec.next_lot_id()) {
        problem(rec, absl::StrCat("lot id ", lot.lot_id(), " out of range"));
      }
      (lot.pending() ? lots_pending : lots_available) += lot.remaining_points();
    }
    if (lots_pending != st.pending_points()) {
      problem(rec, absl::StrCat("pending lots hold ", lots_pending,
                                " but pending_points = ", st.pending_points()));
    }
    if (lots_available - st.debt_points() != st.available_points()) {
      problem(rec,
              absl::StrCat("available lots hold ", lots_available, " with debt ", st.debt_points(),
                           " but available_points = ", st.available_points()));
    }
    if (st.debt_points() < 0 || (st.debt_points() > 0 && lots_available > 0)) {
      problem(rec, absl::StrCat("debt ", st.debt_points(), " while available lots hold ",
                                lots_available));
    }
    if (st.version() < 1) problem(rec, "version < 1");
    const UnixNanos due = NextDue(rec);
    if (due != rec.indexed_due_ns()) {
      problem(rec, absl::StrCat("next maturity ", due, " but indexed ", rec.indexed_due_ns()));
    }
    if (due != 0) {
      LOYALTY_ASSIGN_OR_RETURN(
          auto key, store->Get(Cf::kDue, keys::Due(st.program_id(), due, st.member_id())));
      if (!key.has_value()) problem(rec, "missing from the due index");
    }
    return absl::OkStatus();
  });
  LOYALTY_RETURN_IF_ERROR(scan);
  return report;
}

}  // namespace loyalty
