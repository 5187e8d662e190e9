#include "core/idempotency.hpp"

#include <limits>

namespace exactly_once {

BeginDecision decide_begin(const std::optional<StoredKey>& stored, const Fingerprint& fingerprint, UnixMillis now) {
    if (!stored) return {BeginOutcome::started, 1, true};
    if (stored->fingerprint != fingerprint) return {BeginOutcome::mismatch, stored->attempt, false};
    if (stored->state == StoredKey::State::completed) return {BeginOutcome::completed, stored->attempt, false};
    if (now < stored->lock_until) return {BeginOutcome::in_progress, stored->attempt, false};
    // Saturates rather than overflows (only a hand-edited row gets near it).
    const std::int64_t next = stored->attempt < std::numeric_limits<std::int64_t>::max() ? stored->attempt + 1 : stored->attempt;
    return {BeginOutcome::resumed, next, true};
}

OwnerCheck check_owner(const std::optional<StoredKey>& stored, std::int64_t token) noexcept {
    if (!stored) return OwnerCheck::not_started;
    if (stored->state == StoredKey::State::completed) return OwnerCheck::already_completed;
    if (token != stored->attempt) return OwnerCheck::fenced;
    return OwnerCheck::owner;
}

}  // namespace exactly_once
