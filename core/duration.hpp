// TTL parsing. A TTL is a positive number of milliseconds, given either as seconds
// (integer or real) or as text: "90", "90s", "15m", "48h", "7d", "1h30m", "250ms".
#pragma once

#include <chrono>
#include <string_view>

namespace exactly_once {

using Duration = std::chrono::milliseconds;

// Longest TTL accepted: 100 years of 365 days, worded "36500 days" in every message (the
// ttl_too_long entry of core/errors.cpp; not "100 years": a calendar interval of '100 years'
// is 36524+ days, over it). Keeps now + ttl far from int64 overflow and catches unit mistakes
// ("48000h") early.
inline constexpr Duration kMaxTtl = std::chrono::hours(24 * 365 * 100);
inline constexpr Duration kDefaultTtl = std::chrono::hours(24);

// Each throws Error naming `argument` on empty, zero, negative, non-finite,
// over kMaxTtl, garbage or an unknown unit.
Duration duration_from_seconds(double seconds, std::string_view argument = "ttl");
Duration duration_from_seconds(long long seconds, std::string_view argument = "ttl");
Duration parse_duration(std::string_view text, std::string_view argument = "ttl");

// Canonical text for a duration, e.g. 5400000 ms -> "1h30m". Round-trips through parse_duration.
std::string format_duration(Duration d);

}  // namespace exactly_once
