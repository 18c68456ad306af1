#include "engine/store/keys.h"

#include "absl/strings/str_cat.h"
#include "engine/base/bytes.h"

namespace loyalty::keys {

std::string Member(absl::string_view program_id, absl::string_view member_id) {
  std::string k;
  k.reserve(program_id.size() + member_id.size() + 1);
  k.append(program_id.data(), program_id.size());
  k.push_back('\0');
  k.append(member_id.data(), member_id.size());
  return k;
}

std::string UnderMember(absl::string_view member_key, absl::string_view suffix) {
  std::string k;
  k.reserve(member_key.size() + suffix.size() + 1);
  k.append(member_key.data(), member_key.size());
  k.push_back('\0');
  k.append(suffix.data(), suffix.size());
  return k;
}

std::string LedgerPrefix(absl::string_view member_key) { return UnderMember(member_key, ""); }

std::string Ledger(absl::string_view member_key, int64_t seq) {
  std::string k = LedgerPrefix(member_key);
  AppendBigEndian64(&k, static_cast<uint64_t>(seq));
  return k;
}

std::string Tick(absl::string_view program_id) {
  std::string k = "tick";
  k.push_back('\0');
  k.append(program_id.data(), program_id.size());
  return k;
}

std::string Caller(absl::string_view name) {
  std::string k = "caller";
  k.push_back('\0');
  k.append(name.data(), name.size());
  return k;
}

std::string DuePrefix(absl::string_view program_id) {
  std::string k(program_id.data(), program_id.size());
  k.push_back('\0');
  return k;
}

std::string Due(absl::string_view program_id, int64_t due_ns, absl::string_view member_id) {
  std::string k = DuePrefix(program_id);
  AppendBigEndian64(&k, OrderedFromSigned(due_ns));
  k.append(member_id.data(), member_id.size());
  return k;
}

std::string Outbox(int64_t seq) {
  std::string k;
  AppendBigEndian64(&k, static_cast<uint64_t>(seq));
  return k;
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

std::string EncodeInt(int64_t v) {
  std::string out;
  AppendBigEndian64(&out, OrderedFromSigned(v));
  return out;
}

int64_t DecodeInt(absl::string_view v) { return SignedFromOrdered(ReadBigEndian64(v)); }

}  // namespace loyalty::keys
