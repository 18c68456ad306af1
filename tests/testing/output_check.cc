#include "tests/testing/output_check.h"

#include <cstdio>
#include <optional>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

}  // namespace

absl::StatusOr<OutputCheck> CheckOutputs(const std::string& brokers, const Topics& topics) {
  OutputCheck c;
  auto problem = [&c](std::string p) {
    if (c.problems.size() < 20) c.problems.push_back(std::move(p));
  };
  std::map<int, std::vector<int64_t>> seqs;  // partition -> seqs of outcomes, balances, DLQ
  // Per member in order, (outcome seq, entry bytes): the entries inside the
  // outcomes, and the records of the ledger topic.
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> entries, ledger;
  for (const std::string& topic : topics.outputs()) {
    const bool values = topic == topics.outcomes || topic == topics.ledger;
    auto records = ReadWithKcat(brokers, topic, values);
    if (!records.ok()) return records.status();
    c.records[topic] = static_cast<int64_t>(records->size());
    std::map<int, int64_t> last_in_partition;  // seqs rise with the offset
    for (const Record& r : *records) {
      const std::string where = absl::StrCat(topic, "/", r.partition, "@", r.offset);
      int64_t seq = 0;
      auto seq_header = HeaderAt(r.headers, 0, "loyalty.seq");
      if (!seq_header.has_value() || !absl::SimpleAtoi(*seq_header, &seq)) {
        problem(absl::StrCat(where, ": no loyalty.seq header first: ", r.headers));
        continue;
      }
      if (topic == topics.ledger) {
        ledger[r.key].emplace_back(seq, r.value);
        continue;
      }
      seqs[r.partition].push_back(seq);
      int64_t& last = last_in_partition[r.partition];
      if (seq <= last) problem(absl::StrCat(where, ": seq ", seq, " after ", last));
      last = seq;
      if (topic == topics.outcomes) {
        loyalty::v1::Outcome outcome;
        if (!outcome.ParseFromString(r.value)) {
          problem(absl::StrCat(where, ": the value is not an Outcome"));
          continue;
        }
        std::vector<absl::string_view> views;
        if (!OutcomeEntries(r.value, &views).ok()) {
          problem(absl::StrCat(where, ": unreadable entries"));
          continue;
        }
        for (int i = 0; i < outcome.entries_size(); ++i) {
          const auto& e = outcome.entries(i);
          int64_t& last_entry = c.last_entry[r.key];
          if (e.seq() != last_entry + 1) {
            problem(absl::StrCat(where, ": ", r.key, " ledger entry ", e.seq(), " after ",
                                 last_entry, e.seq() <= last_entry ? " (twice)" : " (missing)"));
          }
          if (absl::StrCat(e.program_id(), "/", e.member_id()) != r.key) {
            problem(absl::StrCat(where, ": an entry of ", e.member_id(), " under ", r.key));
          }
          last_entry = e.seq();
          c.entries++;
          entries[r.key].emplace_back(seq, std::string(views[static_cast<size_t>(i)]));
        }
      }
      if (topic == topics.balances) {
        int64_t version = 0;
        auto v = HeaderAt(r.headers, 1, "loyalty.version");
        if (!v.has_value() || !absl::SimpleAtoi(*v, &version)) {
          problem(absl::StrCat(where, ": no loyalty.version header"));
          continue;
        }
        auto [it, inserted] = c.last_version.emplace(r.key, version);
        const int64_t expected = inserted ? 1 : it->second + 1;
        if (version != expected) {
          problem(absl::StrCat(where, ": ", r.key, " version ", version, " after ",
                               inserted ? 0 : it->second));
        }
        it->second = version;
      }
      if (topic == topics.dlq) {
        auto reason = HeaderAt(r.headers, 1, "loyalty.reason");
        if (!reason.has_value()) {
          problem(absl::StrCat(where, ": no loyalty.reason header"));
        } else {
          c.dlq_by_reason[*reason]++;
        }
        for (const char* h : {",loyalty.source.topic=", ",loyalty.source.partition=",
                              ",loyalty.source.offset=", ",loyalty.engine.version="}) {
          if (r.headers.find(h) == std::string::npos) {
            problem(absl::StrCat(where, ": no ", h + 1, " header"));
          }
        }
      }
    }
  }
  // The ledger topic (when published) holds exactly the outcomes' entries.
  if (c.records[topics.ledger] > 0) {
    for (const auto& [member, list] : entries) {
      auto it = ledger.find(member);
      if (it == ledger.end() || it->second != list) {
        problem(absl::StrCat(topics.ledger, ": the records of ", member, " (",
                             it == ledger.end() ? 0 : it->second.size(),
                             ") are not the entries of its outcomes (", list.size(), ")"));
      }
    }
    if (ledger.size() != entries.size()) {
      problem(absl::StrCat(topics.ledger, ": records of ", ledger.size(), " members, entries of ",
                           entries.size()));
    }
  }
  for (auto& [partition, list] : seqs) {
    std::sort(list.begin(), list.end());
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i] != static_cast<int64_t>(i) + 1) {
        problem(absl::StrCat("partition ", partition, ": output seq ", list[i], " where ", i + 1,
                             " was due (", i > 0 && list[i] == list[i - 1] ? "duplicate" : "gap",
                             ")"));
        break;
      }
    }
    c.last_seq[partition] = list.empty() ? 0 : list.back();
  }
  return c;
}

}  // namespace loyalty::testing
