#include "engine/log/log.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/text.h"

namespace loyalty::log {
namespace {

// logfmt: bare when the value has no space, quote, '=' or control byte
// (and is not empty), else quoted with \" \\ \n \t and \xNN escapes.
void AppendLogfmtValue(absl::string_view v, std::string* out) {
  bool bare = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out->append(v.data(), v.size());
    return;
  }
  out->push_back('"');
  for (unsigned char c : v) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < ' ' || c == 0x7f) {
          absl::StrAppend(out, "\\x", absl::Hex(c, absl::kZeroPad2));
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

struct State {
  std::mutex mu;  // guards logger replacement
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  std::atomic<Format> format{Format::kLogfmt};
};

// The logger of `options`: their stream (stderr by default) and format.
std::shared_ptr<spdlog::logger> MakeLogger(const Options& options) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (options.stream != nullptr) {
    sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*options.stream, /*force_flush=*/true);
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("loyalty", std::move(sink));
  const char* pattern = options.format == Format::kJson ? "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",%v}"
                                                        : "ts=%Y-%m-%dT%H:%M:%S.%eZ %v";
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::trace);  // filtered by State::level
  logger->flush_on(spdlog::level::trace);
  return logger;
}

State& GetState() {
  static State* state = [] {
    auto* s = new State;
    s->logger = MakeLogger(Options());
    return s;
  }();
  return *state;
}

// protobuf's own lines (parse errors of text formats, among them).
void OnProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                   const std::string& message) {
  const Level ours = level == google::protobuf::LOGLEVEL_INFO      ? Level::kInfo
                     : level == google::protobuf::LOGLEVEL_WARNING ? Level::kWarn
                                                                   : Level::kError;
  if (!Enabled(ours)) return;
  Write(ours, message, {{"component", "protobuf"}, {"file", filename}, {"line", line}});
}

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "debug") return Level::kDebug;
  if (n == "info") return Level::kInfo;
  if (n == "warn" || n == "warning") return Level::kWarn;
  if (n == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("log level \"", name, "\": use debug, info, warn or error"));
}

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  if (name == "logfmt") return Format::kLogfmt;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(absl::StrCat("log format \"", name, "\": use logfmt or json"));
}

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

Field::Field(absl::string_view key, int64_t value)
    : key_(key), value_(absl::StrCat(value)), bare_(true) {}
Field::Field(absl::string_view key, uint64_t value)
    : key_(key), value_(absl::StrCat(value)), bare_(true) {}
Field::Field(absl::string_view key, double value) : key_(key), bare_(true) {
  // JSON has no NaN or infinity: those are written as strings.
  if (value != value || value > 1e308 || value < -1e308) {
    value_ = absl::StrCat(value);
    bare_ = false;
  } else {
    value_ = absl::StrFormat("%.6g", value);
  }
}

void Configure(const Options& options) {
  State& s = GetState();
  std::shared_ptr<spdlog::logger> logger = MakeLogger(options);
  google::protobuf::SetLogHandler(&OnProtobufLog);
  std::lock_guard<std::mutex> lock(s.mu);
  s.logger = std::move(logger);
  s.format.store(options.format);
  s.level.store(static_cast<int>(options.level));
}

bool Enabled(Level level) { return static_cast<int>(level) >= GetState().level.load(); }

std::string RenderBody(Format format, Level level, absl::string_view message, Fields fields) {
  std::string out;
  if (format == Format::kJson) {
    absl::StrAppend(&out, "\"level\":\"", LevelName(level), "\",\"msg\":", JsonString(message));
    for (const Field& f : fields) {
      absl::StrAppend(&out, ",", JsonString(f.key()), ":",
                      f.bare() ? std::string(f.value()) : JsonString(f.value()));
    }
    return out;
  }
  absl::StrAppend(&out, "level=", LevelName(level), " msg=");
  AppendLogfmtValue(message, &out);
  for (const Field& f : fields) {
    absl::StrAppend(&out, " ", f.key(), "=");
    AppendLogfmtValue(f.value(), &out);
  }
  return out;
}

void Write(Level level, absl::string_view message, Fields fields) {
  State& s = GetState();
  if (static_cast<int>(level) < s.level.load()) return;
  const std::string body = RenderBody(s.format.load(), level, message, fields);
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    logger = s.logger;
  }
  logger->log(spdlog::level::info, "{}", body);
}

}  // namespace loyalty::log
