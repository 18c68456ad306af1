#include "connectors/file/replay.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "connectors/file/jsonl.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "engine/ledger/partition.h"
#include "engine/store/store.h"

namespace loyalty {
namespace {

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

// An output file (DLQ or outcomes) written exactly once per input line: its
// lines are flushed before the batch that produced them commits, and its size
// commits with the batch. A run killed in between leaves lines beyond the
// committed size; the next run cuts them off and writes them again.
class OutputFile {
 public:
  // `name` keys the committed size in the store's caller metadata.
  OutputFile(std::string path, std::string name) : path_(std::move(path)), name_(std::move(name)) {}
  ~OutputFile() {
    if (file_ != nullptr) std::fclose(file_);
  }

  bool enabled() const { return !path_.empty(); }
  std::string metadata_name() const { return "replay/" + name_ + "_bytes"; }

  // Opens for appending at the committed size.
  absl::Status Open(PartitionStore* store) {
    if (!enabled()) return absl::OkStatus();
    LOYALTY_ASSIGN_OR_RETURN(auto committed, store->GetCallerInt(metadata_name()));
    const int64_t size = committed.value_or(0);
    std::error_code ec;
    const bool exists = std::filesystem::exists(path_, ec);
    if (exists) {
      const auto actual = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
      if (ec) return absl::UnavailableError(absl::StrCat(path_, ": ", ec.message()));
      if (actual < size) {
        return absl::FailedPreconditionError(absl::StrCat(
            path_, ": ", actual, " bytes, but ", size,
            " were written by earlier runs of this data directory; move it away to start a new "
            "file"));
      }
      if (actual > size) {
        // Lines of a batch that never committed: they will be written again.
        std::filesystem::resize_file(path_, static_cast<uintmax_t>(size), ec);
        if (ec) return absl::UnavailableError(absl::StrCat(path_, ": ", ec.message()));
      }
    }
    file_ = std::fopen(path_.c_str(), "ab");
    if (file_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat(path_, ": cannot open for writing: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  void Add(absl::string_view line) {
    buffer_.append(line.data(), line.size());
    buffer_.push_back('\n');
  }

  // Writes what was added, flushed (and fsynced if `sync`), and records the
  // new size in the batch about to commit.
  absl::Status Commit(bool sync, StoreBatch* batch) {
    if (!enabled()) return absl::OkStatus();
    if (!buffer_.empty() &&
        std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      return WriteError("write failed");
    }
    buffer_.clear();
    if (std::fflush(file_) != 0 || (sync && fsync(fileno(file_)) != 0)) {
      return WriteError("flush failed");
    }
    const long size = std::ftell(file_);
    if (size < 0) return absl::UnavailableError(absl::StrCat(path_, ": ftell failed"));
    batch->PutCallerInt(metadata_name(), size);
    return absl::OkStatus();
  }

 private:
  // The batch does not commit: the next run cuts the file back to its
  // committed size and writes these lines again.
  absl::Status WriteError(absl::string_view what) const {
    const int e = errno;
    if (e == ENOSPC) {
      return absl::ResourceExhaustedError(absl::StrCat(
          path_, ": ", what, ": the disk is full; free space and run again (nothing applied is "
          "lost)"));
    }
    return absl::UnavailableError(absl::StrCat(path_, ": ", what, ": ", std::strerror(e)));
  }

  std::string path_;
  std::string name_;
  FILE* file_ = nullptr;
  std::string buffer_;
};

// Reads up to lines->size() lines, stopping at `lines_max` lines in all
// (*lines_read counts them); *more becomes false at the end of the file or
// of lines_max. Returns how many it read.
size_t ReadLines(JsonlReader* reader, int64_t lines_max, std::vector<JsonlReader::Line>* lines,
                 int64_t* lines_read, bool* more) {
  size_t n = 0;
  while (n < lines->size() && *lines_read < lines_max) {
    if (!reader->Next(&(*lines)[n])) {
      *more = false;
      return n;
    }
    ++n;
    ++*lines_read;
  }
  if (*lines_read >= lines_max) *more = false;
  return n;
}

}  // namespace

absl::StatusOr<ReplayStats> RunReplay(const ProgramSet& programs, const ReplayOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  LOYALTY_ASSIGN_OR_RETURN(auto reader, JsonlReader::Open(options.events_path));
  StoreOptions store_options;
  store_options.sync_writes = options.sync_writes;
  store_options.env = options.env;
  LOYALTY_ASSIGN_OR_RETURN(
      auto store,
      PartitionStore::Open(PartitionDir(options.data_dir, options.partition), store_options));
  PartitionOptions partition_options;
  partition_options.partition = options.partition;
  LOYALTY_ASSIGN_OR_RETURN(auto partition,
                           Partition::Open(&programs, store.get(), partition_options));
  OutputFile dlq_out(options.dlq_path, "dlq");
  OutputFile outcomes_out(options.outcomes_path, "outcomes");
  LOYALTY_RETURN_IF_ERROR(dlq_out.Open(store.get()));
  LOYALTY_RETURN_IF_ERROR(outcomes_out.Open(store.get()));
  const bool want_outputs = dlq_out.enabled() || outcomes_out.enabled();
  // Output lines go out, flushed, before their batch commits (see OutputFile).
  loyalty::v1::DlqRecord dlq;
  loyalty::v1::Outcome outcome;
  const Partition::PreCommit write_outputs = [&](const BatchOutputs& out,
                                                 StoreBatch* batch) -> absl::Status {
    for (const JournalRecordView& r : out.journal.records()) {
      if (r.kind == JournalKind::kDlq && dlq_out.enabled()) {
        if (!dlq.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
          return absl::DataLossError(absl::StrCat("unreadable DLQ record ", r.seq));
        }
        dlq_out.Add(DlqLine(dlq));
      }
      if (r.kind == JournalKind::kOutcome && outcomes_out.enabled()) {
        if (!outcome.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
          return absl::DataLossError(absl::StrCat("unreadable outcome ", r.seq));
        }
        outcomes_out.Add(ToJson(outcome));
      }
    }
    LOYALTY_RETURN_IF_ERROR(dlq_out.Commit(options.sync_writes, batch));
    return outcomes_out.Commit(options.sync_writes, batch);
  };

  ReplayStats stats;
  Progress progress(options.progress);
  std::vector<JsonlReader::Line> lines(
      static_cast<size_t>(std::max<int64_t>(1, options.batch_size)));
  std::vector<InputRecord> records;
  BatchOutputs outputs;
  bool more = true;
  while (more) {
    const size_t n = ReadLines(reader.get(), options.lines_max, &lines, &stats.lines, &more);
    LOYALTY_RETURN_IF_ERROR(reader->status());
    if (n == 0) break;
    records.clear();
    for (size_t i = 0; i < n; ++i) records.push_back({lines[i].number, lines[i].text});
    LOYALTY_RETURN_IF_ERROR(partition->ApplyBatch(records, InputFormat::kJson, &outputs,
                                                  want_outputs ? write_outputs : nullptr));
    stats.applied += outputs.applied;
    stats.duplicates += outputs.duplicates;
    stats.rejected += outputs.rejected;
    stats.skipped += outputs.skipped;
    progress.Update(stats.lines, reader->bytes_read(), reader->file_bytes());
  }
  progress.Update(stats.lines, reader->bytes_read(), reader->file_bytes(), /*force=*/true);
  progress.Done();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return stats;
}

}  // namespace loyalty
