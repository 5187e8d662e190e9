#include "core/expiry.hpp"

#include <gtest/gtest.h>

namespace eo = exactly_once;

TEST(Clock, SystemClockIsUnixTime) {
    const eo::SystemClock clock;
    const auto us = clock.now_us();
    EXPECT_GT(us, 1'700'000'000'000'000);  // after 2023
    EXPECT_LT(us, 4'102'444'800'000'000);  // before 2100
    const auto ms = clock.now_ms();
    EXPECT_GE(ms, us / 1000);
    EXPECT_LE(ms, us / 1000 + 1000);
}

// A clock at a fixed instant, to check how microseconds become milliseconds.
class FixedClock final : public eo::Clock {
public:
    explicit FixedClock(eo::UnixMicros us) : us_(us) {}
    eo::UnixMicros now_us() const override { return us_; }

private:
    eo::UnixMicros us_;
};

TEST(Clock, MillisecondsAreTheFloorOfMicroseconds) {
    EXPECT_EQ(FixedClock(1'700'000'000'123'999).now_ms(), 1'700'000'000'123);
    EXPECT_EQ(FixedClock(0).now_ms(), 0);
    EXPECT_EQ(FixedClock(999).now_ms(), 0);
    EXPECT_EQ(FixedClock(-1).now_ms(), -1);  // before the epoch: the millisecond before
    EXPECT_EQ(FixedClock(-1000).now_ms(), -1);
    EXPECT_EQ(FixedClock(-1001).now_ms(), -2);
}
