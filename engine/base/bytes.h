// File: engine/base/bytes.h
// Fixed-width big-endian integers for keys that must sort numerically, and
// deterministic protobuf serialization.
#ifndef LOYALTY_ENGINE_BASE_BYTES_H_
#define LOYALTY_ENGINE_BASE_BYTES_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace loyalty {

// Appends `v` as 8 big-endian bytes.
void AppendBigEndian64(std::string* out, uint64_t v);
// Reads 8 big-endian bytes. REQUIRES: in.size() >= 8.
uint64_t ReadBigEndian64(absl::string_view in);

// Signed values sort correctly once the sign bit is flipped.
inline uint64_t OrderedFromSigned(int64_t v) {
  return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
}
inline int64_t SignedFromOrdered(uint64_t v) {
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

// The same message always gives the same bytes (map entries sorted).
std::string SerializeDeterministic(const google::protobuf::MessageLite& msg);
void SerializeDeterministicTo(const google::protobuf::MessageLite& msg, std::string* out);
// The same, appended to `out`; returns the size appended.
size_t AppendDeterministic(const google::protobuf::MessageLite& msg, std::string* out);
// The same again, when the caller has just computed `size` =
// msg.ByteSizeLong() (which also caches the sizes serialization uses), so
// that sizes are computed once. REQUIRES: msg unchanged since.
void AppendDeterministicWithCachedSize(const google::protobuf::MessageLite& msg, size_t size,
                                       std::string* out);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_BYTES_H_
