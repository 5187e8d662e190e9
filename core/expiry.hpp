// Expiry decisions. Times are Unix epoch milliseconds (int64). A claim is live while
// now < expires_at; at expires_at it counts as absent at once, before any purge.
#pragma once

#include <cstdint>

#include "core/duration.hpp"

namespace exactly_once {

using UnixMillis = std::int64_t;

// Injectable clock so that tests can move time without sleeping.
class Clock {
public:
    virtual ~Clock() = default;
    virtual UnixMillis now_ms() const = 0;
};

class SystemClock final : public Clock {
public:
    UnixMillis now_ms() const override;
};

class ManualClock final : public Clock {
public:
    explicit ManualClock(UnixMillis start) : now_(start) {}
    UnixMillis now_ms() const override { return now_; }
    void advance(Duration d) { now_ += d.count(); }
    void set(UnixMillis t) { now_ = t; }

private:
    UnixMillis now_;
};

inline bool is_live(UnixMillis expires_at, UnixMillis now) noexcept { return now < expires_at; }

// now + ttl; ttl is already bounded by kMaxTtl, so this cannot overflow for any sane clock.
UnixMillis expiry_after(UnixMillis now, Duration ttl);

}  // namespace exactly_once
