// Argument checks shared by both front ends. Scope, topic and key may hold any bytes;
// they must be present, non-empty and at most max_bytes long (default 64 KiB).
#pragma once

#include <cstddef>
#include <string_view>

namespace exactly_once {

inline constexpr std::size_t kDefaultMaxKeyBytes = 64 * 1024;

// Throws Error(invalid_value) when empty, Error(too_large) when over max_bytes.
// NULL is the front end's business (it has no string_view to pass): it throws
// null_argument via require_not_null.
void validate_key_arg(std::string_view value, std::string_view argument,
                      std::size_t max_bytes = kDefaultMaxKeyBytes);

[[noreturn]] void throw_null_argument(std::string_view argument);

// "<argument> is <bytes> bytes, over the limit of <max_bytes> bytes" (Error(too_large)): for a
// front end that measures a value the engine has already converted (PostgreSQL's jsonb).
[[noreturn]] void throw_too_large(std::string_view argument, std::size_t bytes, std::size_t max_bytes);

// Payload: any JSON value, at most kMaxPayloadBytes and kMaxJsonDepth levels deep.
// Headers: one JSON object of string values, each name once, at most kMaxHeadersBytes.
// Neither may contain a NUL byte or start with a byte-order mark. Both throw
// Error(invalid_text) naming the argument, or Error(too_large) over the size limit.
inline constexpr std::size_t kMaxPayloadBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxHeadersBytes = 64 * 1024;
inline constexpr std::size_t kMaxJsonDepth = 1000;
void validate_json_payload(std::string_view json, std::string_view argument = "payload");
void validate_json_headers(std::string_view json, std::string_view argument = "headers");

// The headers rule's errors, for a front end whose engine has parsed the headers already
// (PostgreSQL's jsonb): the same words as validate_json_headers.
[[noreturn]] void throw_headers_not_object(std::string_view argument = "headers");
[[noreturn]] void throw_header_not_string(std::string_view name, std::string_view argument = "headers");

}  // namespace exactly_once
