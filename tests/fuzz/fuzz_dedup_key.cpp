// Dedup key against a one-shot XXH3-128 over the documented bytes (docs/DESIGN.md §4):
// u64le(len(scope)) || scope || key, in XXH128's canonical (big-endian) form. The first input
// byte chooses where the rest splits into scope and key, so lengths 0..N on both sides (and the
// one-shot and streaming paths of the core) are all reached.
#include <xxhash.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/dedup_key.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t rest = size - 1;
    // Large splits need long inputs: also scale the byte by the input length.
    const std::size_t split = rest == 0 ? 0 : (static_cast<std::size_t>(data[0]) * rest / 255);
    const std::string_view scope(reinterpret_cast<const char*>(data + 1), split);
    const std::string_view key(reinterpret_cast<const char*>(data + 1 + split), rest - split);

    std::string bytes(8, '\0');
    std::uint64_t n = scope.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    bytes.append(scope).append(key);
    XXH128_canonical_t want;
    XXH128_canonicalFromHash(&want, XXH3_128bits(bytes.data(), bytes.size()));

    const exactly_once::DedupKey got = exactly_once::compute_dedup_key(scope, key);
    if (std::memcmp(got.bytes.data(), want.digest, 16) != 0) std::abort();
    // Empty parts may arrive as null views too (an empty SQL value): same key.
    if (scope.empty() && exactly_once::compute_dedup_key(std::string_view{}, key) != got) std::abort();
    if (key.empty() && exactly_once::compute_dedup_key(scope, std::string_view{}) != got) std::abort();
    return 0;
}
