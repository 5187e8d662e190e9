#include "core/expiry.hpp"

#include <chrono>
#include <limits>

namespace exactly_once {

UnixMillis SystemClock::now_ms() const {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

UnixMillis expiry_after(UnixMillis now, Duration ttl) {
    const auto add = ttl.count();
    if (add > 0 && now > std::numeric_limits<UnixMillis>::max() - add) return std::numeric_limits<UnixMillis>::max();
    return now + add;
}

}  // namespace exactly_once
