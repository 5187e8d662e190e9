// The dedup key: XXH3-128 over (len(scope) as 8-byte little-endian || scope || key).
// The length prefix makes ('a','bc') and ('ab','c') different keys. Both engines store
// exactly these 16 bytes (SQLite BLOB, PostgreSQL uuid); tests/vectors/dedup_key.tsv pins them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace exactly_once {

struct DedupKey {
    std::array<std::uint8_t, 16> bytes{};  // XXH128 canonical (big-endian) form

    std::string hex() const;        // 32 lowercase hex digits
    std::string uuid_text() const;  // 8-4-4-4-12 form, as PostgreSQL prints a uuid
    bool operator==(const DedupKey&) const = default;
};

// Pure function of its inputs. Validate the inputs first (validate.hpp). Throws only
// std::bad_alloc, when a long input's streaming state cannot be allocated.
DedupKey compute_dedup_key(std::string_view scope, std::string_view key);

// Text forms shared by dedup keys and event ids.
std::string to_hex(const std::uint8_t* bytes, std::size_t n);
std::string to_uuid_text(const std::array<std::uint8_t, 16>& bytes);

}  // namespace exactly_once
