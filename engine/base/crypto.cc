#include "engine/base/crypto.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/base/status.h"

namespace loyalty {

namespace {

constexpr size_t kSha256BlockBytes = 64;

// SHA-256 fetched once and kept for the process: OpenSSL 3's EVP_sha256()
// and one-shot calls resolve the implementation through the provider on
// every call, which dominated the cost of hashing a few hundred bytes.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  LOYALTY_CHECK(md != nullptr) << "OpenSSL has no SHA256";
  return md;
}

using crypto_internal::MdCtxPtr;

MdCtxPtr NewMdCtx() {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  LOYALTY_CHECK(ctx != nullptr) << "EVP_MD_CTX_new failed";
  return ctx;
}

// This thread's scratch context: Sha256 hashes in it and HmacSha256Key::Mac
// copies its precomputed states into it. Never held across calls.
EVP_MD_CTX* ThreadCtx() {
  thread_local MdCtxPtr ctx = NewMdCtx();
  return ctx.get();
}

void Update(EVP_MD_CTX* ctx, const void* data, size_t size) {
  LOYALTY_CHECK(EVP_DigestUpdate(ctx, data, size) == 1) << "SHA-256 update failed";
}

Digest256 Final(EVP_MD_CTX* ctx) {
  Digest256 out;
  unsigned int len = 0;
  LOYALTY_CHECK(EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size())
      << "SHA-256 final failed";
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

Digest256 Sha256(absl::string_view data) {
  EVP_MD_CTX* ctx = ThreadCtx();
  LOYALTY_CHECK(EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) == 1) << "SHA-256 init failed";
  Update(ctx, data.data(), data.size());
  return Final(ctx);
}

void crypto_internal::MdCtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

// RFC 2104: HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), where K0 is
// K zero-padded to the 64-byte block, or H(K) zero-padded if K is longer
// than the block. Each padded key is exactly one block, so the states after
// absorbing it are all a MAC needs from the key.
HmacSha256Key::HmacSha256Key(absl::string_view key) : inner_(NewMdCtx()), outer_(NewMdCtx()) {
  unsigned char block[kSha256BlockBytes] = {};
  if (key.size() > kSha256BlockBytes) {
    const Digest256 hashed = Sha256(key);
    std::memcpy(block, hashed.data(), hashed.size());
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char pad[kSha256BlockBytes];
  for (size_t i = 0; i < kSha256BlockBytes; ++i) pad[i] = block[i] ^ 0x36;
  LOYALTY_CHECK(EVP_DigestInit_ex2(inner_.get(), Sha256Md(), nullptr) == 1)
      << "SHA-256 init failed";
  Update(inner_.get(), pad, sizeof(pad));
  for (size_t i = 0; i < kSha256BlockBytes; ++i) pad[i] = block[i] ^ 0x5c;
  LOYALTY_CHECK(EVP_DigestInit_ex2(outer_.get(), Sha256Md(), nullptr) == 1)
      << "SHA-256 init failed";
  Update(outer_.get(), pad, sizeof(pad));
  OPENSSL_cleanse(block, sizeof(block));
  OPENSSL_cleanse(pad, sizeof(pad));
}

Digest256 HmacSha256Key::Mac(absl::string_view message) const {
  LOYALTY_CHECK(inner_ != nullptr) << "HmacSha256Key used after move";
  EVP_MD_CTX* ctx = ThreadCtx();
  LOYALTY_CHECK(EVP_MD_CTX_copy_ex(ctx, inner_.get()) == 1) << "SHA-256 copy failed";
  Update(ctx, message.data(), message.size());
  const Digest256 inner = Final(ctx);
  LOYALTY_CHECK(EVP_MD_CTX_copy_ex(ctx, outer_.get()) == 1) << "SHA-256 copy failed";
  Update(ctx, inner.data(), inner.size());
  return Final(ctx);
}

Digest256 HmacSha256(absl::string_view key, absl::string_view message) {
  return KeyFor(key).Mac(message);
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
