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
    return eo::Error(eo::Failure::argument_null, "", "");
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

TEST(Validate, PayloadBytesAParserWouldSkipAreRejected) {
    // A NUL would end the text early for C-string readers (SQLite's json functions among
    // them), so what we validated would not be what they read.
    const std::string with_nul("{}\0garbage", 10);
    auto e = error_of([&] { eo::validate_json_payload(with_nul); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_text);
    EXPECT_NE(std::string(e.what()).find("NUL"), std::string::npos);
    e = error_of([] { eo::validate_json_payload("\xEF\xBB\xBF{}"); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_text);
    EXPECT_NE(std::string(e.what()).find("byte-order mark"), std::string::npos);
    EXPECT_EQ(error_of([&] { eo::validate_json_headers(std::string("{\"a\":\"x\"}\0{\"b\":1}", 17)); }).kind(),
              eo::ErrorKind::invalid_text);
}

TEST(Validate, PayloadDepthLimit) {
    const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    EXPECT_NO_THROW(eo::validate_json_payload(nested(eo::kMaxJsonDepth)));
    const auto e = error_of([&] { eo::validate_json_payload(nested(eo::kMaxJsonDepth + 1)); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_text);
    EXPECT_NE(std::string(e.what()).find("levels deep"), std::string::npos);
    // Deep garbage is a plain syntax error, and no stack overflow however deep.
    EXPECT_EQ(error_of([] { eo::validate_json_payload(std::string(4'000'000, '[')); }).kind(),
              eo::ErrorKind::invalid_text);
}

TEST(Validate, HeadersNamesAppearOnce) {
    const auto e = error_of([] { eo::validate_json_headers(R"({"a":"x","a":"y"})"); });
    EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_text);
    EXPECT_NE(std::string(e.what()).find("\"a\" more than once"), std::string::npos) << e.what();
    // The first duplicate being a non-string must not hide behind the parser keeping the last.
    EXPECT_EQ(error_of([] { eo::validate_json_headers(R"({"a":1,"a":"x"})"); }).kind(), eo::ErrorKind::invalid_text);
}

TEST(Validate, HeadersSizeLimit) {
    std::string big = "{\"h\":\"" + std::string(eo::kMaxHeadersBytes, 'v') + "\"}";
    EXPECT_EQ(error_of([&] { eo::validate_json_headers(big); }).kind(), eo::ErrorKind::too_large);
    std::string fits = "{\"h\":\"" + std::string(eo::kMaxHeadersBytes - 8, 'v') + "\"}";
    EXPECT_NO_THROW(eo::validate_json_headers(fits));
}

TEST(Validate, HeaderErrorsNameTheOffendingHeader) {
    const auto e = error_of([] { eo::validate_json_headers(R"({"ok":"x","retries":3})"); });
    EXPECT_NE(std::string(e.what()).find("\"retries\" is not a string"), std::string::npos) << e.what();
    EXPECT_EQ(error_of([] { eo::validate_json_headers(R"({"nested":{"a":"b"}})"); }).kind(),
              eo::ErrorKind::invalid_text);
    EXPECT_EQ(error_of([] { eo::validate_json_headers(R"({"list":["a"]})"); }).kind(), eo::ErrorKind::invalid_text);
}

TEST(Errors, ExcerptNeverSplitsACharacter) {
    EXPECT_EQ(eo::excerpt("short"), "short");
    const std::string e_acute = "\xC3\xA9";  // é: two bytes
    std::string text;
    for (int i = 0; i < 100; ++i) text += e_acute;
    for (std::size_t max = 1; max < 12; ++max) {
        const auto cut = eo::excerpt(text, max);
        ASSERT_EQ(cut.substr(cut.size() - 3), "...");
        EXPECT_EQ((cut.size() - 3) % 2, 0u) << "split a character at max=" << max;
        EXPECT_LE(cut.size() - 3, max);
    }
    // Header names quoted in errors go through it too.
    std::string name;
    for (int i = 0; i < 40; ++i) name += e_acute;  // 80 bytes
    try {
        eo::validate_json_headers("{\"" + name + "\":1}");
        FAIL();
    } catch (const eo::Error& e) {
        const std::string msg = e.what();
        const auto start = msg.find('"') + 1;
        const auto quoted = msg.substr(start, msg.find('"', start) - start);
        EXPECT_EQ((quoted.size() - 3) % 2, 0u) << msg;
    }
}

// Arbitrary-precision numbers are JSON (audit: {"amount":1e400} was refused because the
// parser turned it into an infinite double). The grammar decides, never the magnitude.
TEST(Validate, NumbersOfAnySizeAreJson) {
    for (const std::string& ok :
         {std::string(R"({"amount":1e400})"), std::string("1e-400"), std::string("-1e99999"), std::string("1E+0999"),
          "1" + std::string(400, '0'), "-" + std::string("9") + std::string(400, '9') + ".5",
          "0." + std::string(500, '0') + "1", "[1e400,-1e400,1" + std::string(40, '0') + "e40000]",
          std::string(R"({"a":[1e400,{"b":123456789012345678901234567890}]})"), std::string("-0"),
          std::string("0.0e0"), std::string(R"("1e400 inside a string is text")")}) {
        EXPECT_NO_THROW(eo::validate_json_payload(ok)) << ok.substr(0, 80);
    }
}

// The number clamp keeps the grammar: what was invalid stays invalid.
TEST(Validate, NumberGrammarStillEnforced) {
    for (const std::string& bad :
         {std::string("01"), std::string("-"), std::string("1."), std::string(".5"), std::string("1e"),
          std::string("1e+"), std::string("1e+-5"), std::string("+1"), std::string("1.2.3"), std::string("-01"),
          "0" + std::string(30, '1'), "1" + std::string(30, '0') + ".", "1" + std::string(30, '0') + "e",
          std::string("1e5.5"), std::string("[1 2]"), std::string("1ee5"), std::string("0x10"), std::string("Infinity"),
          std::string("NaN"), std::string("--1"), std::string("1e400e5")}) {
        EXPECT_THROW(eo::validate_json_payload(bad), eo::Error) << bad.substr(0, 80);
    }
}

TEST(Validate, HeadersWithHugeNumbersAreStillNotStrings) {
    try {
        eo::validate_json_headers(R"({"a":1e400})");
        FAIL();
    } catch (const eo::Error& e) {
        EXPECT_NE(std::string(e.what()).find("(\"a\" is not a string)"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(eo::validate_json_headers(R"({"1e400":"x"})"));
}
