// File: engine/base/crypto.h
// SHA-256 and HMAC-SHA256 (OpenSSL) for payload digests, random rewards and
// voucher codes.
#ifndef LOYALTY_ENGINE_BASE_CRYPTO_H_
#define LOYALTY_ENGINE_BASE_CRYPTO_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace loyalty {

using Digest256 = std::array<uint8_t, 32>;

Digest256 Sha256(absl::string_view data);
Digest256 HmacSha256(absl::string_view key, absl::string_view message);

// Big-endian uint64 of the first 8 bytes.
uint64_t First64(const Digest256& d);
std::string DigestBytes(const Digest256& d);
std::string HexDigest(const Digest256& d);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_CRYPTO_H_
