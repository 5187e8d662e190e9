#include "core/dedup_key.hpp"

#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace exactly_once {
namespace {

XXH128_hash_t hash_streaming(const std::uint8_t (&prefix)[8], std::string_view scope, std::string_view key) noexcept {
    XXH3_state_t* state = XXH3_createState();
    if (state == nullptr) std::abort();  // cannot allocate ~600 bytes: nothing sane is left to do
    XXH3_128bits_reset(state);
    XXH3_128bits_update(state, prefix, sizeof prefix);
    XXH3_128bits_update(state, scope.data(), scope.size());
    XXH3_128bits_update(state, key.data(), key.size());
    const XXH128_hash_t hash = XXH3_128bits_digest(state);
    XXH3_freeState(state);
    return hash;
}

}  // namespace

DedupKey compute_dedup_key(std::string_view scope, std::string_view key) noexcept {
    // Length prefix as 8 little-endian bytes, whatever the host byte order, so that
    // the key is the same on every machine and in both engines.
    std::uint8_t prefix[8];
    std::uint64_t n = scope.size();
    for (auto& b : prefix) {
        b = static_cast<std::uint8_t>(n & 0xff);
        n >>= 8;
    }

    // One-shot hashing of one contiguous buffer: faster than the streaming API for the
    // short keys that dominate, and the streaming state is not part of xxHash's stable ABI.
    const std::size_t total = sizeof prefix + scope.size() + key.size();
    std::uint8_t small[512];
    std::unique_ptr<std::uint8_t[]> large;
    std::uint8_t* buf = small;
    if (total > sizeof small) {
        large.reset(new (std::nothrow) std::uint8_t[total]);
        buf = large.get();
    }
    XXH128_hash_t hash;
    if (buf != nullptr) {
        std::memcpy(buf, prefix, sizeof prefix);
        std::memcpy(buf + sizeof prefix, scope.data(), scope.size());
        if (!key.empty()) std::memcpy(buf + sizeof prefix + scope.size(), key.data(), key.size());
        hash = XXH3_128bits(buf, total);
    } else {
        hash = hash_streaming(prefix, scope, key);  // out of memory: same bytes, no allocation
    }
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, hash);

    DedupKey out;
    static_assert(sizeof canonical.digest == 16);
    for (std::size_t i = 0; i < 16; ++i) out.bytes[i] = canonical.digest[i];
    return out;
}

std::string to_hex(const std::uint8_t* bytes, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(2 * n, '0');
    for (std::size_t i = 0; i < n; ++i) {
        s[2 * i] = digits[bytes[i] >> 4];
        s[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    return s;
}

std::string to_uuid_text(const std::array<std::uint8_t, 16>& bytes) {
    const std::string h = to_hex(bytes.data(), bytes.size());
    return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-' + h.substr(16, 4) +
           '-' + h.substr(20, 12);
}

std::string DedupKey::hex() const { return to_hex(bytes.data(), bytes.size()); }
std::string DedupKey::uuid_text() const { return to_uuid_text(bytes); }

}  // namespace exactly_once
