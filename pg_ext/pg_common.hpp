// Shared declarations of the PostgreSQL front end.
//
// The C++ boundary (docs/DESIGN.md §5), as in pg_duckdb:
//  * Every call into the core happens inside eo_guard(), which is noexcept and catches every
//    C++ exception, copying kind and message into a plain EoError (fixed-size char buffers).
//  * ereport(ERROR) (a longjmp) is only raised by eo_raise() and by PostgreSQL itself in
//    frames that hold no live C++ object with a destructor: entry points keep only POD
//    locals (pointers, integers, EoError, DedupKey/Uuid which are std::array of bytes).
//  * SPI and other PostgreSQL calls that may longjmp are never made inside eo_guard().
#pragma once

// C++ and core headers first: PostgreSQL's port.h #defines printf/snprintf/... which would
// break the standard library headers if they came later.
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
#include "core/purge.hpp"
#include "core/interval_ttl.hpp"
#include "core/uuid7.hpp"
#include "core/validate.hpp"
#include "core/version.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "executor/spi.h"
#include "utils/timestamp.h"
}

// ---------------------------------------------------------------- errors across the boundary

struct EoError {
    char sqlstate[6];
    char message[1000];
};
static_assert(std::is_trivially_destructible_v<EoError>);
static_assert(std::is_trivially_destructible_v<exactly_once::DedupKey>);
static_assert(std::is_trivially_destructible_v<exactly_once::Uuid>);
// (EoTtl below is plain data too.)

void eo_set_error(EoError* err, const char* sqlstate, const char* message) noexcept;

// Runs f (which may call the core and throw); returns false with *err filled on any exception.
template <class F>
inline bool eo_guard(EoError* err, F&& f) noexcept {
    try {
        f();
        return true;
    } catch (const exactly_once::Error& e) {
        eo_set_error(err, exactly_once::sqlstate_of(e.kind()), e.what());
    } catch (const std::bad_alloc&) {
        eo_set_error(err, "53200", "out of memory");
    } catch (const std::exception& e) {
        eo_set_error(err, "XX000", e.what());
    } catch (...) {
        eo_set_error(err, "XX000", "unexpected C++ exception");
    }
    return false;
}

// ereport(ERROR) with err's SQLSTATE and "fn: message". Call only from frames without live
// C++ objects (see above).
extern "C" pg_attribute_noreturn() void eo_raise(const char* fn, const EoError* err);
// Same for errors detected on the PostgreSQL side (no exception involved).
extern "C" pg_attribute_noreturn() void eo_raise_msg(const char* fn, const char* sqlstate, const char* message);
// The error catalogue's entry (core/errors.hpp), worded and coded by the core, raised as
// "fn: message": what the PostgreSQL side detects reads as SQLite's does.
pg_attribute_noreturn() void eo_fail(const char* fn, exactly_once::Failure failure, const char* argument,
                                     const char* detail1 = nullptr, const char* detail2 = nullptr);

// ---------------------------------------------------------------- GUCs (module.cpp)

extern "C" {
extern int eo_max_key_bytes;          // exactly_once.max_key_bytes
extern bool eo_logical_messages;      // exactly_once.logical_messages
extern int eo_purge_interval_s;       // exactly_once.purge_interval (seconds, 0 = off)
extern char* eo_purge_database;       // exactly_once.purge_database
extern int eo_purge_batch_size;       // exactly_once.purge_batch_size
extern bool eo_notify;                // exactly_once.notify
}
// exactly_once.default_ttl, parsed once by the GUC check hook.
extern std::int64_t eo_default_ttl_ms;

// ---------------------------------------------------------------- helpers

struct EoText {
    const char* data;
    std::size_t len;
};

// Argument n as text: fills *out and returns out, or returns nullptr for SQL NULL (the form
// eo_key_or_raise takes).
const EoText* eo_text_arg(FunctionCallInfo fcinfo, int n, EoText* out);

// The 16 bytes as a palloc'd uuid Datum (in CurrentMemoryContext).
Datum eo_uuid_datum(const std::array<std::uint8_t, 16>& bytes);

// A plan prepared once per backend and kept (SPI_keepplan); call inside SPI. The plan cache
// revalidates it if the extension's tables are dropped and recreated.
SPIPlanPtr eo_saved_plan(SPIPlanPtr* slot, const char* sql, int nargs, Oid* types);

// Validated dedup key of (scope, key); raises a named ERROR on NULL/empty/oversized input.
// scope/key == nullptr means SQL NULL.
// max_bytes: the limit per argument (eo_max_key_bytes, or kDefaultMaxKeyBytes for dedup_key).
exactly_once::DedupKey eo_key_or_raise(const char* fn, const EoText* scope, const char* scope_arg,
                                       const EoText* key, const char* key_arg,
                                       std::size_t max_bytes = static_cast<std::size_t>(eo_max_key_bytes));

// A claim's TTL: an interval (calendar-aware, validated by the caller) or a fixed span.
struct EoTtl {
    const Interval* interval;  // nullptr: use ttl_us
    std::int64_t ttl_us;       // > 0
};
// now + ttl (at least 1 ms later).
TimestampTz eo_expiry_after(TimestampTz now, const EoTtl* ttl);

// Claim internals shared by claim_once and the dedup trigger; reads the clock itself.
bool eo_claim_exec(const exactly_once::DedupKey* k, const EoTtl* ttl);
std::int64_t eo_ttl_from_text_or_raise(const char* fn, const char* text, std::size_t len);

// Outbox internals shared by outbox_emit and the outbox trigger. lock_key comes from
// eo_key_or_raise(topic, key) (which validated both): the khash of the key's row in
// exactly_once.outbox_keys (row lock + key_seq); payload/headers are jsonb datums.
// checked: what the core already validated as the text the caller sent (the text overloads,
// as in SQLite); the limits are not measured again on the jsonb form, which can be larger.
enum class EoJsonChecked { nothing, payload, payload_and_headers };
Datum eo_emit(const char* fn, const exactly_once::DedupKey* lock_key, const EoText* topic, const EoText* key,
              Datum payload, EoJsonChecked checked, bool has_headers, Datum headers);

// jsonb_in(cstr), with its data errors (e.g. "\u0000", 22P05) re-raised with their SQLSTATE as
// "fn: <what> is not valid jsonb: ...". what names the argument ("payload").
Datum eo_jsonb_from_text_or_raise(const char* fn, const char* what, char* cstr);

// The state-writing functions run their SPI statements as the owner of schema exactly_once
// (docs: README "PostgreSQL: privileges"), so callers need EXECUTE on the functions and no
// grant on the state tables. Like fmgr_security_definer: SECURITY_LOCAL_USERID_CHANGE, and an
// ERROR in between is undone by (sub)transaction abort, which restores the saved user. No GUC
// is saved or restored, so the switch costs two assignments and a cached owner lookup.
struct EoSavedUser {
    Oid userid;
    int sec_context;
};
void eo_become_state_owner(EoSavedUser* saved);
void eo_restore_user(const EoSavedUser* saved);

// Purge one batch (used by purge_expired and the background worker). Inside SPI.
std::uint64_t eo_purge_batch(int max_rows);

inline constexpr std::int64_t kUnixEpochToPgEpochMs =
    static_cast<std::int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

inline exactly_once::UnixMillis eo_unix_ms(TimestampTz ts) { return ts / 1000 + kUnixEpochToPgEpochMs; }
