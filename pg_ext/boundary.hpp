// Where C++ meets PostgreSQL's errors (docs/DESIGN.md §5), as in pg_duckdb:
//  * C++ that may throw (the core) runs inside eo_run(), which catches every exception into a
//    plain EoError and raises it as "fn: message" with its SQLSTATE after the C++ frames are
//    gone. Every entry point uses it; eo_guard() alone only where the error is reported some
//    other way (a GUC check hook's detail, a PostgreSQL error re-worded by the core).
//  * ereport(ERROR) (a longjmp) is raised only by eo_run/eo_fail/eo_raise_msg and by
//    PostgreSQL itself, in frames that hold no live C++ object with a destructor: entry points
//    keep only POD locals (pointers, integers, EoError, DedupKey/Uuid which are byte arrays).
//  * SPI and other PostgreSQL calls that may longjmp are never made inside eo_run().
#pragma once

#include "pg_ext/prelude.hpp"

struct EoError {
    char sqlstate[6];
    char message[1000];
};
static_assert(std::is_trivially_destructible_v<EoError>);
static_assert(std::is_trivially_destructible_v<exactly_once::DedupKey>);
static_assert(std::is_trivially_destructible_v<exactly_once::Uuid>);

void eo_set_error(EoError* err, const char* sqlstate, const char* message) noexcept;

// Runs f (which may call the core and throw); false with *err filled on any exception.
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

// ereport(ERROR) with err's SQLSTATE and "fn: message".
extern "C" pg_attribute_noreturn() void eo_raise(const char* fn, const EoError* err);
// The same for an error PostgreSQL gave us (its SQLSTATE, our prefix).
extern "C" pg_attribute_noreturn() void eo_raise_msg(const char* fn, const char* sqlstate, const char* message);

// The boundary: runs the C++ body f guarded; an exception becomes fn's ERROR once f is gone.
template <class F>
inline void eo_run(const char* fn, F&& f) {
    EoError err;
    if (!eo_guard(&err, std::forward<F>(f))) eo_raise(fn, &err);
}

// Raises the error catalogue's entry (core/errors.hpp), worded and coded by the core, as
// "fn: message": what the PostgreSQL side detects reads as SQLite's does.
pg_attribute_noreturn() void eo_fail(const char* fn, exactly_once::Failure failure, const char* argument,
                                     const char* detail1 = nullptr, const char* detail2 = nullptr);
