#include "core/version.hpp"

#include <gtest/gtest.h>

namespace eo = exactly_once;

TEST(Version, ThisReleaseIsAReleaseNumber) { EXPECT_EQ(eo::compare_versions(eo::kVersion, eo::kVersion), 0); }

TEST(Version, OrdersByMajorMinorPatchAsNumbers) {
    EXPECT_EQ(eo::compare_versions("0.2.0", "0.3.0"), -1);
    EXPECT_EQ(eo::compare_versions("0.3.0", "0.2.0"), 1);
    EXPECT_EQ(eo::compare_versions("0.10.0", "0.9.0"), 1);  // numbers, not text
    EXPECT_EQ(eo::compare_versions("1.0.0", "0.99.99"), 1);
    EXPECT_EQ(eo::compare_versions("0.3.1", "0.3.0"), 1);
    EXPECT_EQ(eo::compare_versions("99.0.0", "0.3.0"), 1);
}

TEST(Version, AnythingElseIsNotComparable) {
    for (const char* bad : {"", "banana", "1", "1.2", "1.2.3.4", "1..2", ".1.2", "1.2.", "01a.0.0", "1.2.-3",
                            " 1.2.3", "1.2.3 ", "1234567890.0.0"})
        EXPECT_FALSE(eo::compare_versions(bad, "0.3.0").has_value()) << '"' << bad << '"';
    EXPECT_FALSE(eo::compare_versions("0.3.0", "x").has_value());
}
