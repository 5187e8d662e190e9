#include "core/producer_seq.hpp"

#include <limits>

namespace exactly_once {

ProducerState next_epoch(const std::optional<ProducerState>& stored) noexcept {
    // Saturates rather than overflows (only a hand-edited row gets near it).
    if (!stored) return {1, 0};
    return {stored->epoch < std::numeric_limits<std::int64_t>::max() ? stored->epoch + 1 : stored->epoch, 0};
}

SeqOutcome decide_seq(const std::optional<ProducerState>& stored, std::int64_t epoch, std::int64_t seq) noexcept {
    if (!stored || epoch > stored->epoch) return SeqOutcome::unknown_epoch;
    if (epoch < stored->epoch) return SeqOutcome::fenced;
    if (seq <= stored->last_seq) return SeqOutcome::duplicate;
    // seq >= 1 here, so seq - 1 cannot overflow where last_seq + 1 could.
    return seq - 1 == stored->last_seq ? SeqOutcome::accepted : SeqOutcome::out_of_order;
}

bool offset_is_new(const std::optional<std::int64_t>& stored, std::int64_t offset) noexcept {
    return !stored || offset > *stored;
}

}  // namespace exactly_once
