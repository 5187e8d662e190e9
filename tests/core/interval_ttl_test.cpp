#include "core/interval_ttl.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace eo = exactly_once;
using eo::IntervalTtl;

namespace {
constexpr std::int64_t kHourUs = 3600LL * 1000 * 1000;
constexpr std::int64_t kDayUs = 24 * kHourUs;
constexpr std::int32_t kI32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t kI32Min = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();
}  // namespace

TEST(IntervalTtl, OrdinaryValuesGoToTheCalendarCheck) {
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, 1), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(0, 2, 0), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, 48 * kHourUs), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(1, 0, 0), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(0, 36500, 0), IntervalTtl::check_calendar);
    // Could be at or just over the maximum depending on DST and month lengths: exact check.
    EXPECT_EQ(eo::classify_interval_ttl(1200, 0, 0), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(0, 36501, 0), IntervalTtl::check_calendar);
    // Mixed signs that may or may not be positive (1 month - 30 days).
    EXPECT_EQ(eo::classify_interval_ttl(1, -30, 0), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(1, -31, 0), IntervalTtl::check_calendar);
    EXPECT_EQ(eo::classify_interval_ttl(0, 1, -24 * kHourUs), IntervalTtl::check_calendar);
}

TEST(IntervalTtl, NotPositiveWhateverTheCalendar) {
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, 0), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, -1), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(0, -1, 0), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(-1, 0, 0), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(1, -40, 0), IntervalTtl::not_positive);  // 31 days < 40 * 23 hours
    EXPECT_EQ(eo::classify_interval_ttl(0, 1, -25 * kHourUs), IntervalTtl::not_positive);  // days <= 25 h
    // interval '-177999999 years' and the extremes of every field
    EXPECT_EQ(eo::classify_interval_ttl(-177999999 * 12, 0, 0), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(kI32Min, kI32Min, kI64Min), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(0, kI32Min, 0), IntervalTtl::not_positive);
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, kI64Min), IntervalTtl::not_positive);
}

TEST(IntervalTtl, TooLongWhateverTheCalendar) {
    // interval '2147483647 days' and the extremes of every field
    EXPECT_EQ(eo::classify_interval_ttl(0, kI32Max, 0), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(kI32Max, kI32Max, kI64Max), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(kI32Max, 0, 0), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, kI64Max), IntervalTtl::too_long);
    // Over the maximum even with 23-hour days / 28-day months.
    EXPECT_EQ(eo::classify_interval_ttl(0, 40000, 0), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(1400, 0, 0), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(0, 0, 36501 * kDayUs), IntervalTtl::too_long);
}

TEST(IntervalTtl, HugeFieldsThatCancelAreTooLongNotOverflowed) {
    // Bounds straddle the range only because two fields beyond 1000 years nearly cancel.
    EXPECT_EQ(eo::classify_interval_ttl(kI32Max, kI32Min, 0), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(0, kI32Max, kI64Min), IntervalTtl::too_long);
    EXPECT_EQ(eo::classify_interval_ttl(120000, -3652500, 0), IntervalTtl::too_long);
}


