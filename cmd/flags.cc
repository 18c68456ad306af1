#include "cmd/flags.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace loyalty {
namespace {

constexpr char kEnvPrefix[] = "LOYALTY_";
constexpr char kEnvKafkaPrefix[] = "LOYALTY_KAFKA_";
constexpr char kFileKafkaPrefix[] = "kafka.";

Flags::Environment ProcessEnvironment() {
  Flags::Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry = *e;
    if (!absl::StartsWith(entry, kEnvPrefix)) continue;
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

// LOYALTY_DATA_DIR for data-dir.
std::string EnvName(const std::string& flag) {
  return absl::StrCat(kEnvPrefix, absl::AsciiStrToUpper(absl::StrReplaceAll(flag, {{"-", "_"}})));
}

// "key=value" of -X; InvalidArgument without '=' or key.
absl::StatusOr<std::pair<std::string, std::string>> SplitProperty(absl::string_view text,
                                                                  absl::string_view where) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"", text, "\" is not key=value (a librdkafka property)"));
  }
  return std::make_pair(std::string(absl::StripAsciiWhitespace(text.substr(0, eq))),
                        std::string(absl::StripAsciiWhitespace(text.substr(eq + 1))));
}

absl::StatusOr<bool> ParseBool(const std::string& value, const std::string& where) {
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return absl::InvalidArgumentError(absl::StrCat(where, ": \"", value, "\" is not true or false"));
}

const char* SourceSuffix(Flags::Source source) {
  switch (source) {
    case Flags::Source::kCommandLine:
      return "";
    case Flags::Source::kEnvironment:
      return " (env)";
    case Flags::Source::kFile:
      return " (file)";
  }
  return "";
}

}  // namespace

absl::StatusOr<Flags> Flags::Parse(int argc, char** argv, int first,
                                   const std::set<std::string>& known,
                                   const std::set<std::string>& booleans,
                                   const std::set<std::string>& other_known) {
  return Parse(argc, argv, first, known, booleans, other_known, ProcessEnvironment());
}

absl::StatusOr<Flags> Flags::Parse(int argc, char** argv, int first,
                                   const std::set<std::string>& known,
                                   const std::set<std::string>& booleans,
                                   const std::set<std::string>& other_known,
                                   const Environment& environment) {
  Flags flags;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-X" || (arg.rfind("-X", 0) == 0 && arg.size() > 2)) {
      std::string property = arg.substr(2);
      if (property.empty()) {
        if (i + 1 >= argc) return absl::InvalidArgumentError("-X needs key=value");
        property = argv[++i];
      }
      auto kv = SplitProperty(property, "-X");
      if (!kv.ok()) return kv.status();
      flags.kafka_map_[kv->first] = {kv->second, Source::kCommandLine};
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (known.count(name) == 0 && name != "config") {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (booleans.count(name) > 0) {
      if (has_value && value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      if (!has_value || value == "true") {
        flags.values_[name] = "true";
      } else {
        flags.values_.erase(name);
      }
      flags.sources_[name] = Source::kCommandLine;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    flags.values_[name] = value;
    flags.sources_[name] = Source::kCommandLine;
  }
  std::set<std::string> with_config = known;
  with_config.insert("config");
  if (absl::Status s = flags.ReadEnvironment(with_config, booleans, environment); !s.ok()) return s;
  if (flags.Has("config")) {
    absl::Status s = flags.ReadFile(flags.Get("config"), known, booleans, other_known);
    if (!s.ok()) return s;
  }
  for (const auto& [key, value] : flags.kafka_map_) flags.kafka_.emplace_back(key, value.first);
  return flags;
}

absl::Status Flags::SetIfAbsent(const std::string& name, const std::string& value, bool boolean,
                                Source source, const std::string& where) {
  if (sources_.count(name) > 0) return absl::OkStatus();  // a stronger source set it
  sources_[name] = source;
  if (!boolean) {
    values_[name] = value;
    return absl::OkStatus();
  }
  absl::StatusOr<bool> b = ParseBool(value, where);
  if (!b.ok()) return b.status();
  if (*b) values_[name] = "true";
  return absl::OkStatus();
}

absl::Status Flags::ReadEnvironment(const std::set<std::string>& known,
                                    const std::set<std::string>& booleans,
                                    const Environment& environment) {
  for (const std::string& name : known) {
    const std::string env = EnvName(name);
    auto it = environment.find(env);
    if (it == environment.end()) continue;
    absl::Status s =
        SetIfAbsent(name, it->second, booleans.count(name) > 0, Source::kEnvironment, env);
    if (!s.ok()) return s;
  }
  for (const auto& [env, value] : environment) {
    absl::string_view key = env;
    if (!absl::ConsumePrefix(&key, kEnvKafkaPrefix) || key.empty()) continue;
    std::string property = absl::AsciiStrToLower(absl::StrReplaceAll(key, {{"_", "."}}));
    kafka_map_.emplace(property, std::make_pair(value, Source::kEnvironment));
  }
  return absl::OkStatus();
}

absl::Status Flags::ReadFile(const std::string& path, const std::set<std::string>& known,
                             const std::set<std::string>& booleans,
                             const std::set<std::string>& other_known) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config=", path, ": cannot read the file (", std::strerror(errno), ")"));
  }
  std::map<std::string, int> line_of;  // each key once per file
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = absl::StrCat(path, ":", number);
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    auto kv = SplitProperty(text, where);
    if (!kv.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"", text, "\" is not name = value"));
    }
    auto [key, value] = std::move(*kv);
    if (auto [it, fresh] = line_of.emplace(key, number); !fresh) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", key, " is already set on line ", it->second));
    }
    absl::string_view property = key;
    if (absl::ConsumePrefix(&property, kFileKafkaPrefix)) {
      if (property.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": kafka. needs a property name"));
      }
      kafka_map_.emplace(std::string(property), std::make_pair(value, Source::kFile));
      continue;
    }
    if (key == "config") {
      return absl::InvalidArgumentError(absl::StrCat(where, ": a config file cannot name another"));
    }
    if (known.count(key) == 0) {
      if (other_known.count(key) > 0) continue;  // another command's flag
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown name \"", key, "\" (a flag without --, or kafka.<property>)"));
    }
    absl::Status s = SetIfAbsent(key, value, booleans.count(key) > 0, Source::kFile, where);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", it->second, ": not an integer"));
  }
  return v;
}

absl::StatusOr<int64_t> Flags::GetIntIn(const std::string& name, int64_t fallback, int64_t min,
                                        int64_t max) const {
  auto v = GetInt(name, fallback);
  if (v.ok() && (*v < min || *v > max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be in [", min, ", ", max, "]"));
  }
  return v;
}

absl::StatusOr<int64_t> Flags::GetDurationMs(const std::string& name, int64_t fallback_ms,
                                             int64_t max_ms) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback_ms;
  if (it->second == "0") return 0;
  absl::Duration d;
  if (!absl::ParseDuration(it->second, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, "=", it->second, ": not a duration (say 90s, 5m, 1h or 0)"));
  }
  const int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms > max_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be at most ", absl::FormatDuration(absl::Milliseconds(max_ms))));
  }
  return ms;
}

absl::StatusOr<std::string> Flags::Require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required (see --help)"));
  }
  return it->second;
}

bool Flags::IsSecret(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (absl::string_view word :
       {"password", "secret", "key.pem", "credential", "token", "oauthbearer.config", "jaas"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

Flags::Pairs Flags::Describe() const {
  Pairs out;
  for (const auto& [name, value] : values_) {
    auto source = sources_.find(name);
    out.emplace_back(name, absl::StrCat(IsSecret(name) ? "[redacted]" : value,
                                        SourceSuffix(source == sources_.end() ? Source::kCommandLine
                                                                              : source->second)));
  }
  for (const auto& [key, value] : kafka_map_) {
    out.emplace_back(
        absl::StrCat(kFileKafkaPrefix, key),
        absl::StrCat(IsSecret(key) ? "[redacted]" : value.first, SourceSuffix(value.second)));
  }
  return out;
}

}  // namespace loyalty
