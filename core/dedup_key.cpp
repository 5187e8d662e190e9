#include "core/dedup_key.hpp"

#include <xxhash.h>

#include <cstring>
#include <new>

namespace exactly_once {

DedupKey compute_dedup_key(std::string_view scope, std::string_view key) {
    // Length prefix as 8 little-endian bytes, whatever the host byte order, so that
    // the key is the same on every machine and in both engines.
    std::uint8_t prefix[8];
    std::uint64_t n = scope.size();
    for (auto& b : prefix) {
        b = static_cast<std::uint8_t>(n & 0xff);
        n >>= 8;
    }

    XXH128_hash_t hash;
    const std::size_t total = sizeof prefix + scope.size() + key.size();
    std::uint8_t small[512];
    if (total <= sizeof small) {
        // The keys that dominate: one-shot hashing of a stack copy, faster than streaming.
        // An empty string_view may hold a null pointer, and memcpy from null is undefined even
        // for zero bytes: copy only what is there.
        std::memcpy(small, prefix, sizeof prefix);
        if (!scope.empty()) std::memcpy(small + sizeof prefix, scope.data(), scope.size());
        if (!key.empty()) std::memcpy(small + sizeof prefix + scope.size(), key.data(), key.size());
        hash = XXH3_128bits(small, total);
    } else {
        // Long keys (up to 64 KiB each): stream the three parts instead of copying them.
        XXH3_state_t* state = XXH3_createState();
        if (state == nullptr) throw std::bad_alloc();
        XXH3_128bits_reset(state);
        XXH3_128bits_update(state, prefix, sizeof prefix);
        XXH3_128bits_update(state, scope.data(), scope.size());
        XXH3_128bits_update(state, key.data(), key.size());
        hash = XXH3_128bits_digest(state);
        XXH3_freeState(state);
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
