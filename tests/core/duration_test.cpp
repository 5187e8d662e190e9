#include "core/duration.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/errors.hpp"

namespace eo = exactly_once;
using namespace std::chrono_literals;

namespace {
eo::ErrorKind kind_of(auto&& f) {
    try {
        f();
    } catch (const eo::Error& e) {
        return e.kind();
    }
    ADD_FAILURE() << "expected an exactly_once::Error";
    return eo::ErrorKind::null_argument;
}
}  // namespace

TEST(Duration, Units) {
    EXPECT_EQ(eo::parse_duration("90s"), 90s);
    EXPECT_EQ(eo::parse_duration("15m"), 15min);
    EXPECT_EQ(eo::parse_duration("48h"), 48h);
    EXPECT_EQ(eo::parse_duration("7d"), 7 * 24h);
    EXPECT_EQ(eo::parse_duration("1h30m"), 90min);
    EXPECT_EQ(eo::parse_duration("250ms"), 250ms);
    EXPECT_EQ(eo::parse_duration("1d2h3m4s5ms"), 24h + 2h + 3min + 4s + 5ms);
    EXPECT_EQ(eo::parse_duration("1.5h"), 90min);
    EXPECT_EQ(eo::parse_duration(" 90 "), 90s);
}

TEST(Duration, BareNumbersAreSeconds) {
    EXPECT_EQ(eo::parse_duration("90"), 90s);
    EXPECT_EQ(eo::parse_duration("0.25"), 250ms);
    EXPECT_EQ(eo::duration_from_seconds(3600LL), 1h);
    EXPECT_EQ(eo::duration_from_seconds(0.2), 200ms);
    EXPECT_EQ(eo::duration_from_seconds(0.0001), 1ms);  // positive never rounds to zero
}

TEST(Duration, RejectsEmptyZeroNegative) {
    EXPECT_EQ(kind_of([] { eo::parse_duration(""); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::parse_duration("   "); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::parse_duration("0"); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::parse_duration("0s"); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::parse_duration("-5s"); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::duration_from_seconds(0LL); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::duration_from_seconds(-1LL); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::duration_from_seconds(-0.5); }), eo::ErrorKind::invalid_value);
}

TEST(Duration, RejectsOverflowAndNonFinite) {
    EXPECT_EQ(kind_of([] { eo::parse_duration("999999999999999999999999d"); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::parse_duration("36501d"); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::duration_from_seconds(std::numeric_limits<long long>::max()); }),
              eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::duration_from_seconds(std::nan("")); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(kind_of([] { eo::duration_from_seconds(HUGE_VAL); }), eo::ErrorKind::invalid_value);
    EXPECT_EQ(eo::parse_duration("36500d"), eo::kMaxTtl);
}

TEST(Duration, RejectsGarbageAndUnknownUnits) {
    for (const char* bad : {"abc", "h", "1x", "1 h", "1h30", "1.2.3s", "1hh", "1h1h", "30m1h", "1h30m1h", ".s", "1H", "48 hours", "1e3",
                            "+5s", "0x10"}) {
        EXPECT_EQ(kind_of([&] { eo::parse_duration(bad); }), eo::ErrorKind::invalid_text) << bad;
    }
}

TEST(Duration, ErrorNamesTheArgument) {
    try {
        eo::parse_duration("soon", "default_ttl");
        FAIL();
    } catch (const eo::Error& e) {
        EXPECT_EQ(e.argument(), "default_ttl");
        EXPECT_NE(std::string(e.what()).find("default_ttl"), std::string::npos);
    }
}

TEST(Duration, FormatRoundTrips) {
    for (auto d : {eo::Duration(1), eo::Duration(1500), eo::Duration(90 * 60 * 1000), eo::kDefaultTtl, eo::kMaxTtl,
                   eo::Duration(86'400'000 + 3'723'004)}) {
        EXPECT_EQ(eo::parse_duration(eo::format_duration(d)), d) << eo::format_duration(d);
    }
    EXPECT_EQ(eo::format_duration(90min), "1h30m");
    EXPECT_EQ(eo::format_duration(eo::kDefaultTtl), "1d");
}

TEST(Duration, DecimalPointIsAlwaysAPoint) {
    // Parsing uses std::from_chars, which ignores the C locale (a de_DE process would
    // otherwise read "1.5h" as 1h). These pin the values; the locale itself is not
    // switched here because CI machines carry no comma-decimal locale.
    EXPECT_EQ(eo::parse_duration("1.5h"), 90min);
    EXPECT_EQ(eo::parse_duration("0.5d"), 12h);
    EXPECT_EQ(eo::parse_duration("5."), 5s);
    EXPECT_EQ(eo::parse_duration(".5s"), 500ms);
    EXPECT_EQ(kind_of([] { eo::parse_duration("1,5h"); }), eo::ErrorKind::invalid_text);
}

// The value decides, never the spelling's length (audit: numbers over 18 characters were
// refused as "too long" although valid and in range).
TEST(Duration, LongNumbersWithinBoundsAreAccepted) {
    EXPECT_EQ(eo::parse_duration("0000000000000000001s"), 1s);
    EXPECT_EQ(eo::parse_duration("1.000000000000000000h"), 1h);
    EXPECT_EQ(eo::parse_duration("11111.1110936051901"), eo::Duration(11'111'111));
    EXPECT_EQ(eo::parse_duration(std::string(70000, '0') + "5m"), 5min);
    EXPECT_EQ(eo::parse_duration("2." + std::string(70000, '0') + "s"), 2s);
    EXPECT_EQ(eo::parse_duration("1h" + std::string(30, '0') + "30m"), 90min);
}

TEST(Duration, NumbersBeyondDoubleRangeAreJudgedByValue) {
    // Too large for a double: too long, whatever the unit.
    for (const std::string& big : {"1" + std::string(400, '0') + "ms", "9" + std::string(309, '9'),
                                   std::string(50, '0') + "1" + std::string(400, '0') + ".5d"}) {
        try {
            eo::parse_duration(big);
            ADD_FAILURE() << big.size() << " digits accepted";
        } catch (const eo::Error& e) {
            EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_value);
            EXPECT_STREQ(e.what(), "ttl is too long (the maximum is 36500 days)");
        }
    }
    // Too small for a double but positive: the 1 ms minimum, as for any positive TTL under 1 ms.
    EXPECT_EQ(eo::parse_duration("0." + std::string(400, '0') + "1s"), 1ms);
    EXPECT_EQ(eo::parse_duration("0." + std::string(400, '0') + "1"), 1ms);
    // Zero in any spelling is still not positive.
    EXPECT_EQ(kind_of([] { eo::parse_duration(std::string(400, '0') + "." + std::string(400, '0') + "h"); }),
              eo::ErrorKind::invalid_value);
}

TEST(Duration, MaximumIsWordedInDays) {
    try {
        eo::parse_duration("36501d");
        FAIL();
    } catch (const eo::Error& e) {
        EXPECT_STREQ(e.what(), "ttl is too long (the maximum is 36500 days)");
    }
}
