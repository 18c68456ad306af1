// Program versions (SPEC §10): the records of the program versions a
// partition applied and of its largest effective time applied, per program
// (store.h, AppliedProgramVersion; the keys are in keys.h). A file of its
// own beside store.cc: the partition's hot path does not go through it.
#include <algorithm>
#include <cstring>
#include <memory>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"
#include "engine/store/keys.h"
#include "engine/store/store.h"

namespace loyalty {

bool IsProvenanceKey(Cf which, absl::string_view key) {
  if (IsSourceKey(which, key)) return true;
  if (which != Cf::kMeta) return false;
  for (const char* prefix : {keys::kProgramVersionPrefix, keys::kAppliedTimePrefix}) {
    const size_t n = std::strlen(prefix);
    if (key.size() > n && key.substr(0, n) == prefix && key[n] == '\0') return true;
  }
  return false;
}

absl::StatusOr<std::vector<AppliedProgramVersion>> PartitionStore::AppliedVersions() {
  std::string prefix;
  keys::AppendProgramVersionPrefix(&prefix);
  std::vector<AppliedProgramVersion> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    absl::string_view program_id, version;
    loyalty::v1::ProgramVersionRecord record;
    if (!keys::ParseProgramVersion(key, &program_id, &version) ||
        !record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat(path_, ": unreadable program version record \"",
                                              absl::CHexEscape(key), "\""));
    }
    AppliedProgramVersion& v = out.emplace_back();
    v.program_id = std::string(program_id);
    v.version = std::string(version);
    v.hash = record.hash();
    v.effective_from = record.effective_from();
    v.effective_from_ns = record.effective_from_ns();
  }
  LOYALTY_RETURN_IF_ERROR(FromRocks(it->status(), absl::StrCat("read ", path_)));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.program_id, a.effective_from_ns) <
           std::tie(b.program_id, b.effective_from_ns);
  });
  return out;
}

absl::StatusOr<std::optional<int64_t>> PartitionStore::GetAppliedTimeMax(ProgramId program_id) {
  std::string key;
  keys::AppendAppliedTime(&key, program_id);
  return GetInt(Cf::kMeta, key);
}

void StoreBatch::RecordProgramVersion(const AppliedProgramVersion& version) {
  key_.clear();
  keys::AppendProgramVersion(&key_, ProgramId(version.program_id), version.version);
  loyalty::v1::ProgramVersionRecord record;
  record.set_hash(version.hash);
  record.set_effective_from(version.effective_from);
  record.set_effective_from_ns(version.effective_from_ns);
  Stage(Cf::kMeta, key_, SerializeDeterministic(record), false);
}

void StoreBatch::SetAppliedTimeMax(ProgramId program_id, int64_t t_ns) {
  key_.clear();
  keys::AppendAppliedTime(&key_, program_id);
  value_.clear();
  keys::AppendInt(&value_, t_ns);
  Stage(Cf::kMeta, key_, value_, false);
}

}  // namespace loyalty
