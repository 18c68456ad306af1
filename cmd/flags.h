// File: cmd/flags.h
// The command-line parser of the tools, with the configuration sources of
// SPEC §11. A flag's value comes from, in order of precedence:
//
//   1. the command line: `--name=value`, `--name value`, boolean `--name`;
//   2. the environment: LOYALTY_<NAME>, the name upper-cased with '-' as
//      '_' (LOYALTY_DATA_DIR for --data-dir);
//   3. the file of --config=FILE (or LOYALTY_CONFIG): `name = value`
//      lines, '#' comments, blank lines.
//
// librdkafka properties come from the same three places, in the same
// order: `-X key=value` (repeatable), LOYALTY_KAFKA_<KEY> (upper-cased,
// '.' as '_': LOYALTY_KAFKA_SASL_PASSWORD is sasl.password), and
// `kafka.<key> = value` lines of the file. A key may start with
// "consumer." or "producer." to reach one side only.
//
// Unknown flags on the command line are errors that name the flag; an
// unknown name in the file is an error naming the file and line, unless it
// is a flag of another command (one file may serve several), which is
// skipped. LOYALTY_* variables that name no flag of the command are
// ignored (the environment is shared).
#ifndef LOYALTY_CMD_FLAGS_H_
#define LOYALTY_CMD_FLAGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loyalty {

class Flags {
 public:
  using Environment = std::map<std::string, std::string>;
  using Pairs = std::vector<std::pair<std::string, std::string>>;

  // Where a value came from.
  enum class Source { kCommandLine, kEnvironment, kFile };

  // `known` lists the accepted flag names (without "--"); `booleans` those
  // that take no value (their environment or file value is true or
  // false). "config" is always accepted. `other_known` lists the flags of
  // the binary's other commands, which a shared config file may hold.
  // Reads the process's environment.
  static absl::StatusOr<Flags> Parse(int argc, char** argv, int first,
                                     const std::set<std::string>& known,
                                     const std::set<std::string>& booleans,
                                     const std::set<std::string>& other_known = {});
  // The same with the environment given.
  static absl::StatusOr<Flags> Parse(int argc, char** argv, int first,
                                     const std::set<std::string>& known,
                                     const std::set<std::string>& booleans,
                                     const std::set<std::string>& other_known,
                                     const Environment& environment);

  // Whether the flag has a value; for a boolean, whether it is true.
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Fails with a message naming the flag when the value is not an integer.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  // GetInt, failing also when the value is outside [min, max].
  absl::StatusOr<int64_t> GetIntIn(const std::string& name, int64_t fallback, int64_t min,
                                   int64_t max) const;
  // A duration with its unit ("90s", "5m", "1h", "250ms"; "0" alone), in
  // milliseconds; fails naming the flag when it is not one, is negative or
  // is over max_ms.
  absl::StatusOr<int64_t> GetDurationMs(const std::string& name, int64_t fallback_ms,
                                        int64_t max_ms) const;
  // Fails naming the flag when it is absent.
  absl::StatusOr<std::string> Require(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // The librdkafka properties (key, value), each key once, sorted by key.
  const Pairs& kafka_properties() const { return kafka_; }

  // Every value set, for a start log: (name, value) sorted by name, Kafka
  // properties as "kafka.<key>", values of secrets (IsSecret) as
  // "[redacted]", each value followed by its source (" (env)", " (file)").
  Pairs Describe() const;

  // Whether a name (a flag or a Kafka property key) holds a secret:
  // password, secret, private key, token, credentials.
  static bool IsSecret(const std::string& name);

 private:
  absl::Status ReadEnvironment(const std::set<std::string>& known,
                               const std::set<std::string>& booleans,
                               const Environment& environment);
  absl::Status ReadFile(const std::string& path, const std::set<std::string>& known,
                        const std::set<std::string>& booleans,
                        const std::set<std::string>& other_known);
  // Sets a flag from a lower-precedence source unless it already has a
  // value. `where` names the source in errors.
  absl::Status SetIfAbsent(const std::string& name, const std::string& value, bool boolean,
                           Source source, const std::string& where);

  std::map<std::string, std::string> values_;
  std::map<std::string, Source> sources_;
  std::vector<std::string> positional_;
  std::map<std::string, std::pair<std::string, Source>> kafka_map_;
  Pairs kafka_;
};

}  // namespace loyalty

#endif  // LOYALTY_CMD_FLAGS_H_
