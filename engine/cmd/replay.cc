#include "engine/cmd/replay.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "connectors/file/jsonl.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "engine/ledger/partition.h"
#include "engine/store/store.h"

namespace loyalty {
namespace {

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

// {"line":12,"reason":"BAD_AMOUNT","detail":"...","raw":"..."}; raw bytes
// that are not UTF-8 go to "raw_base64" instead.
std::string DlqLine(const loyalty::v1::DlqRecord& dlq) {
  std::string out =
      absl::StrCat("{\"line\":", dlq.offset(),
                   ",\"reason\":", JsonString(loyalty::v1::RejectReason_Name(dlq.reason())),
                   ",\"detail\":", JsonString(dlq.detail()), ",");
  if (IsValidUtf8(dlq.raw())) {
    absl::StrAppend(&out, "\"raw\":", JsonString(dlq.raw()), "}");
  } else {
    absl::StrAppend(&out, "\"raw_base64\":\"", absl::Base64Escape(dlq.raw()), "\"}");
  }
  return out;
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(Clock::now()), last_(start_) {}
  void Update(int64_t lines, int64_t bytes, int64_t total_bytes, bool force = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    double s = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\rreplay: %lld lines, %.0f%%, %.0f lines/s   ",
                 static_cast<long long>(lines),
                 total_bytes > 0 ? 100.0 * static_cast<double>(bytes) / total_bytes : 0.0,
                 s > 0 ? static_cast<double>(lines) / s : 0.0);
    std::fflush(stderr);
  }
  void Done() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  Clock::time_point start_, last_;
};

absl::Status OpenOutput(const std::string& path, std::ofstream* out) {
  if (path.empty()) return absl::OkStatus();
  out->open(path, std::ios::app);
  if (!*out) return absl::UnavailableError(absl::StrCat(path, ": cannot open for writing"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ReplayStats> RunReplay(const ProgramSet& programs, const ReplayOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  LOYALTY_ASSIGN_OR_RETURN(auto reader, JsonlReader::Open(options.events_path));
  StoreOptions store_options;
  store_options.sync_writes = options.sync_writes;
  LOYALTY_ASSIGN_OR_RETURN(
      auto store,
      PartitionStore::Open(PartitionDir(options.data_dir, options.partition), store_options));
  PartitionOptions partition_options;
  partition_options.partition = options.partition;
  LOYALTY_ASSIGN_OR_RETURN(auto partition,
                           Partition::Open(&programs, store.get(), partition_options));
  std::ofstream dlq_out, outcomes_out;
  LOYALTY_RETURN_IF_ERROR(OpenOutput(options.dlq_path, &dlq_out));
  LOYALTY_RETURN_IF_ERROR(OpenOutput(options.outcomes_path, &outcomes_out));
  const bool want_outputs = dlq_out.is_open() || outcomes_out.is_open();

  ReplayStats stats;
  Progress progress(options.progress);
  std::vector<JsonlReader::Line> lines(
      static_cast<size_t>(std::max<int64_t>(1, options.batch_size)));
  std::vector<InputRecord> records;
  BatchOutputs outputs;
  bool more = true;
  while (more) {
    size_t n = 0;
    while (n < lines.size() && stats.lines < options.lines_max) {
      if (!reader->Next(&lines[n])) {
        more = false;
        break;
      }
      ++n;
      ++stats.lines;
    }
    if (stats.lines >= options.lines_max) more = false;
    LOYALTY_RETURN_IF_ERROR(reader->status());
    if (n == 0) break;
    records.clear();
    for (size_t i = 0; i < n; ++i) records.push_back({lines[i].number, lines[i].text});
    outputs = BatchOutputs();
    outputs.collect_records = want_outputs;
    LOYALTY_RETURN_IF_ERROR(partition->ApplyBatch(records, InputFormat::kJson, &outputs));
    stats.applied += outputs.applied;
    stats.duplicates += outputs.duplicates;
    stats.rejected += outputs.rejected;
    stats.skipped += outputs.skipped;
    if (want_outputs) {
      for (const auto& r : outputs.records) {
        if (r.has_dlq() && dlq_out.is_open()) dlq_out << DlqLine(r.dlq()) << "\n";
        if (r.has_outcome() && outcomes_out.is_open()) outcomes_out << ToJson(r.outcome()) << "\n";
      }
    }
    progress.Update(stats.lines, reader->bytes_read(), reader->file_bytes());
  }
  progress.Update(stats.lines, reader->bytes_read(), reader->file_bytes(), /*force=*/true);
  progress.Done();
  for (std::ofstream* out : {&dlq_out, &outcomes_out}) {
    if (out->is_open()) {
      out->flush();
      if (!*out) return absl::UnavailableError("write to an output file failed");
    }
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return stats;
}

}  // namespace loyalty
