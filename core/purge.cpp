#include "core/purge.hpp"

#include <string>

#include "core/errors.hpp"

namespace exactly_once {

void throw_purge_batch_not_integer() {
    fail(Failure::purge_batch_not_positive, kPurgeBatchArgument);
}

std::int64_t checked_purge_batch(long long max_rows) {
    if (max_rows <= 0) throw_purge_batch_not_integer();
    return max_rows;
}

}  // namespace exactly_once
