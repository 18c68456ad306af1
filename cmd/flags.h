// File: cmd/flags.h
// A small command-line parser for the tools: `--name=value`, `--name value`,
// boolean `--name`, and positional arguments. Unknown flags are errors that
// name the flag.
#ifndef LOYALTY_CMD_FLAGS_H_
#define LOYALTY_CMD_FLAGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace loyalty {

class Flags {
 public:
  // `known` lists the accepted flag names (without "--"); `booleans` those
  // that take no value.
  static absl::StatusOr<Flags> Parse(int argc, char** argv, int first,
                                     const std::set<std::string>& known,
                                     const std::set<std::string>& booleans);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Fails with a message naming the flag when the value is not an integer.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  // GetInt, failing also when the value is outside [min, max].
  absl::StatusOr<int64_t> GetIntIn(const std::string& name, int64_t fallback, int64_t min,
                                   int64_t max) const;
  // Fails naming the flag when it is absent.
  absl::StatusOr<std::string> Require(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace loyalty

#endif  // LOYALTY_CMD_FLAGS_H_
