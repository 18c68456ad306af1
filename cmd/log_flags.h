// File: cmd/log_flags.h
// --log-format and --log-level of the binaries, and the start line that
// records the configuration (secrets redacted: Flags::Describe).
#ifndef LOYALTY_CMD_LOG_FLAGS_H_
#define LOYALTY_CMD_LOG_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cmd/flags.h"
#include "cmd/version.h"
#include "engine/log/log.h"

namespace loyalty {

// Configures the process's log from --log-format (logfmt, json) and
// --log-level (debug, info, warn, error); InvalidArgument names the flag.
inline absl::Status ConfigureLogFromFlags(const Flags& flags) {
  log::Options options;
  auto format = log::ParseFormat(flags.Get("log-format", "logfmt"));
  if (!format.ok())
    return absl::InvalidArgumentError(absl::StrCat("--log-format: ", format.status().message()));
  auto level = log::ParseLevel(flags.Get("log-level", "info"));
  if (!level.ok())
    return absl::InvalidArgumentError(absl::StrCat("--log-level: ", level.status().message()));
  options.format = *format;
  options.level = *level;
  log::Configure(options);
  return absl::OkStatus();
}

// "start" with the version, then "configuration" with every value set.
inline void LogStart(const std::string& binary, const std::string& command, const Flags& flags) {
  log::Info("start", {{"binary", binary},
                      {"command", command},
                      {"version", EngineVersion()},
                      {"commit", GitCommit()}});
  const Flags::Pairs described = flags.Describe();
  std::vector<log::Field> fields;
  fields.reserve(described.size());
  for (const auto& [name, value] : described) fields.emplace_back(name, value);
  log::Info("configuration", fields);
}

}  // namespace loyalty

#endif  // LOYALTY_CMD_LOG_FLAGS_H_
