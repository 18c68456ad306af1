#include "connectors/file/replay.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "connectors/file/jsonl.h"
#include "engine/audit/audit.h"
#include "engine/base/crypto.h"
#include "engine/base/status.h"
#include "engine/base/text.h"
#include "engine/ledger/partition.h"
#include "engine/store/store.h"

namespace loyalty {
namespace {

// What the DLQ file says of an input line beyond the DLQ record: where it
// is in the file, and its whole size and digest if the reader cut it.
struct DlqSource {
  int64_t line = 0;
  int64_t offset_base = 0;
  const JsonlReader::Line* cut = nullptr;  // the line, if truncated
};

// One DLQ file line, valid JSON in UTF-8 whatever the input held:
//   {"line":12,"reason":"BAD_AMOUNT","detail":"...","raw":"..."}
// - "detail" with ill-formed UTF-8 bytes (a parser's message quoting the
//   input) replaced by U+FFFD;
// - "raw" the line as it was when it is UTF-8, else "raw_base64" (its bytes
//   in base64);
// - "offset" (the store's offset) after "line" when the file continues
//   another (offset != line);
// - a line longer than the reader keeps (1 MiB): "raw" holds its first
//   1 MiB (cut between characters), then "raw_truncated":true,
//   "raw_bytes" (the whole line's size) and "raw_sha256" (of the whole
//   line), and "detail" gives the whole size (SPEC §7: a record too large
//   for the DLQ is published truncated with its size and SHA-256).
std::string DlqLine(const loyalty::v1::DlqRecord& dlq, const DlqSource& src) {
  std::string out = absl::StrCat("{\"line\":", src.line);
  if (dlq.offset() != src.line) absl::StrAppend(&out, ",\"offset\":", dlq.offset());
  std::string detail = dlq.detail();
  absl::string_view raw = dlq.raw();
  if (src.cut != nullptr) {
    detail = absl::StrCat("line of ", src.cut->bytes, " bytes, at most ",
                          JsonlReader::kLineBytesMax);
    raw = raw.substr(0, JsonlReader::kLineBytesMax);
    // A cut that splits a character leaves a valid prefix shorter by it.
    const absl::string_view text = Utf8Prefix(dlq.raw(), JsonlReader::kLineBytesMax);
    if (IsValidUtf8(text)) raw = text;
  }
  absl::StrAppend(&out, ",\"reason\":", JsonString(loyalty::v1::RejectReason_Name(dlq.reason())),
                  ",\"detail\":", JsonString(ToValidUtf8(detail)), ",");
  if (IsValidUtf8(raw)) {
    absl::StrAppend(&out, "\"raw\":", JsonString(raw));
  } else {
    absl::StrAppend(&out, "\"raw_base64\":\"", absl::Base64Escape(raw), "\"");
  }
  if (src.cut != nullptr) {
    absl::StrAppend(&out, ",\"raw_truncated\":true,\"raw_bytes\":", src.cut->bytes,
                    ",\"raw_sha256\":\"", src.cut->sha256_hex, "\"");
  }
  out += "}";
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

// The events file as the store's input source (InputSource, kind kFile):
// decides at open how the file relates to the recorded source, and gives
// the source to record once a prefix of the file is applied. It reads the
// file a second time, beside the JsonlReader, to hash its bytes exactly as
// they are on disk (line breaks, blank lines and overlong lines included).
class FileSource {
 public:
  ~FileSource() {
    if (file_ != nullptr) std::fclose(file_);
  }

  // REQUIRES: no batch of the store written yet by this run.
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(PartitionStore* store,
                                                          const ReplayOptions& options,
                                                          ReplayStats* stats) {
    auto source = std::unique_ptr<FileSource>(new FileSource());
    source->path_ = options.events_path;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(source->path_, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          source->path_, ": not a regular file; replay reads its events file a second time to "
          "record the digest of what it applied, so write the events to a file first"));
    }
    LOYALTY_RETURN_IF_ERROR(source->Rewind());
    LOYALTY_ASSIGN_OR_RETURN(source->recorded_, store->GetSource());
    LOYALTY_ASSIGN_OR_RETURN(const int64_t next_offset, store->GetNextOffset());
    const int64_t last_offset = next_offset > 0 ? next_offset - 1 : 0;
    const std::string where = absl::StrCat(options.data_dir, " (partition store ", store->path(), ")");
    if (!source->recorded_.has_value()) {
      if (next_offset > 0 && options.continue_with_new_file) {
        source->base_ = last_offset;
        stats->source_note = absl::StrCat(
            "--continue-with-new-file: ", source->path_, " follows the ", last_offset,
            " offsets applied before (no source was recorded); its line n is offset ",
            last_offset, " + n");
      } else if (next_offset > 0) {
        stats->source_note = absl::StrCat(
            where, " recorded no input source (written before sources were recorded): adopting ",
            source->path_, " as the file of its ", last_offset, " applied lines");
      }
      return source;
    }
    const InputSource& recorded = *source->recorded_;
    if (recorded.kind == InputSource::Kind::kKafka) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " holds the input of ", recorded.Describe(), " (loyaltyd run), not of file:",
          source->path_, ": a file's line numbers are not that topic's offsets, so lines "
          "would be skipped as already applied; replay into a new --data-dir"));
    }
    LOYALTY_ASSIGN_OR_RETURN(std::string differs, source->MatchPrefix(recorded));
    if (differs.empty()) {
      source->base_ = recorded.offset_base;
      if (options.continue_with_new_file) {
        stats->source_note = absl::StrCat(
            "--continue-with-new-file: ", source->path_,
            " is the file this store was fed last; continuing it (line n = offset ",
            source->base_, " + n)");
      }
      return source;
    }
    if (!options.continue_with_new_file) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " holds the lines of ", recorded.Describe(), "; ", source->path_,
          " is another file (", differs, "), whose first lines would be skipped as already "
          "applied. To apply it after the ", last_offset, " offsets applied, pass "
          "--continue-with-new-file (its line n becomes offset ", last_offset,
          " + n); to start over, use a new --data-dir"));
    }
    LOYALTY_RETURN_IF_ERROR(source->Rewind());
    source->base_ = last_offset;
    stats->source_note = absl::StrCat("--continue-with-new-file: ", source->path_, " follows ",
                                      recorded.Describe(), "; its line n is offset ",
                                      last_offset, " + n");
    return source;
  }

  int64_t offset_base() const { return base_; }
  // How far into the file the hash has read.
  int64_t hashed_bytes() const { return hash_.bytes(); }
  const std::optional<InputSource>& recorded() const { return recorded_; }

  // The source to record once the file's bytes [0, end_byte) are applied.
  // REQUIRES: end_byte >= hashed_bytes().
  absl::StatusOr<InputSource> Through(int64_t end_byte) {
    LOYALTY_CHECK(end_byte >= hash_.bytes()) << "the applied prefix cannot shrink";
    LOYALTY_RETURN_IF_ERROR(HashTo(end_byte));
    InputSource s;
    s.kind = InputSource::Kind::kFile;
    s.name = path_;
    s.offset_base = base_;
    s.prefix_bytes = end_byte;
    s.prefix_sha256 = HexDigest(hash_.Digest());
    return s;
  }

 private:
  FileSource() = default;

  absl::Status Rewind() {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return absl::NotFoundError(absl::StrCat(path_, ": ", std::strerror(errno)));
    }
    hash_ = Sha256Stream();
    return absl::OkStatus();
  }

  // Feeds the file's bytes up to `end` to the hash.
  absl::Status HashTo(int64_t end) {
    char buf[1 << 16];
    while (hash_.bytes() < end) {
      const size_t want =
          static_cast<size_t>(std::min<int64_t>(sizeof(buf), end - hash_.bytes()));
      const size_t got = std::fread(buf, 1, want, file_);
      if (got == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            path_, ": ", std::ferror(file_) ? "read error" : "shorter than expected", " at byte ",
            hash_.bytes(), " (was it changed while being replayed?)"));
      }
      hash_.Update(absl::string_view(buf, got));
    }
    return absl::OkStatus();
  }

  // "" if the file starts with the recorded prefix (the hash is then at its
  // end), else how it differs.
  absl::StatusOr<std::string> MatchPrefix(const InputSource& recorded) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
    if (ec) return absl::UnavailableError(absl::StrCat(path_, ": ", ec.message()));
    if (size < recorded.prefix_bytes) {
      return absl::StrCat("it has ", size, " bytes, fewer than the ", recorded.prefix_bytes,
                          " applied");
    }
    LOYALTY_RETURN_IF_ERROR(HashTo(recorded.prefix_bytes));
    if (HexDigest(hash_.Digest()) != recorded.prefix_sha256) {
      return absl::StrCat("its first ", recorded.prefix_bytes, " bytes differ");
    }
    return std::string();
  }

  std::string path_;
  FILE* file_ = nullptr;
  Sha256Stream hash_;
  int64_t base_ = 0;
  std::optional<InputSource> recorded_;
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
  ReplayStats stats;
  LOYALTY_ASSIGN_OR_RETURN(auto source, FileSource::Open(store.get(), options, &stats));
  const int64_t base = source->offset_base();
  stats.offset_base = base;
  PartitionOptions partition_options;
  partition_options.partition = options.partition;
  LOYALTY_ASSIGN_OR_RETURN(auto partition,
                           Partition::Open(&programs, store.get(), partition_options));
  OutputFile dlq_out(options.dlq_path, "dlq");
  OutputFile outcomes_out(options.outcomes_path, "outcomes");
  LOYALTY_RETURN_IF_ERROR(dlq_out.Open(store.get()));
  LOYALTY_RETURN_IF_ERROR(outcomes_out.Open(store.get()));

  Progress progress(options.progress);
  std::vector<JsonlReader::Line> lines(
      static_cast<size_t>(std::max<int64_t>(1, options.batch_size)));
  size_t n = 0;  // lines of the current batch
  // Output lines go out, flushed, before their batch commits (see
  // OutputFile), and the source's applied prefix commits with the batch.
  loyalty::v1::DlqRecord dlq;
  loyalty::v1::Outcome outcome;
  std::map<std::string, int64_t> batch_reasons;  // counted once the batch commits
  const Partition::PreCommit pre_commit = [&](const BatchOutputs& out,
                                              StoreBatch* batch) -> absl::Status {
    for (const JournalRecordView& r : out.journal.records()) {
      if (r.kind == JournalKind::kDlq) {
        if (!dlq.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
          return absl::DataLossError(absl::StrCat("unreadable DLQ record ", r.seq));
        }
        batch_reasons[loyalty::v1::RejectReason_Name(dlq.reason())]++;
        if (!dlq_out.enabled()) continue;
        DlqSource src{dlq.offset() - base, base, nullptr};
        const auto it = std::lower_bound(
            lines.begin(), lines.begin() + static_cast<ptrdiff_t>(n), src.line,
            [](const JsonlReader::Line& l, int64_t number) { return l.number < number; });
        if (it != lines.begin() + static_cast<ptrdiff_t>(n) && it->number == src.line &&
            it->truncated) {
          src.cut = &*it;
        }
        dlq_out.Add(DlqLine(dlq, src));
      }
      if (r.kind == JournalKind::kOutcome && outcomes_out.enabled()) {
        if (!outcome.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
          return absl::DataLossError(absl::StrCat("unreadable outcome ", r.seq));
        }
        outcomes_out.Add(ToJson(outcome));
      }
    }
    LOYALTY_RETURN_IF_ERROR(dlq_out.Commit(options.sync_writes, batch));
    LOYALTY_RETURN_IF_ERROR(outcomes_out.Commit(options.sync_writes, batch));
    LOYALTY_ASSIGN_OR_RETURN(InputSource applied, source->Through(lines[n - 1].end_byte));
    batch->SetSource(applied);
    return absl::OkStatus();
  };

  std::vector<InputRecord> records;
  BatchOutputs outputs;
  int64_t end_byte = 0;  // past the last line read
  bool more = true;
  while (more) {
    n = ReadLines(reader.get(), options.lines_max, &lines, &stats.lines, &more);
    LOYALTY_RETURN_IF_ERROR(reader->status());
    if (n == 0) break;
    end_byte = lines[n - 1].end_byte;
    records.clear();
    for (size_t i = 0; i < n; ++i) records.push_back({base + lines[i].number, lines[i].text});
    batch_reasons.clear();
    LOYALTY_RETURN_IF_ERROR(partition->ApplyBatch(records, InputFormat::kJson, &outputs, pre_commit));
    for (const auto& [reason, count] : batch_reasons) stats.rejected_by_reason[reason] += count;
    stats.applied += outputs.applied;
    stats.duplicates += outputs.duplicates;
    stats.rejected += outputs.rejected;
    stats.skipped += outputs.skipped;
    progress.Update(stats.lines, reader->bytes_read(), reader->file_bytes());
  }
  // Lines that were all applied before (a re-run, or a store adopting this
  // file): no batch recorded the source; record it now.
  // (--lines-max may stop a re-run inside the recorded prefix: nothing to
  // record then.)
  if (end_byte > 0 && end_byte >= source->hashed_bytes()) {
    LOYALTY_ASSIGN_OR_RETURN(InputSource applied, source->Through(end_byte));
    LOYALTY_ASSIGN_OR_RETURN(std::optional<InputSource> recorded, store->GetSource());
    if (!recorded.has_value() || *recorded != applied) {
      LOYALTY_RETURN_IF_ERROR(store->SetSource(applied));
    }
  }
  progress.Update(stats.lines, reader->bytes_read(), reader->file_bytes(), /*force=*/true);
  progress.Done();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return stats;
}

}  // namespace loyalty
