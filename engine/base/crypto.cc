#include "engine/base/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "engine/base/status.h"

namespace loyalty {

Digest256 Sha256(absl::string_view data) {
  Digest256 out;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

Digest256 HmacSha256(absl::string_view key, absl::string_view message) {
  Digest256 out;
  unsigned int len = 0;
  unsigned char* r = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                          out.data(), &len);
  LOYALTY_CHECK(r != nullptr && len == out.size()) << "HMAC-SHA256 failed";
  return out;
}

uint64_t First64(const Digest256& d) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | d[i];
  return v;
}

std::string DigestBytes(const Digest256& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string HexDigest(const Digest256& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : d) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace loyalty
