#include "engine/apply/validate.h"

#include "absl/strings/str_cat.h"
#include "engine/base/text.h"
#include "engine/base/time.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty {
namespace {

using loyalty::v1::Event;
using loyalty::v1::RejectReason;

Rejection Reject(RejectReason reason, std::string detail) {
  return Rejection{reason, std::move(detail)};
}

// An id field: non-empty when required, at most `max_bytes`, clean text.
// Emptiness is MISSING_FIELD (checked earlier); the rest is BAD_ID. The
// field is named "<field>" or, for a line item, "purchase.items[<item>].<field>";
// the name is built only for a rejection (this runs for every string of
// every event).
Rejection CheckId(absl::string_view field, absl::string_view value, size_t max_bytes,
                  int item = -1) {
  const bool too_long = value.size() > max_bytes;
  if (!too_long && IsCleanText(value)) return {};
  const std::string name =
      item < 0 ? std::string(field) : absl::StrCat("purchase.items[", item, "].", field);
  if (too_long) {
    return Reject(v1::BAD_ID,
                  absl::StrCat(name, ": ", value.size(), " bytes, at most ", max_bytes));
  }
  return Reject(v1::BAD_ID, absl::StrCat(name, ": not UTF-8 or has control characters"));
}

Rejection CheckTime(absl::string_view field, const google::protobuf::Timestamp& ts) {
  auto ns = TimestampToNanos(ts);
  if (!ns.ok() || *ns < kEventTimeMinNs || *ns >= kEventTimeLimitNs) {
    return Reject(v1::BAD_TIME, absl::StrCat(field, ": outside [2000-01-01, 2100-01-01)"));
  }
  return {};
}

Rejection MissingFields(const Event& e) {
  if (e.event_id().empty()) return Reject(v1::MISSING_FIELD, "event_id");
  if (e.program_id().empty()) return Reject(v1::MISSING_FIELD, "program_id");
  if (!e.has_occurred_at()) return Reject(v1::MISSING_FIELD, "occurred_at");
  if (e.body_case() == Event::BODY_NOT_SET) return Reject(v1::MISSING_FIELD, "body");
  if (e.body_case() != Event::kTick && e.member_id().empty()) {
    return Reject(v1::MISSING_FIELD, "member_id");
  }
  switch (e.body_case()) {
    case Event::kPurchase:
      if (e.purchase().order_id().empty()) return Reject(v1::MISSING_FIELD, "purchase.order_id");
      break;
    case Event::kRefund:
      if (e.refund().order_id().empty()) return Reject(v1::MISSING_FIELD, "refund.order_id");
      break;
    case Event::kAdjustment:
      if (e.adjustment().reason().empty()) return Reject(v1::MISSING_FIELD, "adjustment.reason");
      break;
    case Event::kMembership:
      if (e.membership().plan_id().empty()) return Reject(v1::MISSING_FIELD, "membership.plan_id");
      break;
    case Event::kTick:
      if (!e.tick().has_now()) return Reject(v1::MISSING_FIELD, "tick.now");
      break;
    case Event::kEngagement:   // no field of its own is required (SPEC §7)
    case Event::kRedemption:   // reward_id or points: BadAmounts checks which
    case Event::BODY_NOT_SET:  // checked above
      break;
  }
  return {};
}

Rejection BadIds(const Event& e) {
  Rejection r;
  auto check = [&r](absl::string_view field, absl::string_view value, size_t max, int item = -1) {
    if (r.ok()) r = CheckId(field, value, max, item);
  };
  check("event_id", e.event_id(), kEventIdBytesMax);
  check("program_id", e.program_id(), kOtherIdBytesMax);
  check("member_id", e.member_id(), kMemberIdBytesMax);
  check("source", e.source(), kOtherIdBytesMax);
  switch (e.body_case()) {
    case Event::kPurchase: {
      const auto& p = e.purchase();
      check("purchase.order_id", p.order_id(), kOtherIdBytesMax);
      check("purchase.currency", p.currency(), kOtherIdBytesMax);
      check("purchase.store_id", p.store_id(), kOtherIdBytesMax);
      check("purchase.partner_id", p.partner_id(), kOtherIdBytesMax);
      for (int i = 0; i < p.items_size() && r.ok(); ++i) {
        check("sku", p.items(i).sku(), kOtherIdBytesMax, i);
        check("category", p.items(i).category(), kOtherIdBytesMax, i);
      }
      break;
    }
    case Event::kEngagement:
      check("engagement.action", e.engagement().action(), kOtherIdBytesMax);
      check("engagement.ref", e.engagement().ref(), kOtherIdBytesMax);
      break;
    case Event::kRedemption:
      check("redemption.reward_id", e.redemption().reward_id(), kOtherIdBytesMax);
      break;
    case Event::kRefund:
      check("refund.order_id", e.refund().order_id(), kOtherIdBytesMax);
      break;
    case Event::kAdjustment:
      check("adjustment.reason", e.adjustment().reason(), 1024);
      check("adjustment.operator_id", e.adjustment().operator_id(), kOtherIdBytesMax);
      break;
    case Event::kMembership:
      check("membership.plan_id", e.membership().plan_id(), kOtherIdBytesMax);
      break;
    case Event::kTick:
      if (r.ok() && !e.member_id().empty()) {
        r = Reject(v1::BAD_ID, "member_id: a tick has no member_id");
      }
      break;
    case Event::BODY_NOT_SET:  // MissingFields refused it
      break;
  }
  return r;
}

// A purchase's amount, and its items' quantities and amounts summing to it.
Rejection BadPurchaseAmounts(const v1::Purchase& p) {
  if (p.amount_minor() <= 0 || p.amount_minor() > kAmountMinorMax) {
    return Reject(v1::BAD_AMOUNT, absl::StrCat("purchase.amount_minor: ", p.amount_minor(),
                                               " not in [1, ", kAmountMinorMax, "]"));
  }
  if (p.items_size() > 0) {
    __int128 sum = 0;
    for (int i = 0; i < p.items_size(); ++i) {
      const auto& item = p.items(i);
      if (item.quantity() < 1) {
        return Reject(v1::BAD_AMOUNT,
                      absl::StrCat("purchase.items[", i, "].quantity: ", item.quantity(), " < 1"));
      }
      if (item.amount_minor() < 0) {
        return Reject(
            v1::BAD_AMOUNT,
            absl::StrCat("purchase.items[", i, "].amount_minor: ", item.amount_minor(), " < 0"));
      }
      sum += item.amount_minor();
    }
    if (sum != p.amount_minor()) {
      return Reject(v1::BAD_AMOUNT, "purchase.items: amounts do not sum to amount_minor");
    }
  }
  return {};
}

Rejection BadAmounts(const Event& e, const CompiledProgram& program) {
  switch (e.body_case()) {
    case Event::kPurchase:
      return BadPurchaseAmounts(e.purchase());
    case Event::kEngagement:
      if (e.engagement().action() == "nps" &&
          (e.engagement().score() < 0 || e.engagement().score() > 10)) {
        return Reject(v1::BAD_AMOUNT, absl::StrCat("engagement.score: ", e.engagement().score(),
                                                   " not in [0, 10]"));
      }
      break;
    case Event::kRedemption: {
      const auto& r = e.redemption();
      bool has_reward = !r.reward_id().empty();
      bool has_points = r.points() != 0;
      if (has_reward == has_points) {
        return Reject(v1::BAD_AMOUNT, "redemption: exactly one of reward_id and points");
      }
      if (has_points && (r.points() < 0 || r.points() > kPointsPerEventMax)) {
        return Reject(v1::BAD_AMOUNT, absl::StrCat("redemption.points: ", r.points(),
                                                   " not in [1, ", kPointsPerEventMax, "]"));
      }
      break;
    }
    case Event::kRefund:
      if (e.refund().amount_minor() <= 0 || e.refund().amount_minor() > kAmountMinorMax) {
        return Reject(v1::BAD_AMOUNT,
                      absl::StrCat("refund.amount_minor: ", e.refund().amount_minor(),
                                   " not in [1, ", kAmountMinorMax, "]"));
      }
      break;
    case Event::kAdjustment: {
      int64_t pts = e.adjustment().points();
      if (pts == 0 || pts > kPointsPerEventMax || pts < -kPointsPerEventMax) {
        return Reject(v1::BAD_AMOUNT,
                      absl::StrCat("adjustment.points: ", pts,
                                   " must be non-zero with |points| <= ", kPointsPerEventMax));
      }
      break;
    }
    case Event::kMembership:
      if (program.PaidPlan(e.membership().plan_id()) == nullptr) {
        return Reject(v1::BAD_AMOUNT, absl::StrCat("membership.plan_id: unknown plan \"",
                                                   e.membership().plan_id(), "\""));
      }
      break;
    case Event::kTick:  // MissingFields and the time checks cover a tick
    case Event::BODY_NOT_SET:
      break;
  }
  return {};
}

}  // namespace

Rejection DecodeEvent(absl::string_view raw, InputFormat format, Event* event) {
  if (raw.size() > kRecordBytesMax) {
    return Reject(v1::OVERSIZED,
                  absl::StrCat("record of ", raw.size(), " bytes, at most ", kRecordBytesMax));
  }
  event->Clear();
  if (format == InputFormat::kBinary) {
    if (!event->ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
      return Reject(v1::MALFORMED, "not a binary loyalty.v1.Event");
    }
  } else {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(raw.data(), raw.size()), event, options);
    if (!status.ok()) {
      return Reject(v1::MALFORMED, std::string(status.message()));
    }
  }
  if (event->has_purchase() && event->purchase().items_size() > kLineItemsMax) {
    return Reject(v1::OVERSIZED, absl::StrCat(event->purchase().items_size(),
                                              " line items, at most ", kLineItemsMax));
  }
  return {};
}

Rejection ValidateEvent(const Event& e, const ProgramSet& programs) {
  if (Rejection r = MissingFields(e); !r.ok()) return r;
  if (Rejection r = BadIds(e); !r.ok()) return r;
  const ProgramHistory* history = programs.FindHistory(e.program_id());
  if (history == nullptr) {
    return Reject(v1::UNKNOWN_PROGRAM, absl::StrCat("program_id: \"", e.program_id(), "\""));
  }
  if (Rejection r = CheckTime("occurred_at", e.occurred_at()); !r.ok()) return r;
  if (e.has_tick()) {
    if (Rejection r = CheckTime("tick.now", e.tick().now()); !r.ok()) return r;
  }
  // The version in force when the customer acted. The event is applied
  // under the one in force at its effective time t >= occurred_at, which
  // keeps every plan id of this one (engine/program); the currency never
  // changes between versions.
  const CompiledProgram* program = history->size() == 1
                                       ? &history->base()
                                       : &history->At(CheckedNanos(e.occurred_at(), "occurred_at"));
  if (Rejection r = BadAmounts(e, *program); !r.ok()) return r;
  if (e.has_purchase() && e.purchase().currency() != program->proto().currency()) {
    return Reject(
        v1::CURRENCY_MISMATCH,
        absl::StrCat("purchase.currency: \"", e.purchase().currency(), "\", program \"",
                     program->program_id(), "\" uses \"", program->proto().currency(), "\""));
  }
  return {};
}

}  // namespace loyalty
