#include "core/duration.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <string>

#include "core/errors.hpp"
#include "core/interval_ttl.hpp"

namespace exactly_once {
namespace {

[[noreturn]] void fail_too_long(std::string_view argument) { fail(Failure::ttl_too_long, argument); }

// A decimal number (digits with at most one '.') as a double. Any length is fine: the value,
// not the spelling, decides ('0000000000000000001' is 1). Out of double's range, from_chars
// leaves the value unset: a number whose integer part is not all zeros is then too large for
// any TTL, and one whose integer part is all zeros is a positive value too small for a double
// (the caller rounds it up to the 1 ms minimum); zero itself never overflows.
double decimal_value(std::string_view number, std::string_view argument) {
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc::result_out_of_range && end == number.data() + number.size()) {
        const std::string_view integer_part = number.substr(0, number.find('.'));
        if (integer_part.find_first_not_of('0') != std::string_view::npos) fail_too_long(argument);
        return std::numeric_limits<double>::denorm_min();
    }
    // parse_duration scans digits with at most one '.', all of which from_chars reads: a
    // failure here is a bug in that scan, not bad input.
    if (ec != std::errc() || end != number.data() + number.size())
        throw std::logic_error("core/duration.cpp: decimal_value was given a text that is not a decimal number");
    return value;
}

Duration checked(long double ms, std::string_view argument) {
    if (!(ms > 0)) fail(Failure::ttl_not_positive, argument);
    if (ms > static_cast<long double>(kMaxTtl.count())) fail_too_long(argument);
    // Round to the nearest millisecond (0.2 s is 200 ms, not 201 after binary floating
    // point), but a positive TTL never becomes zero.
    const auto rounded = static_cast<Duration::rep>(std::llround(ms));
    return Duration(rounded > 0 ? rounded : 1);
}

// Milliseconds per unit, or 0 when the unit is unknown.
long double unit_ms(std::string_view unit) {
    if (unit == "ms") return 1;
    if (unit == "s") return 1000;
    if (unit == "m") return 60'000;
    if (unit == "h") return 3'600'000;
    if (unit == "d") return 86'400'000;
    return 0;
}

}  // namespace

Duration duration_from_seconds(double seconds, std::string_view argument) {
    if (!std::isfinite(seconds)) fail(Failure::ttl_not_finite, argument);
    return checked(static_cast<long double>(seconds) * 1000, argument);
}

Duration duration_from_seconds(long long seconds, std::string_view argument) {
    return checked(static_cast<long double>(seconds) * 1000, argument);
}

Duration parse_duration(std::string_view text, std::string_view argument) {
    // Trim surrounding blanks, which users paste in; inner blanks are an error.
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.empty()) fail(Failure::argument_empty, argument);
    // Only built when an error is raised: parse_duration is on claim_once's hot path.
    const auto quoted = [&] { return excerpt(text); };
    if (text.front() == '-') fail(Failure::ttl_not_positive, argument, {" (got \"" + quoted() + "\")"});

    long double total_ms = 0;
    std::size_t i = 0;
    long double previous_unit_ms = 0;  // units must go from large to small: "1h30m", not "30m1h"
    while (i < text.size()) {
        // A number: digits with at most one decimal point.
        const std::size_t start = i;
        bool seen_dot = false;
        while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || (text[i] == '.' && !seen_dot))) {
            seen_dot |= text[i] == '.';
            ++i;
        }
        const std::string_view number = text.substr(start, i - start);
        if (number.empty() || number == ".")
            fail(Failure::ttl_not_a_duration, argument, {quoted()});
        // from_chars: locale-independent ("1.5" is 1.5 under de_DE too) and allocation-free.
        const double value = decimal_value(number, argument);

        const std::size_t unit_start = i;
        while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
        const std::string_view unit = text.substr(unit_start, i - unit_start);
        if (unit.empty()) {
            // A bare number means seconds, and only on its own ("90", not "1h30").
            if (start != 0 || i != text.size())
                fail(Failure::ttl_number_without_unit, argument, {quoted()});
            total_ms = static_cast<long double>(value) * 1000;
            break;
        }
        const long double ms = unit_ms(unit);
        if (ms == 0)
            fail(Failure::ttl_unknown_unit, argument, {unit.substr(0, 16), quoted()});
        if (previous_unit_ms != 0 && ms >= previous_unit_ms)
            fail(Failure::ttl_units_out_of_order, argument, {quoted()});
        previous_unit_ms = ms;
        total_ms += static_cast<long double>(value) * ms;
        if (total_ms > static_cast<long double>(kMaxTtl.count())) fail_too_long(argument);
    }
    return checked(total_ms, argument);
}

std::string format_duration(Duration d) {
    long long ms = d.count();
    if (ms <= 0) return "0s";
    std::string out;
    const struct { long long ms; const char* unit; } units[] = {
        {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
    for (const auto& u : units) {
        if (ms >= u.ms) {
            out += std::to_string(ms / u.ms) + u.unit;
            ms %= u.ms;
        }
    }
    return out;
}

}  // namespace exactly_once
