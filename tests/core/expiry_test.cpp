#include "core/expiry.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace eo = exactly_once;
using namespace std::chrono_literals;

TEST(Expiry, LiveUntilTheInstantOfExpiry) {
    eo::ManualClock clock(1'700'000'000'000);
    const auto expires = eo::expiry_after(clock.now_ms(), 48h);
    EXPECT_TRUE(eo::is_live(expires, clock.now_ms()));
    clock.advance(48h - 1ms);
    EXPECT_TRUE(eo::is_live(expires, clock.now_ms()));
    clock.advance(1ms);
    EXPECT_FALSE(eo::is_live(expires, clock.now_ms())) << "expired claims count as absent at once";
}

TEST(Expiry, SaturatesInsteadOfOverflowing) {
    EXPECT_EQ(eo::expiry_after(std::numeric_limits<eo::UnixMillis>::max() - 5, 1h),
              std::numeric_limits<eo::UnixMillis>::max());
}

TEST(Expiry, SystemClockIsUnixMillis) {
    const auto now = eo::SystemClock().now_ms();
    EXPECT_GT(now, 1'700'000'000'000);   // after 2023
    EXPECT_LT(now, 4'102'444'800'000);   // before 2100
}
