// File: engine/base/status.h
// Status helpers the Debian Abseil (20220623) lacks, and the always-on
// invariant check.
//
//   LOYALTY_RETURN_IF_ERROR(store.Write(batch));
//   LOYALTY_ASSIGN_OR_RETURN(auto program, LoadProgram(path));
//   LOYALTY_CHECK(lot.remaining_points() >= 0) << "lot " << lot.lot_id();
//
// LOYALTY_CHECK is for broken invariants (a bug or corrupted state): it
// prints the failed condition and aborts, in every build type. Operating
// errors (bad input, I/O) return absl::Status instead.
#ifndef LOYALTY_ENGINE_BASE_STATUS_H_
#define LOYALTY_ENGINE_BASE_STATUS_H_

#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LOYALTY_CONCAT_INNER_(a, b) a##b
#define LOYALTY_CONCAT_(a, b) LOYALTY_CONCAT_INNER_(a, b)

#define LOYALTY_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status loyalty_status_ = (expr);           \
    if (!loyalty_status_.ok()) return loyalty_status_; \
  } while (0)

#define LOYALTY_ASSIGN_OR_RETURN(lhs, expr) \
  LOYALTY_ASSIGN_OR_RETURN_IMPL_(LOYALTY_CONCAT_(loyalty_statusor_, __LINE__), lhs, expr)
#define LOYALTY_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                   \
  if (!var.ok()) return std::move(var).status();       \
  lhs = std::move(var).value()

namespace loyalty::internal {

// Collects the message of a failed check and aborts when destroyed.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace loyalty::internal

#define LOYALTY_CHECK(cond)            \
  if (__builtin_expect(!!(cond), 1)) { \
  } else                               \
    ::loyalty::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()

#define LOYALTY_CHECK_OK(expr)                                                     \
  if (::absl::Status loyalty_check_status_ = (expr); loyalty_check_status_.ok()) { \
  } else                                                                           \
    ::loyalty::internal::CheckFailure(__FILE__, __LINE__, #expr).stream()          \
        << loyalty_check_status_ << " "

#endif  // LOYALTY_ENGINE_BASE_STATUS_H_
