// File: engine/apply/validate.h
// Decoding and the stateless part of SPEC §7 validation. The stateful checks
// (DUPLICATE_CONFLICT, DUPLICATE_ORDER) need the store and are done by the
// partition (engine/ledger).
//
//   Rejection r = DecodeEvent(line, InputFormat::kJson, &event);
//   if (r.reason == v1::REJECT_REASON_UNSPECIFIED) r = ValidateEvent(event, programs);
//
// Pure functions; thread-compatible.
#ifndef LOYALTY_ENGINE_APPLY_VALIDATE_H_
#define LOYALTY_ENGINE_APPLY_VALIDATE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "engine/program/program.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {

inline constexpr size_t kRecordBytesMax = 1 << 20;  // 1 MiB
inline constexpr int kLineItemsMax = 1000;
inline constexpr size_t kEventIdBytesMax = 128;
inline constexpr size_t kMemberIdBytesMax = 64;
inline constexpr size_t kOtherIdBytesMax = 128;  // every other id-like string

enum class InputFormat {
  kJson,    // one proto3-JSON object (files)
  kBinary,  // binary protobuf (Kafka values)
};

// Why a record is refused; reason UNSPECIFIED means accepted.
struct Rejection {
  loyalty::v1::RejectReason reason = loyalty::v1::REJECT_REASON_UNSPECIFIED;
  std::string detail;  // names the field or the limit

  bool ok() const { return reason == loyalty::v1::REJECT_REASON_UNSPECIFIED; }
};

// Parses `raw` with protobuf's own parser (JSON: unknown fields ignored, so
// that producers may run a newer schema). MALFORMED or OVERSIZED on failure.
Rejection DecodeEvent(absl::string_view raw, InputFormat format, loyalty::v1::Event* event);

// MISSING_FIELD .. CURRENCY_MISMATCH, in SPEC §7 order.
Rejection ValidateEvent(const loyalty::v1::Event& event, const ProgramSet& programs);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_APPLY_VALIDATE_H_
