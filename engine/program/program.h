// File: engine/program/program.h
// Loading and validating loyalty programs (SPEC §5).
//
//   LOYALTY_ASSIGN_OR_RETURN(ProgramSet programs, LoadPrograms("programs/"));
//   const ProgramHistory* cafe = programs.FindHistory("cafe");
//   const CompiledProgram& rules = cafe->At(t);   // the version in force at t
//
// A program file is protobuf text format (`loyalty.v1.Program`). Loading
// parses it with protobuf's own parser, then checks every field; any error
// names the file, the line and column, and the field path:
//   programs/cafe.textproto:14:1: tiers[1].threshold: thresholds must ascend ...
//
// A file may hold versions of its program (SPEC §10; `versions` in
// program.proto): each is compiled like a program of its own, and a later
// version must keep what member records refer to (docs/semantics.md
// "Program versions"). A CompiledProgram is one version; a ProgramHistory
// holds them all and picks the one in force at an instant.
//
// Thread-safety: a loaded ProgramSet is immutable and may be shared.
#ifndef LOYALTY_ENGINE_PROGRAM_PROGRAM_H_
#define LOYALTY_ENGINE_PROGRAM_PROGRAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "loyalty/v1/program.pb.h"

namespace loyalty {

// Upper bound on the points one event may earn, add or spend. Programs whose
// worst-case purchase earn exceeds it are refused at load; events beyond it
// are BAD_AMOUNT. With int64 counters it leaves room for 9,000 maximal events
// per member before any counter could overflow (checked, never wrapped).
inline constexpr int64_t kPointsPerEventMax = 1'000'000'000'000'000;  // 1e15
inline constexpr int64_t kAmountMinorMax = 1'000'000'000'000;         // 1e12
inline constexpr int64_t kMultiplierBpMax = 1'000'000;                // 100x
inline constexpr int64_t kBp = 10'000;

// A promotion with its times parsed.
struct CompiledPromotion {
  const loyalty::v1::Promotion* proto = nullptr;
  uint8_t day_mask = 0;      // bit d (1 = Monday .. 7 = Sunday); 0 = every day
  int start_minute = 0;      // minutes after local midnight
  int end_minute = 24 * 60;  // exclusive; <= start means it runs past midnight
  int64_t valid_from_ns = INT64_MIN;
  int64_t valid_until_ns = INT64_MAX;  // exclusive
};

// A validated program with lookup tables. Lookups go through hash maps;
// nothing iterates them (iteration order is not deterministic).
class CompiledProgram {
 public:
  const loyalty::v1::Program& proto() const { return proto_; }
  const std::string& program_id() const { return proto_.program_id(); }
  const std::string& source_path() const { return source_path_; }
  // The version's name: the file's `version` ("1" when empty) for the base
  // version, versions[i].version for the others.
  const std::string& version() const { return version_; }
  // When the version comes into force: INT64_MIN for the base version.
  int64_t effective_from_ns() const { return effective_from_ns_; }
  // effective_from as RFC 3339 UTC (FormatRfc3339); empty for the base.
  const std::string& effective_from() const { return effective_from_; }
  // Lowercase hex SHA-256 of the version: of the deterministic
  // serialization of a ProgramVersion holding its name, effective_from()
  // and its program as proto() has it (docs/semantics.md "The hash").
  const std::string& hash() const { return hash_; }
  const absl::TimeZone& time_zone() const { return time_zone_; }
  bool allow_negative_balance() const { return allow_negative_balance_; }

  // Multiplier of a line item's category; 10000 when not listed.
  int64_t CategoryBp(absl::string_view category) const;
  const loyalty::v1::EngagementRule* EngagementRule(absl::string_view action) const;
  const loyalty::v1::Reward* Reward(absl::string_view reward_id) const;
  const loyalty::v1::PaidPlan* PaidPlan(absl::string_view plan_id) const;
  // Index of a tier in ascending order, or -1.
  int TierIndex(absl::string_view tier_id) const;
  // Earn multiplier of tier `index`; 10000 when the program has no tiers.
  int64_t TierEarnBp(int index) const;
  const std::vector<CompiledPromotion>& promotions() const { return promotions_; }
  // Tiers are earned by a metric (tier_qualification with a metric set).
  bool has_tier_qualification() const {
    return proto_.tier_qualification().metric() !=
           loyalty::v1::TierQualification::METRIC_UNSPECIFIED;
  }

 private:
  friend class ProgramCompiler;

  loyalty::v1::Program proto_;
  std::string source_path_;
  std::string version_;
  int64_t effective_from_ns_ = INT64_MIN;
  std::string effective_from_;
  std::string hash_;
  absl::TimeZone time_zone_;
  bool allow_negative_balance_ = true;
  absl::flat_hash_map<std::string, int64_t> category_bp_;
  absl::flat_hash_map<std::string, int> engagement_;
  absl::flat_hash_map<std::string, int> rewards_;
  absl::flat_hash_map<std::string, int> plans_;
  absl::flat_hash_map<std::string, int> tiers_;
  std::vector<CompiledPromotion> promotions_;
};

// The versions of one program, by effective_from ascending: the base
// version first (in force from the beginning of time), then each later one
// from its effective_from. Immutable once built.
class ProgramHistory {
 public:
  // A program of one version.
  explicit ProgramHistory(std::unique_ptr<CompiledProgram> program);

  const std::string& program_id() const { return versions_[0]->program_id(); }
  const std::string& source_path() const { return versions_[0]->source_path(); }
  size_t size() const { return versions_.size(); }
  // Version `i`, oldest first. REQUIRES: i < size().
  const CompiledProgram& version(size_t i) const { return *versions_[i]; }
  const CompiledProgram& base() const { return *versions_[0]; }
  // The last version of the file. It holds every id of the earlier ones.
  const CompiledProgram& latest() const { return *versions_.back(); }
  // The version named `name`, or nullptr.
  const CompiledProgram* FindVersion(absl::string_view name) const;

  // The version in force at `t_ns`: the last whose effective_from <= t_ns.
  // One branch for a program of one version; else a binary search.
  const CompiledProgram& At(int64_t t_ns) const {
    if (versions_.size() == 1) return *versions_[0];
    return AtSearch(t_ns);
  }

 private:
  friend class ProgramCompiler;
  ProgramHistory() = default;
  const CompiledProgram& AtSearch(int64_t t_ns) const;

  std::vector<std::unique_ptr<CompiledProgram>> versions_;
  std::vector<int64_t> effective_from_ns_;  // of versions_[i], ascending
};

// Programs by id. Iteration (ids()) is in sorted order.
class ProgramSet {
 public:
  // The latest version of the program (ProgramHistory::latest: the file's
  // last, which knows every id the program ever had), or nullptr. For what
  // depends on time, use FindHistory(id)->At(t).
  const CompiledProgram* Find(absl::string_view program_id) const;
  // Every version of the program, or nullptr.
  const ProgramHistory* FindHistory(absl::string_view program_id) const;
  std::vector<std::string> ids() const;
  size_t size() const { return programs_.size(); }
  // Fail with AlreadyExists if the id is taken. A CompiledProgram is added
  // as a program of one version.
  absl::Status Add(std::unique_ptr<CompiledProgram> program);
  absl::Status Add(std::unique_ptr<ProgramHistory> program);

 private:
  std::map<std::string, std::shared_ptr<const ProgramHistory>, std::less<>> programs_;
};

// Validates `program` (already parsed, without `versions`) and builds its
// lookup tables. Errors name `source_path` but no line; use
// ParseProgramText for positions.
absl::StatusOr<std::unique_ptr<CompiledProgram>> CompileProgram(loyalty::v1::Program program,
                                                                std::string source_path);

// Parses and validates one program of one version from text; errors carry
// "source_path:line:column: field.path: message". A text with `versions`
// is refused: ParseProgramFile reads those.
absl::StatusOr<std::unique_ptr<CompiledProgram>> ParseProgramText(absl::string_view text,
                                                                  std::string source_path);

// Parses and validates a program file with all its versions: each version
// as ParseProgramText checks a program, then what may not change from one
// version to the next. Errors carry "source_path:line:column: field.path:
// message", e.g. "versions[1].program.tiers[0].threshold: ...".
absl::StatusOr<std::unique_ptr<ProgramHistory>> ParseProgramFile(absl::string_view text,
                                                                 std::string source_path);

// Loads a file, or every *.textproto / *.txtpb / *.pbtxt file of a directory
// (sorted by name), with their versions (ParseProgramFile). Program ids must
// be unique across files.
absl::StatusOr<ProgramSet> LoadPrograms(const std::string& path);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_PROGRAM_PROGRAM_H_
