// Claim internals shared by claim_once, the dedup trigger and the purge worker (claims.cpp).
#pragma once

#include "pg_ext/arguments.hpp"

// A claim's TTL: an interval (calendar-aware, validated by the caller) or a fixed span.
struct EoTtl {
    const Interval* interval;  // nullptr: use ttl_us
    std::int64_t ttl_us;       // > 0
};

// now + ttl (at least 1 ms later).
TimestampTz eo_expiry_after(TimestampTz now, const EoTtl* ttl);

// Claims k for ttl; reads the clock itself. True when this call claimed it.
bool eo_claim_exec(const exactly_once::DedupKey* k, const EoTtl* ttl);

// A TTL text ('90s', '1h30m', '3600') in milliseconds, parsed by the core; raises fn's error.
std::int64_t eo_ttl_from_text_or_raise(const char* fn, const char* text, std::size_t len);

// Purges one batch (purge_expired and the background worker); inside SPI.
std::uint64_t eo_purge_batch(int max_rows);
