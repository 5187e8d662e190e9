#include "core/uuid7.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

namespace eo = exactly_once;

namespace {
// The 48-bit Unix ms timestamp field of a v7 id (RFC 9562 §5.7), decoded independently.
eo::UnixMillis timestamp_of(const eo::Uuid& id) {
    std::uint64_t ms = 0;
    for (int i = 0; i < 6; ++i) ms = (ms << 8) | id[i];
    return static_cast<eo::UnixMillis>(ms);
}
}  // namespace

TEST(Uuid7, VersionVariantAndTimestamp) {
    eo::Uuid7Generator gen;
    const eo::UnixMillis now = 1'764'000'000'123;
    const auto id = gen.next(now);
    EXPECT_EQ(id[6] >> 4, 7);
    EXPECT_EQ(id[8] >> 6, 2);
    EXPECT_EQ(timestamp_of(id), now);
}

TEST(Uuid7, StrictlyIncreasingWithinOneMillisecond) {
    eo::Uuid7Generator gen;
    auto prev = gen.next(1000);
    std::set<eo::Uuid> seen{prev};
    for (int i = 0; i < 100000; ++i) {  // far more than the 4096 a counter holds: borrows ms
        const auto id = gen.next(1000);
        ASSERT_LT(prev, id) << "at " << i;
        ASSERT_TRUE(seen.insert(id).second);
        prev = id;
    }
}

TEST(Uuid7, ClockSteppingBackStillIncreases) {
    eo::Uuid7Generator gen;
    const auto a = gen.next(5000);
    const auto b = gen.next(4000);
    EXPECT_LT(a, b);
    EXPECT_EQ(timestamp_of(b), 5000);
}

TEST(Uuid7, TwoGeneratorsDoNotCollide) {
    // Separate connections/processes share no state: the random bits keep them apart.
    eo::Uuid7Generator a, b;
    std::set<eo::Uuid> seen;
    for (int i = 0; i < 20000; ++i) {
        ASSERT_TRUE(seen.insert(a.next(42)).second);
        ASSERT_TRUE(seen.insert(b.next(42)).second);
    }
}

TEST(Uuid7, UsesTheInjectedRandomSource) {
    eo::Uuid7Generator gen([](std::uint8_t* out, std::size_t n) { std::memset(out, 0, n); });
    const auto id = gen.next(7);
    EXPECT_EQ(id[7], 0);  // counter seeded from random bytes: zero
    for (int i = 9; i < 16; ++i) EXPECT_EQ(id[i], 0);
}
