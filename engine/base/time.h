// File: engine/base/time.h
// Instants as int64 nanoseconds since the Unix epoch (UTC), and the few
// calendar operations the ledger needs in a program's time zone. Nothing here
// reads the host clock.
#ifndef LOYALTY_ENGINE_BASE_TIME_H_
#define LOYALTY_ENGINE_BASE_TIME_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace loyalty {

using UnixNanos = int64_t;

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kNanosPerDay = 86'400 * kNanosPerSecond;
// Events must occur in [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z).
inline constexpr UnixNanos kEventTimeMinNs = 946'684'800 * kNanosPerSecond;
inline constexpr UnixNanos kEventTimeLimitNs = 4'102'444'800 * kNanosPerSecond;

// Converts a Timestamp whose seconds and nanos are both in range. Returns
// InvalidArgument for nanos outside [0, 1e9) or seconds that overflow.
absl::StatusOr<UnixNanos> TimestampToNanos(const google::protobuf::Timestamp& ts);
// The host's wall clock in ms since the epoch (as Kafka's record
// timestamps). Only for measurements, logs and unique names: the ledger's
// time comes from its events, never from here.
int64_t WallMs();
// The same for a timestamp that is valid by an invariant (an event's after
// ValidateEvent, a member record's after CheckMemberRecord): a broken
// invariant stops the process with LOYALTY_CHECK, naming `field`.
UnixNanos CheckedNanos(const google::protobuf::Timestamp& ts, const char* field);
google::protobuf::Timestamp NanosToTimestamp(UnixNanos ns);
// The same into an existing message (no temporary).
void SetTimestamp(UnixNanos ns, google::protobuf::Timestamp* ts);

absl::Time NanosToTime(UnixNanos ns);
UnixNanos TimeToNanos(absl::Time t);

// "2024-03-31T22:00:00Z" (RFC 3339, UTC, fractional seconds only if any).
std::string FormatRfc3339(UnixNanos ns);
// Parses RFC 3339 with any offset.
absl::StatusOr<UnixNanos> ParseRfc3339(absl::string_view text);

// The local calendar day of `ns` in `tz`, as yyyymmdd (20240331).
int64_t LocalDayKey(UnixNanos ns, const absl::TimeZone& tz);
// The local calendar month of `ns` in `tz`, as yyyymm (202403).
int64_t LocalMonthKey(UnixNanos ns, const absl::TimeZone& tz);
// The first instant of the local day after the one that contains `ns`: the
// earliest instant whose local date is that day (the transition itself when
// local midnight is skipped by a DST change).
UnixNanos StartOfNextLocalDay(UnixNanos ns, const absl::TimeZone& tz);
// The first instant of the local month after the one that contains `ns`.
UnixNanos StartOfNextLocalMonth(UnixNanos ns, const absl::TimeZone& tz);
// `ns` moved by `months` local civil months, keeping the local wall time; the
// day is clamped to the last day of the target month (Jan 31 + 1 = Feb 29).
UnixNanos AddLocalMonths(UnixNanos ns, int64_t months, const absl::TimeZone& tz);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_TIME_H_
