#pragma once

// The one place the version is set is project(VERSION) in the top-level CMakeLists.txt; CMake
// passes it to every target that links the core (core/CMakeLists.txt).
#ifndef EXACTLY_ONCE_VERSION
#error "EXACTLY_ONCE_VERSION is defined by CMake from project(VERSION)"
#endif

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace exactly_once {
inline constexpr const char* kVersion = EXACTLY_ONCE_VERSION;

// Orders two releases written "major.minor.patch": negative, zero or positive like strcmp.
// nullopt when either is not such a text (a stored version we cannot read is not comparable,
// and the caller refuses it rather than guess).
constexpr std::optional<int> compare_versions(std::string_view a, std::string_view b) {
    const auto parse = [](std::string_view v) -> std::optional<std::array<long, 3>> {
        std::array<long, 3> parts{};
        std::size_t part = 0, digits = 0;
        for (char c : v) {
            if (c == '.') {
                if (digits == 0 || ++part == parts.size()) return std::nullopt;
                digits = 0;
            } else if (c >= '0' && c <= '9' && digits < 9) {
                parts[part] = parts[part] * 10 + (c - '0');
                ++digits;
            } else {
                return std::nullopt;
            }
        }
        if (digits == 0 || part != parts.size() - 1) return std::nullopt;
        return parts;
    };
    const auto x = parse(a), y = parse(b);
    if (!x || !y) return std::nullopt;
    for (std::size_t i = 0; i < x->size(); ++i)
        if ((*x)[i] != (*y)[i]) return (*x)[i] < (*y)[i] ? -1 : 1;
    return 0;
}
}  // namespace exactly_once
