#include "tests/testing/store_hash.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/base/crypto.h"
#include "engine/store/store.h"

namespace loyalty::testing {
namespace {

// The partition's store opened read-only; aborts naming `who` if it cannot.
std::unique_ptr<PartitionStore> OpenToHash(const std::string& partition_dir, const char* who) {
  auto store = OpenPartitionReadOnly(partition_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, store.status().ToString().c_str());
    std::abort();
  }
  return std::move(*store);
}

// Hex SHA-256 of what `feed` adds to the context.
template <class Feed>
std::string HexSha256(Feed feed) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  feed(ctx);
  Digest256 d;
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, d.data(), &len);
  EVP_MD_CTX_free(ctx);
  return HexDigest(d);
}

}  // namespace

std::string HashPartitionStore(const std::string& partition_dir, bool state_only) {
  std::unique_ptr<PartitionStore> store = OpenToHash(partition_dir, "HashPartitionStore");
  return HexSha256([&](EVP_MD_CTX* ctx) {
    auto add = [&](const rocksdb::Slice& s) {
      uint64_t n = s.size();
      EVP_DigestUpdate(ctx, &n, sizeof(n));
      EVP_DigestUpdate(ctx, s.data(), s.size());
    };
    for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
      if (state_only &&
          (cf == static_cast<int>(Cf::kMeta) || cf == static_cast<int>(Cf::kJournal))) {
        continue;
      }
      if (cf == static_cast<int>(Cf::kJournal)) {
        // The journal by its records: which batch holds a record depends on
        // the batch sizes, the records do not.
        uint64_t marker = 0xC0FFEE00u + cf;
        EVP_DigestUpdate(ctx, &marker, sizeof(marker));
        absl::Status s = store->ForEachJournalRecord(0, [&](const JournalRecordView& r) {
          const uint64_t head[3] = {static_cast<uint64_t>(r.seq), static_cast<uint64_t>(r.kind),
                                    static_cast<uint64_t>(r.version)};
          EVP_DigestUpdate(ctx, head, sizeof(head));
          add(rocksdb::Slice(r.key.data(), r.key.size()));
          add(rocksdb::Slice(r.value.data(), r.value.size()));
          return absl::OkStatus();
        });
        if (!s.ok()) {
          std::fprintf(stderr, "HashPartitionStore: %s\n", s.ToString().c_str());
          std::abort();
        }
        continue;
      }
      std::unique_ptr<rocksdb::Iterator> it(
          store->db()->NewIterator(rocksdb::ReadOptions(), store->cf(static_cast<Cf>(cf))));
      uint64_t marker = 0xC0FFEE00u + cf;
      EVP_DigestUpdate(ctx, &marker, sizeof(marker));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        // The input-source record says where the input came from, not what
        // was applied: the same events give the same digest from a file or
        // a topic, under any path. The program-version records say under
        // which rules: digests stay comparable with stores from before
        // they were recorded.
        if (IsProvenanceKey(static_cast<Cf>(cf),
                            absl::string_view(it->key().data(), it->key().size()))) {
          continue;
        }
        add(it->key());
        add(it->value());
      }
      if (!it->status().ok()) std::abort();
    }
  });
}

std::string HashJournal(const std::string& partition_dir) {
  std::unique_ptr<PartitionStore> store = OpenToHash(partition_dir, "HashJournal");
  return HexSha256([&](EVP_MD_CTX* ctx) {
    absl::Status s = store->ForEachJournalRecord(0, [&](const JournalRecordView& r) {
      const uint64_t head[5] = {static_cast<uint64_t>(r.seq), static_cast<uint64_t>(r.kind),
                                static_cast<uint64_t>(r.version), r.key.size(), r.value.size()};
      EVP_DigestUpdate(ctx, head, sizeof(head));
      EVP_DigestUpdate(ctx, r.key.data(), r.key.size());
      EVP_DigestUpdate(ctx, r.value.data(), r.value.size());
      return absl::OkStatus();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "HashJournal: %s\n", s.ToString().c_str());
      std::abort();
    }
  });
}

std::string MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/loyalty-", name, "-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace loyalty::testing
