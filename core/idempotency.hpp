// Idempotency keys (docs/DESIGN.md §6 capability 4; Stripe's Idempotency-Key, the IETF httpapi
// draft, Brandur's recovery points): the state machine both front ends run, decided here once.
//
//   absent --begin--> in progress (owned by one attempt, its lock until lock_until)
//   in progress --complete(owner)--> completed (the stored response, replayed from then on)
//   in progress --abandon(owner)--> absent
//   in progress, lock expired --begin--> in progress again, owned by the new attempt (resumed)
//
// Every change is decided under the key's row lock (the engines' statements), so one decision
// sees one stored state. An attempt is named by its number (the token): each started or resumed
// attempt gets the next one, so an owner whose lock was taken over holds an old number and is
// fenced from then on, whatever it tries.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "core/expiry.hpp"

namespace exactly_once {

// The caller's request fingerprint, stored as 16 bytes (a hash of what the caller supplied).
using Fingerprint = std::array<std::uint8_t, 16>;

struct StoredKey {
    enum class State { in_progress, completed };
    State state;
    Fingerprint fingerprint;
    std::int64_t attempt;     // the owner's token: 1 for the first attempt, +1 per take-over
    UnixMillis lock_until;    // in progress: the owner's lock lasts while now < lock_until
};

enum class BeginOutcome {
    started,      // absent: the caller owns the key now (attempt 1)
    resumed,      // the previous owner's lock expired: the caller owns it now (next attempt)
    in_progress,  // another attempt holds a live lock (HTTP 409)
    mismatch,     // the same key with another request fingerprint (HTTP 422)
    completed,    // a stored response: replay it, do nothing (the handler must not run)
};

struct BeginDecision {
    BeginOutcome outcome;
    std::int64_t attempt;  // started/resumed: the caller's token; otherwise the stored one (0 if none)
    bool write;            // the engine writes a new owner and lock (started, resumed)
};

// What begin does with the stored state (nullopt: absent) for this fingerprint at now. A
// fingerprint mismatch wins over every other state: a different request never replays and
// never takes over.
BeginDecision decide_begin(const std::optional<StoredKey>& stored, const Fingerprint& fingerprint, UnixMillis now);

enum class OwnerCheck {
    owner,              // the caller's attempt owns the key: checkpoint, complete or abandon it
    not_started,        // no such key (never begun, abandoned, or purged)
    already_completed,  // the key has its response; nothing may change it
    fenced,             // another attempt took the key over: the caller is a zombie
};

// Whether the attempt `token` may still act on the key. An owner whose lock expired but whom
// nobody has taken over yet is still the owner (nobody else can have acted); only a take-over
// fences it.
OwnerCheck check_owner(const std::optional<StoredKey>& stored, std::int64_t token) noexcept;

}  // namespace exactly_once
