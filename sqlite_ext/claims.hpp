// Claims (docs/DESIGN.md §4 Claims): the bodies of claim_once, is_claimed, release_claim,
// purge_expired and dedup_key, registered by sqlite_ext/extension.cpp.
#pragma once

#include "sqlite_ext/arguments.hpp"

namespace exactly_once::sqlite::claims {

void claim_once(Call& call);     // (scope, key [, ttl]) -> 1 claimed now, 0 a live claim exists
void is_claimed(Call& call);     // (scope, key) -> 1 when a live claim exists
void release_claim(Call& call);  // (scope, key) -> 1 when a live claim was removed
void purge_expired(Call& call);  // ([max_rows]) -> expired claims removed, at most max_rows
void dedup_key(Call& call);      // (scope, key) -> the 16-byte claim key (pure)

}  // namespace exactly_once::sqlite::claims
