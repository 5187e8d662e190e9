#include "core/uuid7.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace exactly_once {
namespace {

void system_random_bytes(std::uint8_t* out, std::size_t n) {
    while (n > 0) {
        const ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        out += got;
        n -= static_cast<std::size_t>(got);
    }
}

}  // namespace

Uuid7Generator::Uuid7Generator() : random_(system_random_bytes) {}
Uuid7Generator::Uuid7Generator(RandomSource random) : random_(std::move(random)) {}

Uuid Uuid7Generator::next(UnixMillis now) {
    std::uint8_t rnd[10];
    random_(rnd, sizeof rnd);

    // Method 1 of RFC 9562 §6.2: a 12-bit counter in rand_a. It restarts from a random
    // value below 2048 each new millisecond (so at least 2048 ids fit in one ms); when it
    // runs out, or the clock steps back, we borrow the next millisecond so ids keep rising.
    if (now > last_ms_) {
        last_ms_ = now;
        counter_ = static_cast<std::uint16_t>(((rnd[0] << 8) | rnd[1]) & 0x07ff);
    } else if (counter_ < 0x0fff) {
        ++counter_;
    } else {
        ++last_ms_;
        counter_ = 0;
    }

    Uuid id{};
    const auto ms = static_cast<std::uint64_t>(last_ms_);
    for (int i = 0; i < 6; ++i) id[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    id[6] = static_cast<std::uint8_t>(0x70 | (counter_ >> 8));  // version 7
    id[7] = static_cast<std::uint8_t>(counter_ & 0xff);
    id[8] = static_cast<std::uint8_t>(0x80 | (rnd[2] & 0x3f));  // variant 10
    for (int i = 9; i < 16; ++i) id[i] = rnd[i - 6];
    return id;
}

}  // namespace exactly_once
