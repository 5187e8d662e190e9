// TTL text parsing against an independent reference: the grammar as regular expressions
// (std::regex, not core's scanner) and the value in exact decimal arithmetic (128-bit integers
// in units of 1e-20 ms, not core's doubles). They must agree on accept/reject and, when
// accepted, on the value to within rounding (core reads each number as a double, so a value
// within 0.01 ms of the 100-year maximum, or a .5 ms tie, may land either way; those are the
// only tolerances). Inputs over 256 bytes are skipped (std::regex recurses per character).
// The number pattern has one parse per string ([0-9]+\.?[0-9]* split a digit run in many
// ways, and std::regex's backtracking then took seconds on a 76-byte non-match);
// long digit strings are covered by tests/core/duration_test.cpp.
#include <cstdint>
#include <cstdlib>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.hpp"
#include "core/errors.hpp"

namespace {

__extension__ typedef __int128 Wide;
constexpr Wide kScale = Wide{100000000000000000LL} * 1000;  // 1e20: reference units per ms
constexpr std::int64_t kMaxMs = 3'153'600'000'000;          // 36500 days, in ms
constexpr std::size_t kFractionDigits = 20;

struct Reference {
    bool accept = false;
    bool unsure = false;  // within the tolerance zone: either answer is right
    Wide value = 0;       // in 1e-20 ms (truncated beyond 20 fraction digits)
};

std::int64_t unit_ms(const std::string& unit) {
    if (unit == "ms") return 1;
    if (unit == "s") return 1000;
    if (unit == "m") return 60'000;
    if (unit == "h") return 3'600'000;
    return 86'400'000;  // "d"
}

// Adds number * unit to *total; false when the number alone is far beyond the maximum.
bool add_term(const std::string& number, std::int64_t unit, Wide* total, bool* positive) {
    const std::size_t dot = number.find('.');
    std::string integer = number.substr(0, dot);
    std::string fraction = dot == std::string::npos ? "" : number.substr(dot + 1);
    if (number.find_first_of("123456789") != std::string::npos) *positive = true;
    integer.erase(0, integer.find_first_not_of('0'));
    if (integer.size() > 15) return false;  // >= 1e15 units >= 1e15 ms: over any maximum
    Wide i = 0;
    for (char c : integer) i = i * 10 + (c - '0');
    if (i * unit > kMaxMs) return false;
    Wide f = 0;
    for (std::size_t k = 0; k < kFractionDigits; ++k) f = f * 10 + (k < fraction.size() ? fraction[k] - '0' : 0);
    *total += i * unit * kScale + f * unit;
    return true;
}

Reference reference(std::string text) {
    static const std::regex kBare("^([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)$");
    static const std::regex kWhole("^(([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(ms|s|m|h|d))+$");
    static const std::regex kPart("([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(ms|s|m|h|d)");
    const auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!text.empty() && blank(text.front())) text.erase(0, 1);
    while (!text.empty() && blank(text.back())) text.pop_back();

    std::vector<std::pair<std::string, std::int64_t>> terms;
    if (std::regex_match(text, kBare)) {
        terms.emplace_back(text, 1000);
    } else if (std::regex_match(text, kWhole)) {
        std::int64_t previous = 0;
        for (auto it = std::sregex_iterator(text.begin(), text.end(), kPart); it != std::sregex_iterator(); ++it) {
            const std::int64_t unit = unit_ms((*it)[2]);
            if (previous != 0 && unit >= previous) return {};  // units largest first, each once
            previous = unit;
            terms.emplace_back((*it)[1], unit);
        }
    } else {
        return {};
    }
    Reference r;
    bool positive = false;
    for (const auto& [number, unit] : terms)
        if (!add_term(number, unit, &r.value, &positive)) return {};
    if (!positive) return {};
    const Wide max = Wide{kMaxMs} * kScale, zone = kScale / 100;
    if (r.value > max + zone) return {};
    r.accept = true;
    r.unsure = r.value >= max - zone;
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 256) return 0;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const Reference want = reference(text);

    bool accepted = false;
    std::int64_t got_ms = 0;
    try {
        got_ms = exactly_once::parse_duration(text).count();
        accepted = true;
    } catch (const exactly_once::Error&) {
    }
    if (want.unsure) return 0;
    if (accepted != want.accept) std::abort();
    if (!accepted) return 0;
    // Core rounds to the nearest ms with a 1 ms minimum; allow a tie to go either way.
    const Wide got = Wide{got_ms} * kScale;
    const Wide diff = got > want.value ? got - want.value : want.value - got;
    if (got_ms < 1) std::abort();
    if (want.value >= kScale && diff > kScale / 100 * 51) std::abort();
    if (want.value < kScale && got_ms != 1) std::abort();  // a positive TTL under 1 ms is 1 ms
    return 0;
}
