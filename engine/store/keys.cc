#include "engine/store/keys.h"

#include "absl/strings/strip.h"
#include "engine/base/bytes.h"

namespace loyalty::keys {

void AppendMember(std::string* out, ProgramId program_id, MemberId member_id) {
  out->append(program_id.value().data(), program_id.value().size());
  out->push_back('\0');
  out->append(member_id.value().data(), member_id.value().size());
}

void AppendUnderMember(std::string* out, ProgramId program_id, MemberId member_id,
                       absl::string_view suffix) {
  AppendMember(out, program_id, member_id);
  out->push_back('\0');
  out->append(suffix.data(), suffix.size());
}

void AppendTick(std::string* out, ProgramId program_id) {
  out->append("tick");
  out->push_back('\0');
  out->append(program_id.value().data(), program_id.value().size());
}

void AppendCaller(std::string* out, absl::string_view name) {
  out->append("caller");
  out->push_back('\0');
  out->append(name.data(), name.size());
}

void AppendDue(std::string* out, ProgramId program_id, int64_t due_ns, MemberId member_id) {
  out->append(program_id.value().data(), program_id.value().size());
  out->push_back('\0');
  AppendBigEndian64(out, OrderedFromSigned(due_ns));
  out->append(member_id.value().data(), member_id.value().size());
}

void AppendJournal(std::string* out, int64_t first_seq) {
  AppendBigEndian64(out, static_cast<uint64_t>(first_seq));
}

void AppendProgramVersionPrefix(std::string* out) {
  out->append(kProgramVersionPrefix);
  out->push_back('\0');
}

void AppendProgramVersion(std::string* out, ProgramId program_id, absl::string_view version) {
  AppendProgramVersionPrefix(out);
  out->append(program_id.value().data(), program_id.value().size());
  out->push_back('\0');
  out->append(version.data(), version.size());
}

void AppendAppliedTime(std::string* out, ProgramId program_id) {
  out->append(kAppliedTimePrefix);
  out->push_back('\0');
  out->append(program_id.value().data(), program_id.value().size());
}

bool ParseProgramVersion(absl::string_view key, absl::string_view* program_id,
                         absl::string_view* version) {
  std::string prefix;
  AppendProgramVersionPrefix(&prefix);
  if (!absl::ConsumePrefix(&key, prefix)) return false;
  const size_t sep = key.find('\0');
  if (sep == absl::string_view::npos || sep == 0) return false;
  *program_id = key.substr(0, sep);
  *version = key.substr(sep + 1);
  return !version->empty() && version->find('\0') == absl::string_view::npos;
}

bool ParseMember(absl::string_view key, absl::string_view* program_id,
                 absl::string_view* member_id) {
  size_t sep = key.find('\0');
  if (sep == absl::string_view::npos) return false;
  *program_id = key.substr(0, sep);
  *member_id = key.substr(sep + 1);
  return member_id->find('\0') == absl::string_view::npos;
}

bool ParseDue(absl::string_view key, absl::string_view* program_id, int64_t* due_ns,
              absl::string_view* member_id) {
  size_t sep = key.find('\0');
  if (sep == absl::string_view::npos || key.size() < sep + 1 + 8) return false;
  *program_id = key.substr(0, sep);
  *due_ns = SignedFromOrdered(ReadBigEndian64(key.substr(sep + 1, 8)));
  *member_id = key.substr(sep + 9);
  return true;
}

bool ParseJournal(absl::string_view key, int64_t* first_seq) {
  if (key.size() != 8) return false;
  *first_seq = static_cast<int64_t>(ReadBigEndian64(key));
  return *first_seq > 0;
}

void AppendInt(std::string* out, int64_t v) { AppendBigEndian64(out, OrderedFromSigned(v)); }

int64_t DecodeInt(absl::string_view v) { return SignedFromOrdered(ReadBigEndian64(v)); }

}  // namespace loyalty::keys
