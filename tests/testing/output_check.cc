#include "tests/testing/output_check.h"

#include <cstdio>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace loyalty::testing {
namespace {

struct Record {
  int partition = 0;
  int64_t offset = 0;
  std::string key;
  std::map<std::string, std::string> headers;
};

// Every committed record of `topic`, in partition and offset order. kcat
// prints "partition offset key headers" per record; headers are
// name=value,... and a DLQ detail may hold a newline, so a line that does
// not start a record continues the previous one.
absl::StatusOr<std::vector<Record>> ReadWithKcat(const std::string& brokers,
                                                 const std::string& topic) {
  const std::string cmd =
      absl::StrCat("kcat -C -b ", brokers, " -t ", topic,
                   " -X isolation.level=read_committed -e -q -f '%p %o %k %h\\n' 2>&1");
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", cmd));
  std::vector<std::string> lines;
  std::string line;
  char buf[4096];
  while (fgets(buf, sizeof(buf), f) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      lines.push_back(std::move(line));
      line.clear();
    }
  }
  const int rc = pclose(f);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat(cmd, " exited with ", rc, ": ", lines.empty() ? "" : lines.back()));
  }
  std::vector<Record> out;
  for (const std::string& l : lines) {
    std::vector<std::string> parts = absl::StrSplit(l, absl::MaxSplits(' ', 3));
    Record r;
    if (parts.size() == 4 && absl::SimpleAtoi(parts[0], &r.partition) &&
        absl::SimpleAtoi(parts[1], &r.offset) && parts[3].rfind("loyalty.seq=", 0) == 0) {
      r.key = parts[2];
      for (absl::string_view h : absl::StrSplit(parts[3], ',')) {
        std::pair<std::string, std::string> kv = absl::StrSplit(h, absl::MaxSplits('=', 1));
        if (kv.first.rfind("loyalty.", 0) == 0) r.headers.insert(kv);
      }
      out.push_back(std::move(r));
    } else if (out.empty()) {
      return absl::DataLossError(absl::StrCat(topic, ": unexpected kcat line: ", l));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<OutputCheck> CheckOutputs(const std::string& brokers, const Topics& topics) {
  OutputCheck c;
  auto problem = [&c](std::string p) {
    if (c.problems.size() < 20) c.problems.push_back(std::move(p));
  };
  std::map<int, std::vector<int64_t>> seqs;  // partition -> seqs of all topics
  for (const std::string& topic : topics.outputs()) {
    auto records = ReadWithKcat(brokers, topic);
    if (!records.ok()) return records.status();
    c.records[topic] = static_cast<int64_t>(records->size());
    for (const Record& r : *records) {
      const std::string where = absl::StrCat(topic, "/", r.partition, "@", r.offset);
      int64_t seq = 0;
      auto it = r.headers.find("loyalty.seq");
      if (it == r.headers.end() || !absl::SimpleAtoi(it->second, &seq)) {
        problem(absl::StrCat(where, ": no loyalty.seq header"));
        continue;
      }
      seqs[r.partition].push_back(seq);
      if (topic == topics.balances) {
        int64_t version = 0;
        auto v = r.headers.find("loyalty.version");
        if (v == r.headers.end() || !absl::SimpleAtoi(v->second, &version)) {
          problem(absl::StrCat(where, ": no loyalty.version header"));
          continue;
        }
        auto [last, inserted] = c.last_version.emplace(r.key, version);
        const int64_t expected = inserted ? 1 : last->second + 1;
        if (version != expected) {
          problem(absl::StrCat(where, ": ", r.key, " version ", version, " after ",
                               inserted ? 0 : last->second));
        }
        last->second = version;
      }
      if (topic == topics.dlq) {
        auto reason = r.headers.find("loyalty.reason");
        if (reason == r.headers.end()) {
          problem(absl::StrCat(where, ": no loyalty.reason header"));
        } else {
          c.dlq_by_reason[reason->second]++;
        }
        for (const char* h : {"loyalty.source.topic", "loyalty.source.partition",
                              "loyalty.source.offset", "loyalty.engine.version"}) {
          if (r.headers.count(h) == 0) problem(absl::StrCat(where, ": no ", h, " header"));
        }
      }
    }
  }
  for (auto& [partition, list] : seqs) {
    std::sort(list.begin(), list.end());
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i] != static_cast<int64_t>(i) + 1) {
        problem(absl::StrCat("partition ", partition, ": outbox seq ", list[i], " where ", i + 1,
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
