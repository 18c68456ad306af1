#include "tests/testing/output_check.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "engine/store/journal.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty::testing {
namespace {

struct Record {
  int partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;    // read only when asked for
  std::string headers;  // kcat's %h: name=value,name=value (values may hold ',' or '\n')
};

// The value of header `name` when it is the `index`-th header (0-based);
// loyalty.seq comes first, then loyalty.version or loyalty.reason, before
// any free text.
std::optional<std::string> HeaderAt(const std::string& headers, int index, absl::string_view name) {
  size_t pos = 0;
  for (int i = 0; i < index; ++i) {
    pos = headers.find(',', pos);
    if (pos == std::string::npos) return std::nullopt;
    ++pos;
  }
  const std::string prefix = absl::StrCat(name, "=");
  if (headers.compare(pos, prefix.size(), prefix) != 0) return std::nullopt;
  const size_t end = headers.find(',', pos);
  return headers.substr(pos + prefix.size(),
                        end == std::string::npos ? std::string::npos : end - pos - prefix.size());
}

// Every committed record of `topic`, in partition and offset order. kcat
// prints "partition\toffset\tkeylength\tkey\t[valuelength\tvalue\t]headers\n";
// the key and the value are cut by their lengths (values are binary), and
// the headers run to the next line that starts a record (a DLQ detail may
// hold a newline). Anything else is an error.
absl::StatusOr<std::vector<Record>> ReadWithKcat(const std::string& brokers,
                                                 const std::string& topic, bool values) {
  const std::string cmd = absl::StrCat(
      "kcat -C -b ", brokers, " -t ", topic, " -X isolation.level=read_committed -e -q -f '",
      values ? "%p\t%o\t%K\t%k\t%S\t%s\t%h\n" : "%p\t%o\t%K\t%k\t%h\n", "' 2>&1");
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", cmd));
  std::string text;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) text.append(buf, n);
  const int rc = pclose(f);
  if (rc != 0) return absl::UnavailableError(absl::StrCat(cmd, " exited with ", rc, ": ", text));
  static const std::regex kStart(R"(^(\d+)\t(\d+)\t(-?\d+)\t)");
  std::vector<Record> out;
  size_t pos = 0;
  while (pos < text.size()) {
    std::smatch m;
    const std::string rest = text.substr(pos, 64);
    if (!std::regex_search(rest, m, kStart)) {
      return absl::DataLossError(absl::StrCat(topic, ": unexpected kcat output at byte ", pos, ": ",
                                              text.substr(pos, 80)));
    }
    Record r;
    r.partition = std::stoi(m[1].str());
    r.offset = std::stoll(m[2].str());
    const int64_t key_size = std::stoll(m[3].str());
    pos += m[0].length();
    if (key_size > 0) {
      r.key = text.substr(pos, static_cast<size_t>(key_size));
      pos += static_cast<size_t>(key_size);
    }
    if (pos >= text.size() || text[pos] != '\t') {
      return absl::DataLossError(absl::StrCat(topic, ": bad key at offset ", r.offset));
    }
    ++pos;
    if (values) {
      const size_t tab = text.find('\t', pos);
      int64_t value_size = 0;
      if (tab == std::string::npos ||
          !absl::SimpleAtoi(absl::string_view(text).substr(pos, tab - pos), &value_size) ||
          tab + 1 + std::max<int64_t>(0, value_size) >= text.size()) {
        return absl::DataLossError(absl::StrCat(topic, ": bad value at offset ", r.offset));
      }
      pos = tab + 1;
      if (value_size > 0) {
        r.value = text.substr(pos, static_cast<size_t>(value_size));
        pos += static_cast<size_t>(value_size);
      }
      if (text[pos] != '\t') {
        return absl::DataLossError(absl::StrCat(topic, ": bad value at offset ", r.offset));
      }
      ++pos;
    }
    // The headers end at the newline before the next record (or the end).
    size_t end = pos;
    for (;;) {
      end = text.find('\n', end);
      if (end == std::string::npos || end + 1 == text.size()) break;
      if (std::regex_search(text.substr(end + 1, 64), kStart)) break;
      ++end;
    }
    r.headers = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    out.push_back(std::move(r));
  }
  return out;
}

// CheckOutputs' checks, one method per kind of record; problems are kept
// (the first 20) rather than returned, so that one run shows them all.
class Checker {
 public:
  explicit Checker(const Topics& topics) : topics_(topics) {}

  absl::Status ReadTopic(const std::string& brokers, const std::string& topic) {
    const bool values = topic == topics_.outcomes || topic == topics_.ledger;
    auto records = ReadWithKcat(brokers, topic, values);
    if (!records.ok()) return records.status();
    c_.records[topic] = static_cast<int64_t>(records->size());
    std::map<int, int64_t> last_in_partition;  // seqs rise with the offset
    for (const Record& r : *records) {
      const std::string where = absl::StrCat(topic, "/", r.partition, "@", r.offset);
      int64_t seq = 0;
      auto seq_header = HeaderAt(r.headers, 0, "loyalty.seq");
      if (!seq_header.has_value() || !absl::SimpleAtoi(*seq_header, &seq)) {
        Problem(absl::StrCat(where, ": no loyalty.seq header first: ", r.headers));
        continue;
      }
      if (topic == topics_.ledger) {
        ledger_[r.key].emplace_back(seq, r.value);
        continue;
      }
      seqs_[r.partition].push_back(seq);
      int64_t& last = last_in_partition[r.partition];
      if (seq <= last) Problem(absl::StrCat(where, ": seq ", seq, " after ", last));
      last = seq;
      if (topic == topics_.outcomes) CheckOutcome(r, seq, where);
      if (topic == topics_.balances) CheckBalance(r, where);
      if (topic == topics_.dlq) CheckDlq(r, where);
    }
    return absl::OkStatus();
  }

  OutputCheck Finish() {
    CheckLedgerTopic();
    CheckSeqs();
    return std::move(c_);
  }

 private:
  void Problem(std::string p) {
    if (c_.problems.size() < 20) c_.problems.push_back(std::move(p));
  }

  // Each member's ledger entries, inside its outcomes, rise by exactly 1.
  void CheckOutcome(const Record& r, int64_t seq, const std::string& where) {
    loyalty::v1::Outcome outcome;
    if (!outcome.ParseFromString(r.value)) {
      Problem(absl::StrCat(where, ": the value is not an Outcome"));
      return;
    }
    std::vector<absl::string_view> views;
    if (!OutcomeEntries(r.value, &views).ok()) {
      Problem(absl::StrCat(where, ": unreadable entries"));
      return;
    }
    for (int i = 0; i < outcome.entries_size(); ++i) {
      const auto& e = outcome.entries(i);
      int64_t& last_entry = c_.last_entry[r.key];
      if (e.seq() != last_entry + 1) {
        Problem(absl::StrCat(where, ": ", r.key, " ledger entry ", e.seq(), " after ", last_entry,
                             e.seq() <= last_entry ? " (twice)" : " (missing)"));
      }
      if (absl::StrCat(e.program_id(), "/", e.member_id()) != r.key) {
        Problem(absl::StrCat(where, ": an entry of ", e.member_id(), " under ", r.key));
      }
      last_entry = e.seq();
      c_.entries++;
      entries_[r.key].emplace_back(seq, std::string(views[static_cast<size_t>(i)]));
    }
  }

  // Each member's balance versions rise by exactly 1 from 1.
  void CheckBalance(const Record& r, const std::string& where) {
    int64_t version = 0;
    auto v = HeaderAt(r.headers, 1, "loyalty.version");
    if (!v.has_value() || !absl::SimpleAtoi(*v, &version)) {
      Problem(absl::StrCat(where, ": no loyalty.version header"));
      return;
    }
    auto [it, inserted] = c_.last_version.emplace(r.key, version);
    const int64_t expected = inserted ? 1 : it->second + 1;
    if (version != expected) {
      Problem(absl::StrCat(where, ": ", r.key, " version ", version, " after ",
                           inserted ? 0 : it->second));
    }
    it->second = version;
  }

  // A DLQ record carries its reason and source headers.
  void CheckDlq(const Record& r, const std::string& where) {
    auto reason = HeaderAt(r.headers, 1, "loyalty.reason");
    if (!reason.has_value()) {
      Problem(absl::StrCat(where, ": no loyalty.reason header"));
    } else {
      c_.dlq_by_reason[*reason]++;
    }
    for (const char* h : {",loyalty.source.topic=", ",loyalty.source.partition=",
                          ",loyalty.source.offset=", ",loyalty.engine.version="}) {
      if (r.headers.find(h) == std::string::npos) {
        Problem(absl::StrCat(where, ": no ", h + 1, " header"));
      }
    }
  }

  // The ledger topic (when published) holds exactly the outcomes' entries.
  void CheckLedgerTopic() {
    if (c_.records[topics_.ledger] == 0) return;
    for (const auto& [member, list] : entries_) {
      auto it = ledger_.find(member);
      if (it == ledger_.end() || it->second != list) {
        Problem(absl::StrCat(topics_.ledger, ": the records of ", member, " (",
                             it == ledger_.end() ? 0 : it->second.size(),
                             ") are not the entries of its outcomes (", list.size(), ")"));
      }
    }
    if (ledger_.size() != entries_.size()) {
      Problem(absl::StrCat(topics_.ledger, ": records of ", ledger_.size(), " members, entries of ",
                           entries_.size()));
    }
  }

  // Each partition's output seqs are 1..n without gaps or duplicates.
  void CheckSeqs() {
    for (auto& [partition, list] : seqs_) {
      std::sort(list.begin(), list.end());
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i] != static_cast<int64_t>(i) + 1) {
          Problem(absl::StrCat("partition ", partition, ": output seq ", list[i], " where ", i + 1,
                               " was due (", i > 0 && list[i] == list[i - 1] ? "duplicate" : "gap",
                               ")"));
          break;
        }
      }
      c_.last_seq[partition] = list.empty() ? 0 : list.back();
    }
  }

  const Topics& topics_;
  OutputCheck c_;
  std::map<int, std::vector<int64_t>> seqs_;  // partition -> seqs of outcomes, balances, DLQ
  // Per member in order, (outcome seq, entry bytes): the entries inside the
  // outcomes, and the records of the ledger topic.
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> entries_, ledger_;
};

}  // namespace

absl::StatusOr<OutputCheck> CheckOutputs(const std::string& brokers, const Topics& topics) {
  Checker checker(topics);
  for (const std::string& topic : topics.outputs()) {
    LOYALTY_RETURN_IF_ERROR(checker.ReadTopic(brokers, topic));
  }
  return checker.Finish();
}

}  // namespace loyalty::testing
