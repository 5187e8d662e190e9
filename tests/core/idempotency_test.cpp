#include "core/idempotency.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace eo = exactly_once;
using eo::BeginOutcome;
using eo::OwnerCheck;
using State = eo::StoredKey::State;

namespace {
const eo::Fingerprint kRequest{1, 2, 3};
const eo::Fingerprint kOther{9, 9, 9};
constexpr eo::UnixMillis kNow = 1'700'000'000'000;

eo::StoredKey in_progress(std::int64_t attempt, eo::UnixMillis lock_until) {
    return {State::in_progress, kRequest, attempt, lock_until};
}
}  // namespace

TEST(IdempotencyBegin, AbsentKeyIsStartedByAttemptOne) {
    const auto d = eo::decide_begin(std::nullopt, kRequest, kNow);
    EXPECT_EQ(d.outcome, BeginOutcome::started);
    EXPECT_EQ(d.attempt, 1);
    EXPECT_TRUE(d.write);
}

TEST(IdempotencyBegin, LiveLockIsInProgressUntilItsInstant) {
    for (eo::UnixMillis now : {kNow, kNow + 89'999}) {
        const auto d = eo::decide_begin(in_progress(3, kNow + 90'000), kRequest, now);
        EXPECT_EQ(d.outcome, BeginOutcome::in_progress) << now;
        EXPECT_EQ(d.attempt, 3);
        EXPECT_FALSE(d.write);
    }
}

TEST(IdempotencyBegin, ExpiredLockIsResumedByTheNextAttempt) {
    for (eo::UnixMillis now : {kNow + 90'000, kNow + 10'000'000}) {
        const auto d = eo::decide_begin(in_progress(3, kNow + 90'000), kRequest, now);
        EXPECT_EQ(d.outcome, BeginOutcome::resumed) << now;
        EXPECT_EQ(d.attempt, 4) << "the old owner's token 3 is fenced from now on";
        EXPECT_TRUE(d.write);
    }
}

TEST(IdempotencyBegin, CompletedKeyReplaysAndWritesNothing) {
    const eo::StoredKey done{State::completed, kRequest, 2, 0};
    const auto d = eo::decide_begin(done, kRequest, kNow);
    EXPECT_EQ(d.outcome, BeginOutcome::completed);
    EXPECT_FALSE(d.write);
}

TEST(IdempotencyBegin, AnotherFingerprintIsAMismatchInEveryState) {
    const eo::StoredKey states[] = {in_progress(1, kNow + 1), in_progress(1, kNow - 1), {State::completed, kRequest, 1, 0}};
    for (const auto& s : states) {
        const auto d = eo::decide_begin(s, kOther, kNow);
        EXPECT_EQ(d.outcome, BeginOutcome::mismatch);
        EXPECT_FALSE(d.write) << "a different request never takes a key over";
    }
}

TEST(IdempotencyOwner, OnlyTheCurrentAttemptActs) {
    EXPECT_EQ(eo::check_owner(in_progress(4, kNow), 4), OwnerCheck::owner);
    EXPECT_EQ(eo::check_owner(in_progress(4, kNow), 3), OwnerCheck::fenced);
    EXPECT_EQ(eo::check_owner(in_progress(4, kNow), 5), OwnerCheck::fenced);
    EXPECT_EQ(eo::check_owner(std::nullopt, 1), OwnerCheck::not_started);
    EXPECT_EQ(eo::check_owner(eo::StoredKey{State::completed, kRequest, 4, 0}, 4), OwnerCheck::already_completed);
}

TEST(IdempotencyOwner, ExpiredButNotTakenOverIsStillTheOwner) {
    // The lock's end alone fences nobody: only a resumed begin does (it bumps the attempt).
    EXPECT_EQ(eo::check_owner(in_progress(1, kNow - 1), 1), OwnerCheck::owner);
    const auto takeover = eo::decide_begin(in_progress(1, kNow - 1), kRequest, kNow);
    EXPECT_EQ(eo::check_owner(in_progress(takeover.attempt, kNow + 90'000), 1), OwnerCheck::fenced);
}

TEST(IdempotencyBegin, AttemptNumbersSaturate) {
    const auto max = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(eo::decide_begin(in_progress(max, 0), kRequest, kNow).attempt, max);
}
