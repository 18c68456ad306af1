// File: engine/log/log.h
// The process's structured log: one line per event on stderr, with a UTC
// timestamp and a level, in logfmt (the default) or JSON:
//
//   ts=2026-12-05T09:01:02.345Z level=info msg="partition assigned" partition=3 offset=1200
//   {"ts":"2026-12-05T09:01:02.345Z","level":"info","msg":"partition
//   assigned","partition":3,"offset":1200}
//
//   log::Info("partition assigned", {{"partition", 3}, {"offset", int64_t{1200}}});
//
// Lines below the configured level are dropped before they are rendered
// (Enabled tells a caller whether building fields is worth it). Written by
// spdlog (Debian's libspdlog): a thread-safe sink that writes and flushes
// each line whole, so lines of concurrent threads never interleave.
//
// Thread-safe. Configure once at start, before other threads log; until
// then lines go to stderr in logfmt at level info.
#ifndef LOYALTY_ENGINE_LOG_LOG_H_
#define LOYALTY_ENGINE_LOG_LOG_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace loyalty::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kLogfmt, kJson };

// "debug", "info", "warn" (or "warning"), "error"; InvalidArgument lists them.
absl::StatusOr<Level> ParseLevel(absl::string_view name);
// "logfmt" or "json"; InvalidArgument lists them.
absl::StatusOr<Format> ParseFormat(absl::string_view name);
absl::string_view LevelName(Level level);

struct Options {
  Format format = Format::kLogfmt;
  // Lines below it are dropped. Default: info.
  Level level = Level::kInfo;
  // Where lines go. Default: nullptr, stderr. Tests pass a stream.
  std::ostream* stream = nullptr;
};

// Also routes protobuf's own log lines here (component=protobuf): call it
// at start, before other threads run (protobuf's SetLogHandler is not
// thread-safe).
void Configure(const Options& options);

// One key=value of a line. Numbers and booleans are written bare (JSON
// numbers), the rest as strings, quoted and escaped where the format needs
// it.
class Field {
 public:
  Field(absl::string_view key, absl::string_view value) : key_(key), value_(value) {}
  Field(absl::string_view key, const std::string& value) : key_(key), value_(value) {}
  Field(absl::string_view key, const char* value) : key_(key), value_(value) {}
  Field(absl::string_view key, bool value)
      : key_(key), value_(value ? "true" : "false"), bare_(true) {}
  Field(absl::string_view key, int value) : Field(key, static_cast<int64_t>(value)) {}
  Field(absl::string_view key, int64_t value);
  Field(absl::string_view key, uint64_t value);
  Field(absl::string_view key, double value);

  absl::string_view key() const { return key_; }
  absl::string_view value() const { return value_; }
  bool bare() const { return bare_; }

 private:
  absl::string_view key_;
  std::string value_;
  bool bare_ = false;
};

// A line's fields: a braced list at the call, or any contiguous range.
using Fields = absl::Span<const Field>;

bool Enabled(Level level);
void Write(Level level, absl::string_view message, Fields fields = {});
inline void Debug(absl::string_view message, Fields fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, message, fields);
}
inline void Info(absl::string_view message, Fields fields = {}) {
  Write(Level::kInfo, message, fields);
}
inline void Warn(absl::string_view message, Fields fields = {}) {
  Write(Level::kWarn, message, fields);
}
inline void Error(absl::string_view message, Fields fields = {}) {
  Write(Level::kError, message, fields);
}

// The line's text after its timestamp: `level=... msg=... k=v` (logfmt) or
// `"level":...,"msg":...,"k":v` (JSON, without braces). For tests.
std::string RenderBody(Format format, Level level, absl::string_view message, Fields fields);

}  // namespace loyalty::log

#endif  // LOYALTY_ENGINE_LOG_LOG_H_
