// Time as both engines read it. Times are Unix epoch milliseconds (int64); a claim is live
// while now < expires_at and counts as absent at expires_at, before any purge. That rule is one
// predicate in each engine's statements (sqlite_ext/claims.cpp, pg_ext/claims.cpp), evaluated
// under the engine's lock after any wait; the clock they compare against is this one.
#pragma once

#include <cstdint>

#include "core/duration.hpp"

namespace exactly_once {

using UnixMillis = std::int64_t;
using UnixMicros = std::int64_t;

// The clock of both front ends (SQLite's exactly_once_now(), PostgreSQL's eo_now()), behind an
// interface so that a front end can be handed another one.
class Clock {
public:
    virtual ~Clock() = default;
    virtual UnixMicros now_us() const = 0;
    UnixMillis now_ms() const {
        const UnixMicros us = now_us();
        return us / 1000 - (us % 1000 < 0 ? 1 : 0);  // floor: -1 us is the millisecond before 0
    }
};

class SystemClock final : public Clock {
public:
    UnixMicros now_us() const override;
};

}  // namespace exactly_once
