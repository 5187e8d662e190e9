#include "core/validate.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/errors.hpp"

namespace eo = exactly_once;

namespace {
eo::Error error_of(auto&& f) {
    try {
        f();
    } catch (const eo::Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an exactly_once::Error";
    return eo::Error(eo::ErrorKind::null_argument, "", "");
}
}  // namespace

TEST(Validate, KeysMayHoldAnyBytes) {
    EXPECT_NO_THROW(eo::validate_key_arg(std::string("a\0b\xff", 4), "key"));
    EXPECT_NO_THROW(eo::validate_key_arg(std::string(eo::kDefaultMaxKeyBytes, 'k'), "key"));
}

TEST(Validate, EmptyAndOversizedKeys) {
    auto e = error_of([] { eo::validate_key_arg("", "scope"); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_value);
    EXPECT_EQ(e.argument(), "scope");
    EXPECT_STREQ(eo::sqlstate_of(e.kind()), "22023");

    e = error_of([] { eo::validate_key_arg(std::string(eo::kDefaultMaxKeyBytes + 1, 'k'), "key"); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::too_large);
    EXPECT_STREQ(eo::sqlstate_of(e.kind()), "54000");
    EXPECT_NE(std::string(e.what()).find("65536"), std::string::npos);

    e = error_of([] { eo::validate_key_arg("abcd", "topic", 3); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::too_large);
}

TEST(Validate, NullArgument) {
    const auto e = error_of([] { eo::throw_null_argument("key"); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::null_argument);
    EXPECT_STREQ(eo::sqlstate_of(e.kind()), "22004");
    EXPECT_STREQ(e.what(), "key must not be NULL");
}

TEST(Validate, Payload) {
    for (const char* ok : {"{}", "{\"paid\":100}", "[1,2]", "\"s\"", "42", "null", " {\"a\" : [true, false]} "})
        EXPECT_NO_THROW(eo::validate_json_payload(ok)) << ok;
    for (const char* bad : {"", "{", "{paid:100}", "{\"a\":1}}", "'x'", "NaN", "{\"a\":1,}"}) {
        const auto e = error_of([&] { eo::validate_json_payload(bad); });
        EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_text) << bad;
        EXPECT_EQ(e.argument(), "payload");
    }
    EXPECT_EQ(error_of([] { eo::validate_json_payload(std::string(eo::kMaxPayloadBytes + 1, ' ')); }).kind(),
              eo::ErrorKind::too_large);
}

TEST(Validate, Headers) {
    EXPECT_NO_THROW(eo::validate_json_headers("{}"));
    EXPECT_NO_THROW(eo::validate_json_headers("{\"trace-id\":\"abc\",\"x\":\"\"}"));
    for (const char* bad : {"[]", "\"s\"", "{\"n\":1}", "{\"o\":{}}", "{\"a\":null}", "{", "nope"}) {
        const auto e = error_of([&] { eo::validate_json_headers(bad); });
        EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_text) << bad;
        EXPECT_EQ(e.argument(), "headers");
    }
}
