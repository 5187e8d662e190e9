// Decoding arguments and reading the clock: what every entry point does first.
#pragma once

#include "pg_ext/boundary.hpp"
#include "pg_ext/settings.hpp"

extern "C" {
#include "utils/timestamp.h"
}

struct EoText {
    const char* data;
    std::size_t len;
};

// Argument n as text: fills *out and returns out, or returns nullptr for SQL NULL (the form
// eo_key_or_raise takes).
const EoText* eo_text_arg(FunctionCallInfo fcinfo, int n, EoText* out);

// Validated dedup key of (scope, key); raises a named ERROR on NULL/empty/oversized input.
// scope/key == nullptr means SQL NULL. max_bytes: the limit per argument (eo_max_key_bytes,
// or kDefaultMaxKeyBytes for dedup_key).
exactly_once::DedupKey eo_key_or_raise(const char* fn, const EoText* scope, const char* scope_arg,
                                       const EoText* key, const char* key_arg,
                                       std::size_t max_bytes = static_cast<std::size_t>(eo_max_key_bytes));

// The 16 bytes as a palloc'd uuid Datum (in CurrentMemoryContext).
Datum eo_uuid_datum(const std::array<std::uint8_t, 16>& bytes);

// The clock both engines read: core's (exactly_once::SystemClock), as a PostgreSQL timestamp.
TimestampTz eo_now();

inline constexpr std::int64_t kUnixEpochToPgEpochMs =
    static_cast<std::int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

inline exactly_once::UnixMillis eo_unix_ms(TimestampTz ts) { return ts / 1000 + kUnixEpochToPgEpochMs; }
