#include "engine/base/crypto.h"

// OpenSSL 3 deprecates the low-level SHA256_* calls in favour of EVP, but
// EVP_DigestInit_ex2 and EVP_MD_CTX_copy_ex allocate on every call (one
// heap block per MAC, measured with DHAT on the apply path), while a
// SHA256_CTX is a plain struct: copying the precomputed HMAC states is a
// memcpy. The functions are still exported by libcrypto 3.x.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/base/status.h"

namespace loyalty {

namespace {

constexpr size_t kSha256BlockBytes = 64;
static_assert(sizeof(crypto_internal::Sha256State) >= sizeof(SHA256_CTX) &&
                  alignof(crypto_internal::Sha256State) >= alignof(SHA256_CTX),
              "Sha256State must hold an OpenSSL SHA256_CTX");

SHA256_CTX* Ctx(crypto_internal::Sha256State* s) { return reinterpret_cast<SHA256_CTX*>(s->bytes); }
const SHA256_CTX* Ctx(const crypto_internal::Sha256State* s) {
  return reinterpret_cast<const SHA256_CTX*>(s->bytes);
}

void Init(SHA256_CTX* ctx) { LOYALTY_CHECK(SHA256_Init(ctx) == 1) << "SHA-256 init failed"; }

void Update(SHA256_CTX* ctx, const void* data, size_t size) {
  LOYALTY_CHECK(SHA256_Update(ctx, data, size) == 1) << "SHA-256 update failed";
}

Digest256 Final(SHA256_CTX* ctx) {
  Digest256 out;
  LOYALTY_CHECK(SHA256_Final(out.data(), ctx) == 1) << "SHA-256 final failed";
  return out;
}

// The hashed blocks of the keys this thread used last, most recent first.
// Programs have one key each (the random seed), so a handful of entries
// covers every key a partition thread sees; a miss recomputes the blocks.
struct CachedKey {
  std::string key;
  HmacSha256Key mac;
};

const HmacSha256Key& KeyFor(absl::string_view key) {
  thread_local std::vector<CachedKey> keys;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].key == key) {
      // Move to the front: the usual call repeats the last key.
      if (i != 0) std::rotate(keys.begin(), keys.begin() + i, keys.begin() + i + 1);
      return keys.front().mac;
    }
  }
  if (keys.size() >= kHmacKeysPerThreadMax) keys.pop_back();
  keys.insert(keys.begin(), CachedKey{std::string(key), HmacSha256Key(key)});
  return keys.front().mac;
}

}  // namespace

Sha256Stream::Sha256Stream() { Init(Ctx(&state_)); }

void Sha256Stream::Update(absl::string_view data) {
  loyalty::Update(Ctx(&state_), data.data(), data.size());
  bytes_ += static_cast<int64_t>(data.size());
}

Digest256 Sha256Stream::Digest() const {
  SHA256_CTX ctx = *Ctx(&state_);
  return Final(&ctx);
}

Digest256 Sha256(absl::string_view data) {
  SHA256_CTX ctx;
  Init(&ctx);
  Update(&ctx, data.data(), data.size());
  return Final(&ctx);
}

// RFC 2104: HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), where K0 is
// K zero-padded to the 64-byte block, or H(K) zero-padded if K is longer
// than the block. Each padded key is exactly one block, so the states after
// absorbing it are all a MAC needs from the key.
HmacSha256Key::HmacSha256Key(absl::string_view key) {
  unsigned char block[kSha256BlockBytes] = {};
  if (key.size() > kSha256BlockBytes) {
    const Digest256 hashed = Sha256(key);
    std::memcpy(block, hashed.data(), hashed.size());
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char pad[kSha256BlockBytes];
  for (size_t i = 0; i < kSha256BlockBytes; ++i) pad[i] = block[i] ^ 0x36;
  Init(Ctx(&inner_));
  Update(Ctx(&inner_), pad, sizeof(pad));
  for (size_t i = 0; i < kSha256BlockBytes; ++i) pad[i] = block[i] ^ 0x5c;
  Init(Ctx(&outer_));
  Update(Ctx(&outer_), pad, sizeof(pad));
  OPENSSL_cleanse(block, sizeof(block));
  OPENSSL_cleanse(pad, sizeof(pad));
}

HmacSha256Key::~HmacSha256Key() {
  OPENSSL_cleanse(&inner_, sizeof(inner_));
  OPENSSL_cleanse(&outer_, sizeof(outer_));
}

Digest256 HmacSha256Key::Mac(absl::string_view message) const {
  return Mac(std::initializer_list<absl::string_view>{message});
}

Digest256 HmacSha256Key::Mac(std::initializer_list<absl::string_view> message_parts) const {
  SHA256_CTX ctx = *Ctx(&inner_);
  for (absl::string_view part : message_parts) Update(&ctx, part.data(), part.size());
  const Digest256 inner = Final(&ctx);
  ctx = *Ctx(&outer_);
  Update(&ctx, inner.data(), inner.size());
  return Final(&ctx);
}

Digest256 HmacSha256(absl::string_view key, absl::string_view message) {
  return KeyFor(key).Mac(std::initializer_list<absl::string_view>{message});
}

Digest256 HmacSha256(absl::string_view key, std::initializer_list<absl::string_view> message_parts) {
  return KeyFor(key).Mac(message_parts);
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
