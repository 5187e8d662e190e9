// The entry point of the exactly_once SQLite extension and THE list of what it exports: every
// SQL function, its arguments' names, its SQLite flags and the capability body that runs it.
// Each body runs under the error boundary of sqlite_ext/arguments.cpp (call_function).
#include <cstddef>
#include <new>

#include "sqlite_ext/arguments.hpp"
#include "sqlite_ext/claims.hpp"
#include "sqlite_ext/config.hpp"
#include "sqlite_ext/connection.hpp"
#include "sqlite_ext/exactly_once_sqlite.h"
#include "sqlite_ext/outbox.hpp"

SQLITE_EXTENSION_INIT1

namespace exactly_once::sqlite {
namespace {

// Trust model (docs/DESIGN.md §4 Security). State lives in main, the database the
// application opened. Writers are neither DETERMINISTIC nor INNOCUOUS, and not DIRECTONLY:
// the application's own triggers and views in main (and TEMP ones) must be able to call
// them (docs/DESIGN.md §1). SQLite cannot tell a function which schema's code called it
// (DIRECTONLY refuses main too; trusted_schema is one switch for the whole connection), so
// code stored in an ATTACHed file, which can carry another author's views, triggers,
// CHECKs, generated columns, defaults and indexes, is kept out another way: while anything
// is attached, every claim_once/release_claim/outbox_emit first reads each attached
// schema's stored SQL and refuses the call if any object there names a writer
// (core/schema_trust), unless exactly_once_trust_schema() trusted that file. A benign
// verdict is remembered while that schema is unchanged (Connection::check_attached_schemas);
// with nothing attached the check is one pointer test. With PRAGMA trusted_schema=OFF
// SQLite refuses the writers in all schema code itself, and the check is skipped.
// The administrative functions are DIRECTONLY: no schema (trigger, view, CHECK, ...) may
// change every claim's TTL, purge, or grant trust behind the application's back. (TEMP
// triggers and views, which only the connection itself can create, count as direct use.)
// exactly_once_now() is INNOCUOUS but not DETERMINISTIC, so SQLite evaluates it where the
// statement runs, after the lock, not once up front.
constexpr int kWrites = SQLITE_UTF8;
constexpr int kAdmin = SQLITE_UTF8 | SQLITE_DIRECTONLY;
constexpr int kReads = SQLITE_UTF8 | SQLITE_INNOCUOUS;  // no side effects; depends on time
constexpr int kPure = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;

namespace arg = argument;

// Everything the extension exports. Arguments are named as in PostgreSQL; the first
// `required` must be given. Registered with nArg = -1: call_function checks the count, so
// that a wrong count also reads "<function>: expected ...".
constexpr FunctionSpec kFunctions[] = {
    {{"claim_once", {arg::scope, arg::key, arg::ttl}, 2}, kWrites, claims::claim_once},
    {{"is_claimed", {arg::scope, arg::key}, 2}, kReads, claims::is_claimed},
    {{"release_claim", {arg::scope, arg::key}, 2}, kWrites, claims::release_claim},
    {{"purge_expired", {arg::max_rows}, 0}, kAdmin, claims::purge_expired},
    {{"dedup_key", {arg::scope, arg::key}, 2}, kPure, claims::dedup_key},
    {{"outbox_emit", {arg::topic, arg::key, arg::payload, arg::headers}, 3}, kWrites, outbox::outbox_emit},
    {{"exactly_once_config", {arg::name, arg::value}, 1}, kAdmin, config::exactly_once_config},
    {{"exactly_once_version", {}, 0}, kPure, config::exactly_once_version},
    {{"exactly_once_upgrade", {}, 0}, kAdmin, config::exactly_once_upgrade},
    {{"exactly_once_now", {}, 0}, kReads, config::exactly_once_now},
    {{"exactly_once_trust_schema", {arg::schema}, 1}, kAdmin, config::exactly_once_trust_schema},
};

// The newest API used unconditionally: SQLITE_INNOCUOUS and SQLITE_DBCONFIG_TRUSTED_SCHEMA
// (3.31.0); sqlite3_db_name (3.39.0) only behind a runtime version check (connection.hpp).
// tests/sqlite checks every sqlite3_* call in sqlite_ext/ against the version that
// introduced it (from sqlite3ext.h), and that a newer one sits behind such a check.
constexpr int kMinSqliteVersion = 3031000;

// Registers one function holding a reference on conn; SQLite drops it through
// release_binding when the function is replaced or the connection closes, and at once when
// this call fails.
int register_function(sqlite3* db, Connection* conn, const FunctionSpec& spec) {
    auto* binding = new (std::nothrow) FunctionBinding{conn, &spec};
    if (binding == nullptr) return SQLITE_NOMEM;
    conn->retain();
    return sqlite3_create_function_v2(db, spec.signature.name, -1, spec.flags, binding, call_function, nullptr,
                                      nullptr, release_binding);
}

}  // namespace
}  // namespace exactly_once::sqlite

extern "C" __attribute__((visibility("default"))) int sqlite3_exactlyonce_init(
    sqlite3* db, char** pzErrMsg, const sqlite3_api_routines* pApi) {
    SQLITE_EXTENSION_INIT2(pApi);
    using namespace exactly_once::sqlite;
    (void)pApi;

    if (sqlite3_libversion_number() < kMinSqliteVersion) {
        if (pzErrMsg != nullptr)
            *pzErrMsg = sqlite3_mprintf("exactly_once: needs SQLite 3.31.0 or later, this is %s", sqlite3_libversion());
        return SQLITE_ERROR;
    }

    auto* conn = new (std::nothrow) Connection(db);
    if (conn == nullptr) return SQLITE_NOMEM;
    conn->retain();  // ours until the end of this function

    // When this returns an error, SQLite unloads the library at once: nothing registered
    // may be left pointing into it. So the functions go first -- replacing ones that exist
    // fails with SQLITE_BUSY while statements run (the extension loaded again by
    // SELECT load_extension(...)), and that fails on the first one, before any change --
    // and on a later failure the ones registered are removed again.
    int rc = SQLITE_OK;
    std::size_t registered = 0;
    for (const FunctionSpec& spec : kFunctions) {
        rc = register_function(db, conn, spec);
        if (rc != SQLITE_OK) break;
        ++registered;
    }
    if (rc != SQLITE_OK) {
        if (pzErrMsg != nullptr)
            *pzErrMsg = sqlite3_mprintf("exactly_once: cannot register %s: %s", kFunctions[registered].signature.name,
                                        sqlite3_errmsg(db));
        for (std::size_t i = 0; i < registered; ++i)
            sqlite3_create_function_v2(db, kFunctions[i].signature.name, -1, SQLITE_UTF8, nullptr, nullptr, nullptr,
                                       nullptr, nullptr);
    } else if (register_session_module(db, conn) != SQLITE_OK) {
        // Only the statement cache depends on the module: work without it.
        conn->disable_cache();
    }
    Connection::release(conn);
    return rc;
}
