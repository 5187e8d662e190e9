// Producer sequences and consumer offsets (docs/DESIGN.md §6 capability 4; Kafka's idempotent
// and transactional producer): one stored row per (stream, producer) whatever the number of
// messages, decided here once for both front ends.
//
// producer_epoch(stream, producer) bumps the producer's epoch and restarts its sequence (the
// next accepted seq is 1); every older epoch is fenced from then on (Kafka's InitProducerId
// with a transactional.id). claim_seq accepts exactly last + 1.
#pragma once

#include <cstdint>
#include <optional>

namespace exactly_once {

struct ProducerState {
    std::int64_t epoch;     // 1 for the first producer_epoch, +1 per call
    std::int64_t last_seq;  // 0 right after producer_epoch
};

// The state producer_epoch writes: the next epoch, sequence restarted.
ProducerState next_epoch(const std::optional<ProducerState>& stored) noexcept;

enum class SeqOutcome {
    accepted,      // seq = last + 1: record it (last_seq = seq) in the caller's transaction
    duplicate,     // seq <= last: seen already, change nothing
    out_of_order,  // seq > last + 1: a gap (Kafka's OutOfOrderSequence)
    fenced,        // an older epoch: a newer producer with this name exists (ProducerFenced)
    unknown_epoch, // no producer_epoch yet, or an epoch never handed out
};

// seq must be >= 1 and epoch >= 1 (the front end checks its arguments first).
SeqOutcome decide_seq(const std::optional<ProducerState>& stored, std::int64_t epoch, std::int64_t seq) noexcept;

// Consumer offsets: only forward, gaps allowed. True when offset is beyond the stored one (or
// nothing is stored): record it; false changes nothing. offset must be >= 0.
bool offset_is_new(const std::optional<std::int64_t>& stored, std::int64_t offset) noexcept;

}  // namespace exactly_once
