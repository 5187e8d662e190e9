#include "core/dedup_key.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace eo = exactly_once;

namespace {

std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

struct Vector {
    std::string scope, key, expected_hex;
};

std::vector<Vector> load_vectors() {
    std::ifstream in(EXACTLY_ONCE_VECTORS);
    std::vector<Vector> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string s, k, h;
        std::getline(fields, s, '\t');
        std::getline(fields, k, '\t');
        std::getline(fields, h, '\t');
        out.push_back({from_hex(s), from_hex(k), h});
    }
    return out;
}

}  // namespace

TEST(DedupKey, MatchesSharedVectors) {
    const auto vectors = load_vectors();
    ASSERT_GE(vectors.size(), 10u) << "vectors file missing or short: " << EXACTLY_ONCE_VECTORS;
    for (const auto& v : vectors) EXPECT_EQ(eo::compute_dedup_key(v.scope, v.key).hex(), v.expected_hex) << v.scope;
}

TEST(DedupKey, LengthPrefixSeparatesScopeFromKey) {
    EXPECT_NE(eo::compute_dedup_key("a", "bc"), eo::compute_dedup_key("ab", "c"));
    EXPECT_NE(eo::compute_dedup_key("", "abc"), eo::compute_dedup_key("abc", ""));
}

TEST(DedupKey, AnyBytesIncludingNul) {
    const std::string with_nul("k\0ey", 4);
    EXPECT_NE(eo::compute_dedup_key("s", with_nul), eo::compute_dedup_key("s", "k"));
    EXPECT_EQ(eo::compute_dedup_key("s", with_nul), eo::compute_dedup_key("s", with_nul));
}

TEST(DedupKey, LongInputsTakeTheStreamingPathAndAgree) {
    const std::string big(100000, 'z');
    EXPECT_EQ(eo::compute_dedup_key("s", big), eo::compute_dedup_key("s", big));
    EXPECT_NE(eo::compute_dedup_key("s", big), eo::compute_dedup_key("s", big.substr(1)));
}

TEST(DedupKey, TextForms) {
    const auto k = eo::compute_dedup_key("payments", "pay_123");
    const auto hex = k.hex();
    ASSERT_EQ(hex.size(), 32u);
    const auto uuid = k.uuid_text();
    EXPECT_EQ(uuid, hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
                        hex.substr(20));
}

// An empty scope or key may come as a string_view with a null data pointer (a default-
// constructed view, an empty SQL value): the key is the same as for "", and nothing is read
// through the null pointer (the UBSan build of this test caught a memcpy from it).
TEST(DedupKey, EmptyViewsWithNullDataAreEmptyStrings) {
    const std::string_view null_view{};
    ASSERT_EQ(null_view.data(), nullptr);
    EXPECT_EQ(eo::compute_dedup_key(null_view, "abc"), eo::compute_dedup_key("", "abc"));
    EXPECT_EQ(eo::compute_dedup_key("abc", null_view), eo::compute_dedup_key("abc", ""));
    EXPECT_EQ(eo::compute_dedup_key(null_view, null_view), eo::compute_dedup_key("", ""));
    // Long enough for the streaming path on the other side.
    const std::string big(1000, 'k');
    EXPECT_EQ(eo::compute_dedup_key(null_view, big), eo::compute_dedup_key("", big));
}
