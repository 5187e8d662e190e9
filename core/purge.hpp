// Purge of expired claims: the batch rule both engines apply (purge_expired(max_rows), the
// PostgreSQL worker's exactly_once.purge_batch_size default).
#pragma once

#include <cstdint>
#include <string_view>

namespace exactly_once {

// Rows one purge_expired() call deletes when none is given: small enough that a claim waits
// for a purge at most one short batch.
inline constexpr std::int64_t kDefaultPurgeBatch = 10000;

// The name of purge_expired's argument in both engines.
inline constexpr std::string_view kPurgeBatchArgument = "max_rows";

// max_rows as given: a positive integer, else Error(invalid_value) naming the argument.
std::int64_t checked_purge_batch(long long max_rows);

// Thrown for a max_rows that is not an integer at all (SQLite values are dynamically typed).
[[noreturn]] void throw_purge_batch_not_integer();

}  // namespace exactly_once
