#include "engine/base/time.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/base/status.h"

namespace loyalty {

absl::StatusOr<UnixNanos> TimestampToNanos(const google::protobuf::Timestamp& ts) {
  if (ts.nanos() < 0 || ts.nanos() >= kNanosPerSecond) {
    return absl::InvalidArgumentError(absl::StrCat("nanos out of range: ", ts.nanos()));
  }
  // int64 nanoseconds reach year 2262; anything beyond is out of range.
  constexpr int64_t kSecondsMax = INT64_MAX / kNanosPerSecond - 1;
  if (ts.seconds() > kSecondsMax || ts.seconds() < -kSecondsMax) {
    return absl::InvalidArgumentError(absl::StrCat("seconds out of range: ", ts.seconds()));
  }
  return ts.seconds() * kNanosPerSecond + ts.nanos();
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

UnixNanos CheckedNanos(const google::protobuf::Timestamp& ts, const char* field) {
  absl::StatusOr<UnixNanos> ns = TimestampToNanos(ts);
  LOYALTY_CHECK(ns.ok()) << field << ": " << ns.status().message();
  return *ns;
}

google::protobuf::Timestamp NanosToTimestamp(UnixNanos ns) {
  google::protobuf::Timestamp ts;
  SetTimestamp(ns, &ts);
  return ts;
}

void SetTimestamp(UnixNanos ns, google::protobuf::Timestamp* ts) {
  int64_t seconds = ns / kNanosPerSecond;
  int64_t nanos = ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    seconds -= 1;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(nanos));
}

absl::Time NanosToTime(UnixNanos ns) { return absl::FromUnixNanos(ns); }
UnixNanos TimeToNanos(absl::Time t) { return absl::ToUnixNanos(t); }

std::string FormatRfc3339(UnixNanos ns) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", NanosToTime(ns), absl::UTCTimeZone());
}

absl::StatusOr<UnixNanos> ParseRfc3339(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an RFC 3339 instant: \"", text, "\": ", err));
  }
  return TimeToNanos(t);
}

int64_t LocalDayKey(UnixNanos ns, const absl::TimeZone& tz) {
  absl::CivilDay d = absl::ToCivilDay(NanosToTime(ns), tz);
  return d.year() * 10000 + d.month() * 100 + d.day();
}

int64_t LocalMonthKey(UnixNanos ns, const absl::TimeZone& tz) {
  absl::CivilMonth m = absl::ToCivilMonth(NanosToTime(ns), tz);
  return m.year() * 100 + m.month();
}

UnixNanos StartOfNextLocalDay(UnixNanos ns, const absl::TimeZone& tz) {
  // FromCivil: a skipped civil time maps to the transition, a repeated one
  // to its first occurrence; either way the earliest instant of that date.
  absl::CivilDay d = absl::ToCivilDay(NanosToTime(ns), tz);
  return TimeToNanos(absl::FromCivil(d + 1, tz));
}

UnixNanos StartOfNextLocalMonth(UnixNanos ns, const absl::TimeZone& tz) {
  absl::CivilMonth m = absl::ToCivilMonth(NanosToTime(ns), tz);
  return TimeToNanos(absl::FromCivil(m + 1, tz));
}

UnixNanos AddLocalMonths(UnixNanos ns, int64_t months, const absl::TimeZone& tz) {
  absl::Time t = NanosToTime(ns);
  absl::CivilSecond cs = absl::ToCivilSecond(t, tz);
  absl::CivilMonth target = absl::CivilMonth(cs) + months;
  // Clamp the day to the target month's length.
  absl::CivilDay last_day = absl::CivilDay(target + 1) - 1;
  int day = cs.day() < last_day.day() ? cs.day() : last_day.day();
  absl::CivilSecond moved(target.year(), target.month(), day, cs.hour(), cs.minute(), cs.second());
  // Keep the sub-second part of the original instant.
  absl::Duration frac = t - absl::FromCivil(cs, tz);
  if (frac < absl::ZeroDuration() || frac >= absl::Seconds(1)) frac = absl::ZeroDuration();
  return TimeToNanos(absl::FromCivil(moved, tz) + frac);
}

}  // namespace loyalty
