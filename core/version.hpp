#pragma once

// The one place the version is set is project(VERSION) in the top-level CMakeLists.txt; CMake
// passes it to every target that links the core (core/CMakeLists.txt).
#ifndef EXACTLY_ONCE_VERSION
#error "EXACTLY_ONCE_VERSION is defined by CMake from project(VERSION)"
#endif

namespace exactly_once {
inline constexpr const char* kVersion = EXACTLY_ONCE_VERSION;
}
