#include "engine/base/bytes.h"

#include "engine/base/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace loyalty {

void AppendBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t ReadBigEndian64(absl::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void SerializeDeterministicTo(const google::protobuf::MessageLite& msg, std::string* out) {
  out->clear();
  AppendDeterministic(msg, out);
}

size_t AppendDeterministic(const google::protobuf::MessageLite& msg, std::string* out) {
  // ByteSizeLong caches the sizes that SerializeWithCachedSizes relies on.
  const size_t size = msg.ByteSizeLong();
  AppendDeterministicWithCachedSize(msg, size, out);
  return size;
}

void AppendDeterministicWithCachedSize(const google::protobuf::MessageLite& msg, size_t size,
                                       std::string* out) {
  // Exactly `size` bytes more: a StringOutputStream would first grow the
  // string to its whole capacity (a memset), and callers reuse one scratch
  // string whose capacity a big record once made megabytes.
  const size_t at = out->size();
  out->resize(at + size);
  google::protobuf::io::ArrayOutputStream stream(out->data() + at, static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  msg.SerializeWithCachedSizes(&coded);
  LOYALTY_CHECK(!coded.HadError() && static_cast<size_t>(coded.ByteCount()) == size)
      << "serialized " << coded.ByteCount() << " of " << size << " bytes";
}

std::string SerializeDeterministic(const google::protobuf::MessageLite& msg) {
  std::string out;
  SerializeDeterministicTo(msg, &out);
  return out;
}

}  // namespace loyalty
