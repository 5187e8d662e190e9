#include "core/errors.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace eo = exactly_once;

namespace {
std::string message_of(eo::Failure f, std::string_view arg, std::initializer_list<std::string_view> details = {}) {
    try {
        eo::fail(f, arg, details);
    } catch (const eo::Error& e) {
        EXPECT_EQ(e.failure(), f);
        EXPECT_EQ(e.argument(), arg);
        EXPECT_EQ(e.kind(), eo::catalogue_entry(f).kind);
        return e.what();
    }
    ADD_FAILURE() << "fail() returned";
    return {};
}
}  // namespace

TEST(ErrorCatalogue, EveryEntryHasAUniqueNameAndAKnownSqlstate) {
    std::set<std::string> names;
    for (int i = 0; i < static_cast<int>(eo::Failure::count_); ++i) {
        const auto& entry = eo::catalogue_entry(static_cast<eo::Failure>(i));
        EXPECT_EQ(static_cast<int>(entry.failure), i);
        EXPECT_TRUE(names.insert(entry.name).second) << entry.name;
        EXPECT_STRNE(eo::sqlstate_of(entry.kind), "XX000") << entry.name;
        EXPECT_EQ(std::string(eo::sqlstate_of(entry.kind)).size(), 5u);
    }
}

TEST(ErrorCatalogue, FillsArgumentAndDetails) {
    EXPECT_EQ(message_of(eo::Failure::argument_null, "scope"), "scope must not be NULL");
    EXPECT_EQ(message_of(eo::Failure::argument_too_large, "key", {"70000", "65536"}),
              "key is 70000 bytes, over the limit of 65536 bytes");
    EXPECT_EQ(message_of(eo::Failure::ttl_too_long, "ttl"), "ttl is too long (the maximum is 36500 days)");
    EXPECT_EQ(message_of(eo::Failure::ttl_unknown_unit, "ttl", {"w", "2w"}),
              "ttl has an unknown unit \"w\" (use ms, s, m, h or d) (got \"2w\")");
    EXPECT_EQ(message_of(eo::Failure::wrong_argument_count, "", {"2 or 3 arguments", "1"}),
              "expected 2 or 3 arguments, got 1");
}

TEST(ErrorCatalogue, MissingDetailsLeaveNoPlaceholder) {
    const std::string m = eo::failure_message(eo::Failure::header_named_twice, "headers");
    EXPECT_EQ(m, "headers names \"\" more than once");
    EXPECT_EQ(m.find('{'), std::string::npos);
}

TEST(ErrorCatalogue, KindsMapToTheirSqlstates) {
    EXPECT_STREQ(eo::sqlstate_of(eo::ErrorKind::null_argument), "22004");
    EXPECT_STREQ(eo::sqlstate_of(eo::ErrorKind::invalid_value), "22023");
    EXPECT_STREQ(eo::sqlstate_of(eo::ErrorKind::invalid_text), "22P02");
    EXPECT_STREQ(eo::sqlstate_of(eo::ErrorKind::too_large), "54000");
    EXPECT_STREQ(eo::sqlstate_of(eo::ErrorKind::trigger_misuse), "39P01");
    EXPECT_EQ(eo::catalogue_entry(eo::Failure::ttl_not_a_duration).kind, eo::ErrorKind::invalid_text);
    EXPECT_EQ(eo::catalogue_entry(eo::Failure::argument_empty).kind, eo::ErrorKind::invalid_value);
}
