#include "core/expiry.hpp"

#include <chrono>

namespace exactly_once {

UnixMicros SystemClock::now_us() const {
    using namespace std::chrono;
    return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace exactly_once
