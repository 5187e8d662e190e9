// The one place that orders C++ and PostgreSQL headers for the front end: the standard library
// and the core first, then postgres.h and fmgr.h. (PostgreSQL's port.h #defines printf,
// snprintf and friends, which breaks standard headers included after it.) Every pg_ext header
// starts with this one; a .cpp includes its own headers before any other PostgreSQL header.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <string_view>
#include <type_traits>

#include "core/dedup_key.hpp"
#include "core/duration.hpp"
#include "core/errors.hpp"
#include "core/expiry.hpp"
#include "core/interval_ttl.hpp"
#include "core/purge.hpp"
#include "core/uuid7.hpp"
#include "core/validate.hpp"
#include "core/version.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}
