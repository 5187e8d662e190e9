// Bounds of a calendar TTL given as PostgreSQL interval fields (months, days, microseconds),
// decided without overflow and without a calendar. The engine front end adds the interval to
// the clock itself (calendar-aware: month lengths, DST days) only when this says it is safe to,
// and then checks the exact span against kMaxTtl.
#pragma once

#include <cstdint>

namespace exactly_once {

enum class IntervalTtl {
    not_positive,   // the span is <= 0 whatever the start date
    too_long,       // the span is over kMaxTtl whatever the start date (or a field alone is far beyond it)
    check_calendar, // may be in range: now + interval cannot overflow; the front end decides exactly
};

// Calendar months last 28..31 days and calendar days 23..25 hours (DST), so the span of
// (months, days, micros) lies between the sums of each field's shortest and longest length.
// check_calendar is returned only when every field is within 1000 years (so now + interval
// stays far inside any timestamp range) and the bounds straddle (0, kMaxTtl].
IntervalTtl classify_interval_ttl(std::int32_t months, std::int32_t days, std::int64_t micros) noexcept;

}  // namespace exactly_once
