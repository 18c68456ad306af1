#include "cmd/loyaltyctl_kafka.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cmd/kafka_flags.h"
#include "connectors/kafka/inspect.h"
#include "connectors/kafka/kafka.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "engine/base/time.h"
#include "engine/store/store.h"
#include "loyalty/v1/events.pb.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {
namespace {

constexpr int kTimeoutMs = 30'000;

int Fail(int code, const std::string& message) {
  std::cerr << "loyaltyctl: " << message << "\n";
  return code;
}

// --- tail -------------------------------------------------------------------

// How a topic's values are decoded.
enum class ValueType { kEvent, kOutcome, kBalance, kLedger, kDlq, kRaw };

std::optional<ValueType> ParseValueType(const std::string& name) {
  if (name == "event") return ValueType::kEvent;
  if (name == "outcome") return ValueType::kOutcome;
  if (name == "balance") return ValueType::kBalance;
  if (name == "ledger") return ValueType::kLedger;
  if (name == "dlq") return ValueType::kDlq;
  if (name == "raw") return ValueType::kRaw;
  return std::nullopt;
}

// The type of a configured topic's values; nullopt for a topic that is none
// of them.
std::optional<ValueType> TypeOfTopic(const Topics& t, const std::string& topic) {
  if (topic == t.events) return ValueType::kEvent;
  if (topic == t.outcomes) return ValueType::kOutcome;
  if (topic == t.balances) return ValueType::kBalance;
  if (topic == t.ledger) return ValueType::kLedger;
  if (topic == t.dlq) return ValueType::kDlq;
  return std::nullopt;
}

// `"name":"text"` when `bytes` is UTF-8, else `"name_base64":"..."`.
std::string BytesField(const std::string& name, absl::string_view bytes) {
  if (IsValidUtf8(bytes)) return absl::StrCat(JsonString(name), ":", JsonString(bytes));
  return absl::StrCat(JsonString(name + "_base64"), ":", JsonString(absl::Base64Escape(bytes)));
}

// The value as proto3 JSON of `type`, or as bytes (with decode_error when
// it does not parse).
std::string ValueFields(ValueType type, absl::string_view bytes) {
  std::unique_ptr<google::protobuf::Message> msg;
  const char* name = "";
  switch (type) {
    case ValueType::kEvent:
      msg = std::make_unique<loyalty::v1::Event>();
      name = "loyalty.v1.Event";
      break;
    case ValueType::kOutcome:
      msg = std::make_unique<loyalty::v1::Outcome>();
      name = "loyalty.v1.Outcome";
      break;
    case ValueType::kBalance:
      msg = std::make_unique<loyalty::v1::BalanceUpdate>();
      name = "loyalty.v1.BalanceUpdate";
      break;
    case ValueType::kLedger:
      msg = std::make_unique<loyalty::v1::LedgerEntry>();
      name = "loyalty.v1.LedgerEntry";
      break;
    case ValueType::kDlq:
    case ValueType::kRaw:
      return BytesField("value", bytes);
  }
  if (msg->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::StrCat("\"value\":", ToJson(*msg));
  }
  return absl::StrCat(BytesField("value", bytes), ",\"decode_error\":",
                      JsonString(absl::StrCat("not a ", name)));
}

// One record as a JSON object on one line.
std::string RecordJson(const rd_kafka_message_t& m, ValueType type) {
  std::string out = absl::StrCat("{\"topic\":", JsonString(rd_kafka_topic_name(m.rkt)),
                                 ",\"partition\":", m.partition, ",\"offset\":", m.offset);
  const int64_t ts = rd_kafka_message_timestamp(&m, nullptr);
  absl::StrAppend(&out, ",\"timestamp\":",
                  ts >= 0 ? JsonString(FormatRfc3339(ts * 1'000'000)) : "null");
  if (m.key == nullptr) {
    absl::StrAppend(&out, ",\"key\":null");
  } else {
    absl::StrAppend(&out, ",", BytesField("key", absl::string_view(static_cast<const char*>(m.key),
                                                                   m.key_len)));
  }
  // Header values as strings; one that is not UTF-8 goes to headers_base64.
  std::map<std::string, std::string> text, binary;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      absl::string_view v(static_cast<const char*>(value), value != nullptr ? size : 0);
      if (IsValidUtf8(v)) {
        text[name] = std::string(v);
      } else {
        binary[name] = absl::Base64Escape(v);
      }
    }
  }
  auto object = [](const std::map<std::string, std::string>& fields) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : fields) parts.push_back(absl::StrCat(JsonString(k), ":", JsonString(v)));
    return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
  };
  absl::StrAppend(&out, ",\"headers\":", object(text));
  if (!binary.empty()) absl::StrAppend(&out, ",\"headers_base64\":", object(binary));
  absl::StrAppend(&out, ",",
                  ValueFields(type, absl::string_view(static_cast<const char*>(m.payload), m.len)),
                  "}");
  return out;
}

std::atomic<bool> stop_requested{false};

void OnStopSignal(int) { stop_requested.store(true); }

}  // namespace

std::vector<std::string> ExpandTailShortOptions(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i > 0 && arg == "-f") {
      out.push_back("--follow");
    } else if (i > 0 && arg == "-n" && i + 1 < argc) {
      out.push_back(absl::StrCat("--max-records=", argv[++i]));
    } else if (i > 0 && arg.size() > 2 && arg.rfind("-n", 0) == 0 && arg[2] != '-') {
      out.push_back(absl::StrCat("--max-records=", arg.substr(2)));
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

int TailCommand(const Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 2) return Fail(2, "tail takes one TOPIC");
  auto brokers = flags.Require("brokers");
  if (!brokers.ok()) return Fail(2, std::string(brokers.status().message()));
  auto cluster = ClusterFromFlags(flags, *brokers);
  if (!cluster.ok()) return Fail(2, std::string(cluster.status().message()));
  TailOptions options;
  options.brokers = *cluster;
  options.topic = args[1];
  options.follow = flags.Has("follow");
  // Absent: no limit, every partition (values the flags themselves refuse).
  auto records = flags.Has("max-records") ? flags.GetIntIn("max-records", 0, 1, INT64_MAX)
                                          : absl::StatusOr<int64_t>(0);
  auto partition = flags.Has("partition") ? flags.GetIntIn("partition", 0, 0, 1'000'000)
                                          : absl::StatusOr<int64_t>(-1);
  for (const absl::Status& s : {records.status(), partition.status()}) {
    if (!s.ok()) return Fail(2, std::string(s.message()));
  }
  options.records_max = *records;
  options.partition = static_cast<int>(*partition);
  const std::string from = flags.Get("from", "beginning");
  if (from != "beginning" && from != "end") {
    return Fail(2, absl::StrCat("--from must be beginning or end, not \"", from, "\""));
  }
  options.from_beginning = from == "beginning";
  std::optional<ValueType> type = TypeOfTopic(TopicsFromFlags(flags), options.topic);
  if (flags.Has("type")) {
    type = ParseValueType(flags.Get("type"));
    if (!type.has_value()) {
      return Fail(2, absl::StrCat("--type must be event, outcome, balance, ledger, dlq or raw, "
                                  "not \"",
                                  flags.Get("type"), "\""));
    }
  } else if (!type.has_value()) {
    std::cerr << "tail: " << options.topic
              << " is none of the configured topics: values printed raw (--type= decodes them)\n";
    type = ValueType::kRaw;
  }
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  options.stop = [] { return stop_requested.load(); };
  auto read = Tail(options, [&](const rd_kafka_message_t& m) {
    std::cout << RecordJson(m, *type) << "\n";
    std::cout.flush();
  });
  if (!read.ok()) return Fail(1, std::string(read.status().message()));
  return std::cout ? 0 : Fail(1, "cannot write to stdout");
}

// --- status -----------------------------------------------------------------

namespace {

struct PartitionStatus {
  int partition = 0;
  int64_t applied = -1;  // next offset to apply; -1 unknown
  std::string applied_from;  // "store", "group" or "" (unknown)
  int64_t end = 0;
  std::optional<GroupMember> owner;
  std::optional<LastRecord> last;
};

struct ClusterStatus {
  std::string group, group_state, topic, outcomes_topic, data_dir;
  std::vector<PartitionStatus> partitions;
};

// The next offsets (partition -> offset) of the stores of --data-dir; none
// for a directory without stores (this host owns no partition). Each store
// is opened read-only; an open that meets a file the running engine just
// deleted (a flush or compaction during the open) is tried again.
absl::StatusOr<std::map<int, int64_t>> StoreOffsets(const std::string& data_dir) {
  std::map<int, int64_t> out;
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ListPartitions(data_dir));
  const std::shared_ptr<StoreResources> resources = StoreResources::Create(8 << 20, 64 << 20);
  for (int32_t p : partitions) {
    absl::StatusOr<std::unique_ptr<PartitionStore>> store;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      store = OpenPartitionReadOnly(PartitionDir(data_dir, p), resources);
      if (store.ok() || absl::IsNotFound(store.status())) break;
    }
    if (!store.ok()) return store.status();
    LOYALTY_ASSIGN_OR_RETURN(out[p], (*store)->GetNextOffset());
  }
  return out;
}

absl::StatusOr<ClusterStatus> ReadStatus(const Flags& flags, const KafkaCluster& cluster) {
  const Topics topics = TopicsFromFlags(flags);
  ClusterStatus st;
  st.group = flags.Get("group", "loyalty-engine");
  st.topic = topics.events;
  st.outcomes_topic = topics.outcomes;
  st.data_dir = flags.Get("data-dir");
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int64_t> ends, EndOffsets(cluster, st.topic, kTimeoutMs));
  const int partitions = static_cast<int>(ends.size());
  std::map<int, int64_t> stored;
  if (!st.data_dir.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(stored, StoreOffsets(st.data_dir));
  }
  LOYALTY_ASSIGN_OR_RETURN(std::vector<int64_t> committed,
                           CommittedOffsets(cluster, st.group, st.topic, partitions, kTimeoutMs));
  LOYALTY_ASSIGN_OR_RETURN(GroupDescription group,
                           DescribeGroup(cluster, st.group, st.topic, partitions, kTimeoutMs));
  st.group_state = group.state;
  auto last = LastRecords(cluster, st.outcomes_topic, kTimeoutMs);
  if (!last.ok() && !absl::IsNotFound(last.status())) return last.status();
  for (int p = 0; p < partitions; ++p) {
    PartitionStatus& ps = st.partitions.emplace_back();
    ps.partition = p;
    ps.end = ends[p];
    if (auto it = stored.find(p); it != stored.end()) {
      ps.applied = it->second;
      ps.applied_from = "store";
    } else if (committed[p] >= 0) {
      ps.applied = committed[p];
      ps.applied_from = "group";
    }
    ps.owner = group.owners[p];
    if (last.ok() && static_cast<size_t>(p) < last->size()) ps.last = (*last)[p];
  }
  return st;
}

std::string OwnerText(const std::optional<GroupMember>& m) {
  if (!m.has_value()) return "-";
  return absl::StrCat(m->instance_id.empty() ? m->client_id : m->instance_id, " (",
                      m->host.empty() ? "?" : m->host, ")");
}

std::string LastText(const std::optional<LastRecord>& r) {
  if (!r.has_value() || r->timestamp_ms < 0) return "-";
  return FormatRfc3339(r->timestamp_ms * 1'000'000);
}

std::string StatusTable(const ClusterStatus& st) {
  std::string out = absl::StrCat("group ", st.group, " (", st.group_state, "), input ", st.topic,
                                 ", last commits from ", st.outcomes_topic, "\n");
  std::vector<std::vector<std::string>> rows = {
      {"PARTITION", "APPLIED", "FROM", "END", "LAG", "OWNER", "LAST COMMIT"}};
  for (const PartitionStatus& p : st.partitions) {
    const bool known = p.applied >= 0;
    rows.push_back({absl::StrCat(p.partition), known ? absl::StrCat(p.applied) : "-",
                    known ? p.applied_from : "-", absl::StrCat(p.end),
                    known ? absl::StrCat(p.end - p.applied) : "-", OwnerText(p.owner),
                    LastText(p.last)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, row[c], c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string StatusJson(const ClusterStatus& st) {
  std::vector<std::string> parts;
  for (const PartitionStatus& p : st.partitions) {
    const bool known = p.applied >= 0;
    std::string owner = "null";
    if (p.owner.has_value()) {
      owner = absl::StrCat("{\"member_id\":", JsonString(p.owner->member_id),
                           ",\"instance_id\":", JsonString(p.owner->instance_id),
                           ",\"client_id\":", JsonString(p.owner->client_id),
                           ",\"host\":", JsonString(p.owner->host), "}");
    }
    std::string last = "null";
    if (p.last.has_value() && p.last->timestamp_ms >= 0) {
      last = absl::StrCat("{\"offset\":", p.last->offset, ",\"timestamp\":",
                          JsonString(LastText(p.last)), "}");
    }
    parts.push_back(absl::StrCat(
        "{\"partition\":", p.partition,
        ",\"applied_offset\":", known ? absl::StrCat(p.applied) : "null",
        ",\"applied_from\":", known ? JsonString(p.applied_from) : "null",
        ",\"end_offset\":", p.end, ",\"lag\":", known ? absl::StrCat(p.end - p.applied) : "null",
        ",\"owner\":", owner, ",\"last_commit\":", last, "}"));
  }
  return absl::StrCat("{\"group\":", JsonString(st.group), ",\"group_state\":",
                      JsonString(st.group_state), ",\"topic\":", JsonString(st.topic),
                      ",\"outcomes_topic\":", JsonString(st.outcomes_topic), ",\"data_dir\":",
                      st.data_dir.empty() ? "null" : JsonString(st.data_dir), ",\"partitions\":[",
                      absl::StrJoin(parts, ","), "]}\n");
}

}  // namespace

int StatusCommand(const Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(2, "status takes no arguments");
  auto brokers = flags.Require("brokers");
  if (!brokers.ok()) return Fail(2, std::string(brokers.status().message()));
  auto cluster = ClusterFromFlags(flags, *brokers);
  if (!cluster.ok()) return Fail(2, std::string(cluster.status().message()));
  const std::string format = flags.Get("format", "text");
  if (format != "text" && format != "json") {
    return Fail(2, absl::StrCat("--format must be text or json, not \"", format, "\""));
  }
  auto st = ReadStatus(flags, *cluster);
  if (!st.ok()) return Fail(1, std::string(st.status().message()));
  std::cout << (format == "json" ? StatusJson(*st) : StatusTable(*st));
  std::cout.flush();
  return std::cout ? 0 : Fail(1, "cannot write to stdout");
}

}  // namespace loyalty
