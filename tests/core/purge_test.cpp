#include "core/purge.hpp"

#include <gtest/gtest.h>

#include "core/errors.hpp"

namespace eo = exactly_once;

TEST(Purge, BatchMustBePositive) {
    EXPECT_EQ(eo::checked_purge_batch(1), 1);
    EXPECT_EQ(eo::checked_purge_batch(eo::kDefaultPurgeBatch), 10000);
    for (long long bad : {0LL, -1LL, -9223372036854775807LL}) {
        try {
            eo::checked_purge_batch(bad);
            ADD_FAILURE() << bad;
        } catch (const eo::Error& e) {
            EXPECT_EQ(e.kind(), eo::ErrorKind::invalid_value);
            EXPECT_EQ(e.argument(), "max_rows");
            EXPECT_STREQ(e.what(), "max_rows must be a positive integer");
        }
    }
}
