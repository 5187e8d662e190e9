#include "core/interval_ttl.hpp"

#include <chrono>

#include "core/duration.hpp"

namespace exactly_once {

namespace {

// Exact in 128 bits: |months| * 31 days in microseconds is below 2^31 * 2^42 = 2^73.
__extension__ typedef __int128 Wide;

constexpr Wide kUsPerHour = Wide{3600} * 1000 * 1000;
constexpr Wide kMaxTtlUs = Wide{std::chrono::duration_cast<std::chrono::microseconds>(kMaxTtl).count()};
// Fields within this many microseconds (1000 years of 366 days) keep now + interval far
// inside the timestamp range (years 4713 BC .. 294276 AD) at every intermediate step.
constexpr Wide kSafeFieldUs = Wide{1000} * 366 * 24 * kUsPerHour;

// The shortest and longest span of n units whose length lies in [shortest, longest].
void bounds(Wide n, Wide shortest, Wide longest, Wide* lo, Wide* hi) {
    if (n >= 0) {
        *lo += n * shortest;
        *hi += n * longest;
    } else {
        *lo += n * longest;
        *hi += n * shortest;
    }
}

Wide magnitude(Wide v) { return v < 0 ? -v : v; }

}  // namespace

IntervalTtl classify_interval_ttl(std::int32_t months, std::int32_t days, std::int64_t micros) noexcept {
    Wide lo = micros, hi = micros;
    bounds(months, 28 * 24 * kUsPerHour, 31 * 24 * kUsPerHour, &lo, &hi);
    bounds(days, 23 * kUsPerHour, 25 * kUsPerHour, &lo, &hi);
    if (hi <= 0) return IntervalTtl::not_positive;
    if (lo > kMaxTtlUs) return IntervalTtl::too_long;
    const bool fields_safe = magnitude(Wide{months}) * 31 * 24 * kUsPerHour <= kSafeFieldUs &&
                             magnitude(Wide{days}) * 25 * kUsPerHour <= kSafeFieldUs &&
                             magnitude(Wide{micros}) <= kSafeFieldUs;
    // Bounds that straddle the range with a field beyond 1000 years need fields that cancel
    // each other out by centuries: a field alone is far over the maximum, so call it too long.
    return fields_safe ? IntervalTtl::check_calendar : IntervalTtl::too_long;
}

}  // namespace exactly_once
