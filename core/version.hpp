#pragma once

namespace exactly_once {
inline constexpr const char* kVersion = "0.1.0";
}
