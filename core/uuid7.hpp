// UUIDv7 event ids (RFC 9562): 48-bit Unix ms timestamp, version 7, a 12-bit counter in
// rand_a, variant 10, 62 random bits. Within one generator ids strictly increase, even
// many per millisecond and even if the wall clock steps back; across generators (other
// connections, processes) the 62 random bits keep them unique.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

#include "core/expiry.hpp"

namespace exactly_once {

using Uuid = std::array<std::uint8_t, 16>;

class Uuid7Generator {
public:
    // Fills the buffer with random bytes. Default: getrandom(2), which stays correct
    // across fork() (a seeded PRNG copied into two processes would not).
    using RandomSource = std::function<void(std::uint8_t* out, std::size_t n)>;

    Uuid7Generator();
    explicit Uuid7Generator(RandomSource random);

    Uuid next(UnixMillis now);

private:
    RandomSource random_;
    UnixMillis last_ms_ = -1;
    std::uint16_t counter_ = 0;  // 12 bits used
};

}  // namespace exactly_once
