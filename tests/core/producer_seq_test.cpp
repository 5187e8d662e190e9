#include "core/producer_seq.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace eo = exactly_once;
using eo::SeqOutcome;

TEST(ProducerEpoch, FirstIsOneAndEachBumpRestartsTheSequence) {
    const auto first = eo::next_epoch(std::nullopt);
    EXPECT_EQ(first.epoch, 1);
    EXPECT_EQ(first.last_seq, 0);
    const auto second = eo::next_epoch(eo::ProducerState{1, 500});
    EXPECT_EQ(second.epoch, 2);
    EXPECT_EQ(second.last_seq, 0);
    EXPECT_EQ(eo::next_epoch(eo::ProducerState{std::numeric_limits<std::int64_t>::max(), 1}).epoch,
              std::numeric_limits<std::int64_t>::max());
}

TEST(ClaimSeq, AcceptsExactlyTheNext) {
    const eo::ProducerState s{2, 41};
    EXPECT_EQ(eo::decide_seq(s, 2, 42), SeqOutcome::accepted);
    EXPECT_EQ(eo::decide_seq(eo::ProducerState{1, 0}, 1, 1), SeqOutcome::accepted);
}

TEST(ClaimSeq, DuplicatesAndGaps) {
    const eo::ProducerState s{2, 41};
    EXPECT_EQ(eo::decide_seq(s, 2, 41), SeqOutcome::duplicate);
    EXPECT_EQ(eo::decide_seq(s, 2, 1), SeqOutcome::duplicate);
    EXPECT_EQ(eo::decide_seq(s, 2, 43), SeqOutcome::out_of_order);
    EXPECT_EQ(eo::decide_seq(eo::ProducerState{1, 0}, 1, 2), SeqOutcome::out_of_order);
    const auto max = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(eo::decide_seq(eo::ProducerState{1, max}, 1, max), SeqOutcome::duplicate);
    EXPECT_EQ(eo::decide_seq(eo::ProducerState{1, max - 1}, 1, max), SeqOutcome::accepted);
}

TEST(ClaimSeq, OlderEpochsAreFencedUnknownOnesRefused) {
    const eo::ProducerState s{3, 10};
    EXPECT_EQ(eo::decide_seq(s, 2, 11), SeqOutcome::fenced);
    EXPECT_EQ(eo::decide_seq(s, 2, 5), SeqOutcome::fenced) << "fencing comes before the duplicate answer";
    EXPECT_EQ(eo::decide_seq(s, 4, 11), SeqOutcome::unknown_epoch);
    EXPECT_EQ(eo::decide_seq(std::nullopt, 1, 1), SeqOutcome::unknown_epoch) << "producer_epoch first";
}

TEST(ClaimOffset, OnlyForwardGapsAllowed) {
    EXPECT_TRUE(eo::offset_is_new(std::nullopt, 0));
    EXPECT_TRUE(eo::offset_is_new(7, 8));
    EXPECT_TRUE(eo::offset_is_new(7, 1000));
    EXPECT_FALSE(eo::offset_is_new(7, 7));
    EXPECT_FALSE(eo::offset_is_new(7, 3));
}
