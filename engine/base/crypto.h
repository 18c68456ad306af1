// File: engine/base/crypto.h
// SHA-256 and HMAC-SHA256 (OpenSSL) for payload digests, random rewards and
// voucher codes.
//
//   Digest256 d = Sha256(payload);
//   Digest256 m = HmacSha256(program.random_seed(), message);
//
//   HmacSha256Key key(program.random_seed());  // the key's blocks hashed once
//   Digest256 m = key.Mac(message);            // same bytes as HmacSha256
//
//   Digest256 m = HmacSha256(seed, {rule_id, absl::string_view("\0", 1), event_id});
//                                              // the parts' concatenation, unbuilt
//
// The results are those of RFC 6234 / RFC 2104 (bit-identical to OpenSSL's
// one-shot SHA256() and HMAC()). OpenSSL 3's one-shot calls look up the
// algorithm and set up a context on every call (~0.8 µs of CPU for a short
// SHA256(), 2-3 µs for an HMAC() on the dev host), and even its reusable EVP
// contexts allocate on every init or copy. These functions run OpenSSL's
// SHA-256 block function on a context on the stack, and keep the hashed key
// blocks of recent HMAC keys per thread (HmacSha256Key), so hashing and MACs
// never touch the heap once a key is cached.
//
// Thread-safety: every function may be called from several threads at once.
// The per-thread state is thread_local; nothing shared is mutated after the
// first call. A CHECK aborts if OpenSSL fails.
#ifndef LOYALTY_ENGINE_BASE_CRYPTO_H_
#define LOYALTY_ENGINE_BASE_CRYPTO_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace loyalty {

using Digest256 = std::array<uint8_t, 32>;

namespace crypto_internal {
// Room for OpenSSL's SHA256_CTX (112 bytes in OpenSSL 3; crypto.cc checks
// the fit at compile time), so this header needs no OpenSSL include.
struct Sha256State {
  alignas(8) unsigned char bytes[128];
};
}  // namespace crypto_internal

Digest256 Sha256(absl::string_view data);

// HMAC-SHA256 of `message` under `key` (any length, empty included). Keeps
// the hashed blocks of the last kHmacKeysPerThreadMax keys used by each
// thread, so a repeated key (a program's random seed) costs the message's
// blocks plus two block compressions, not OpenSSL's per-call setup.
Digest256 HmacSha256(absl::string_view key, absl::string_view message);
// HMAC-SHA256 of the concatenation of `message_parts`, without building it.
Digest256 HmacSha256(absl::string_view key, std::initializer_list<absl::string_view> message_parts);

// The number of keys whose hashed blocks HmacSha256 keeps per thread; a
// thread alternating between more keys recomputes them (same results, slower).
inline constexpr size_t kHmacKeysPerThreadMax = 16;

// One HMAC-SHA256 key with its padded blocks (key ^ ipad, key ^ opad; a key
// longer than the 64-byte block hashed first) absorbed once into two SHA-256
// states. Mac copies those states instead of hashing the key again.
// Thread-safety: Mac is const and may be called on one key from several
// threads at once. Copyable (two plain states); the destructor wipes them.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(absl::string_view key);
  HmacSha256Key(const HmacSha256Key&) = default;
  HmacSha256Key& operator=(const HmacSha256Key&) = default;
  ~HmacSha256Key();

  // The same bytes as HmacSha256(key, message).
  Digest256 Mac(absl::string_view message) const;
  // The same bytes as HmacSha256(key, message_parts).
  Digest256 Mac(std::initializer_list<absl::string_view> message_parts) const;

 private:
  crypto_internal::Sha256State inner_;  // SHA-256 state after absorbing key ^ ipad
  crypto_internal::Sha256State outer_;  // SHA-256 state after absorbing key ^ opad
};

// SHA-256 of bytes fed in pieces (a file read in chunks), with the digest
// of what was fed so far available at any time.
//
//   Sha256Stream h;
//   h.Update(chunk1);  h.Update(chunk2);
//   Digest256 d = h.Digest();  // == Sha256(chunk1 + chunk2); more may follow
//
// Thread-compatible. Copyable.
class Sha256Stream {
 public:
  Sha256Stream();
  void Update(absl::string_view data);
  // The digest of every byte fed so far; the stream goes on.
  Digest256 Digest() const;
  int64_t bytes() const { return bytes_; }

 private:
  crypto_internal::Sha256State state_;
  int64_t bytes_ = 0;
};

// Big-endian uint64 of the first 8 bytes.
uint64_t First64(const Digest256& d);
std::string DigestBytes(const Digest256& d);
std::string HexDigest(const Digest256& d);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_CRYPTO_H_
