// The SQL functions of the exactly_once SQLite extension and its entry point.
//
// Every callback is noexcept: it runs its body under guarded(), which catches everything
// and reports it with sqlite3_result_error* as "<function>: <message>". A call that fails
// writes nothing: each write is one SQL statement, atomic on its own, and all arguments are
// validated before any statement runs.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "core/dedup_key.hpp"
#include "core/duration.hpp"
#include "core/errors.hpp"
#include "core/expiry.hpp"
#include "core/purge.hpp"
#include "core/uuid7.hpp"
#include "core/validate.hpp"
#include "core/version.hpp"
#include "sqlite_ext/connection.hpp"
#include "sqlite_ext/exactly_once_sqlite.h"
#include "sqlite_ext/statements.hpp"

SQLITE_EXTENSION_INIT1

namespace exactly_once::sqlite {
namespace {

// ---- error reporting -------------------------------------------------------------------

void set_error(sqlite3_context* ctx, const char* fn, std::string_view message, int code) noexcept {
    try {
        std::string full;
        full.reserve(std::char_traits<char>::length(fn) + 2 + message.size());
        full.append(fn).append(": ").append(message);
        sqlite3_result_error(ctx, full.data(), static_cast<int>(full.size()));
    } catch (...) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    // After sqlite3_result_error the message stays; only the code changes.
    if (code != SQLITE_ERROR) sqlite3_result_error_code(ctx, code);
}

// Called from inside a catch handler: classifies the exception in flight.
void report_current_exception(sqlite3_context* ctx, const char* fn) noexcept {
    try {
        throw;
    } catch (const Error& e) {
        set_error(ctx, fn, e.what(), e.kind() == ErrorKind::too_large ? SQLITE_TOOBIG : SQLITE_ERROR);
    } catch (const SqliteError& e) {
        const int primary = e.code() & 0xff;
        if (primary == SQLITE_NOMEM) {
            sqlite3_result_error_nomem(ctx);
        } else if (primary == SQLITE_READONLY) {
            try {
                set_error(ctx, fn,
                          std::string("cannot write to a read-only database (state lives in schema main): ") +
                              e.what(),
                          e.code());
            } catch (...) {
                sqlite3_result_error_nomem(ctx);
            }
        } else {
            set_error(ctx, fn, e.what(), e.code());
        }
    } catch (const std::bad_alloc&) {
        sqlite3_result_error_nomem(ctx);
    } catch (const std::exception& e) {
        set_error(ctx, fn, e.what(), SQLITE_ERROR);
    } catch (...) {
        set_error(ctx, fn, "unexpected internal error", SQLITE_ERROR);
    }
}

template <class Body>
void guarded(sqlite3_context* ctx, const char* fn, Body&& body) noexcept {
    try {
        body();
    } catch (...) {
        report_current_exception(ctx, fn);
    }
}

// ---- arguments -------------------------------------------------------------------------

void expect_args(int argc, int min, int max) {
    if (argc >= min && argc <= max) return;
    const auto count = [](int n) { return std::to_string(n) + (n == 1 ? " argument" : " arguments"); };
    std::string expected =
        min == max ? count(min) : std::to_string(min) + " or " + std::to_string(max) + " arguments";
    fail(Failure::wrong_argument_count, "", {expected, std::to_string(argc)});
}

// Scope, topic or key: text (UTF-8 bytes), blob (raw bytes) or an integer (its decimal
// text). Text 'abc' and blob x'616263' are the same bytes, hence the same dedup key. A REAL
// is refused: its text form keeps 15 significant digits, so 0.30000000000000004 and 0.3
// would be one key.
struct Bytes {
    const char* data = nullptr;
    int size = 0;
    bool is_blob = false;
    std::string_view view() const noexcept { return {data, static_cast<std::size_t>(size)}; }
};

Bytes key_arg(sqlite3_value* value, const char* name) {
    Bytes b;
    switch (sqlite3_value_type(value)) {
        case SQLITE_NULL:
            throw_null_argument(name);
        case SQLITE_BLOB:
            b.data = static_cast<const char*>(sqlite3_value_blob(value));
            b.size = sqlite3_value_bytes(value);
            b.is_blob = true;
            if (b.data == nullptr && b.size > 0) throw std::bad_alloc();
            break;
        case SQLITE_FLOAT:
            fail(Failure::argument_wrong_type, name, {"text, blob or integer"});
        default:
            b.data = reinterpret_cast<const char*>(sqlite3_value_text(value));
            b.size = sqlite3_value_bytes(value);
            if (b.data == nullptr) throw std::bad_alloc();
            break;
    }
    validate_key_arg(b.view(), name);
    return b;
}

// A duration: integer or real seconds, or text such as '90s', '48h', '1h30m'.
Duration duration_arg(sqlite3_value* value, const char* name) {
    switch (sqlite3_value_type(value)) {
        case SQLITE_NULL:
            throw_null_argument(name);
        case SQLITE_INTEGER:
            return duration_from_seconds(static_cast<long long>(sqlite3_value_int64(value)), name);
        case SQLITE_FLOAT:
            return duration_from_seconds(sqlite3_value_double(value), name);
        case SQLITE_TEXT: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
            if (text == nullptr) throw std::bad_alloc();
            return parse_duration(std::string_view(text, static_cast<std::size_t>(sqlite3_value_bytes(value))),
                                  name);
        }
        default:
            fail(Failure::argument_wrong_type, name, {"seconds or a duration such as '48h', not a blob"});
    }
}

// JSON text (payload, headers). Integers are accepted as their text form; blobs are not,
// nor REALs (their text form is rounded to 15 digits: the event would not carry the value).
std::string_view json_arg(sqlite3_value* value, const char* name) {
    switch (sqlite3_value_type(value)) {
        case SQLITE_NULL:
            throw_null_argument(name);
        case SQLITE_BLOB:
            fail(Failure::argument_wrong_type, name, {"JSON text, not a blob"});
        case SQLITE_FLOAT:
            fail(Failure::argument_wrong_type, name, {"JSON text, not a REAL"});
        default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
            if (text == nullptr) throw std::bad_alloc();
            return {text, static_cast<std::size_t>(sqlite3_value_bytes(value))};
        }
    }
}

Connection& connection(sqlite3_context* ctx) { return *static_cast<Connection*>(sqlite3_user_data(ctx)); }

// Runs a writing operation; if a state table is missing (first use, rolled back, dropped),
// creates the schema in the caller's transaction and runs it once more.
template <class F>
auto with_schema(Connection& conn, F&& op) -> decltype(op()) {
    try {
        return op();
    } catch (const MissingTable&) {
    }
    conn.create_schema();
    return op();
}

// Runs a reading operation; a missing state table means "nothing stored yet".
template <class F, class T>
auto if_schema(F&& op, T fallback) -> decltype(op()) {
    try {
        return op();
    } catch (const MissingTable&) {
        return fallback;
    }
}

constexpr std::string_view kDefaultTtlName = "default_ttl";

// The claim key of (argv[0] scope, argv[1] key), both validated.
DedupKey dedup_key_of_args(sqlite3_value** argv) {
    const Bytes scope = key_arg(argv[0], "scope");
    const Bytes key = key_arg(argv[1], "key");
    return compute_dedup_key(scope.view(), key.view());
}

// ---- statements, by capability ---------------------------------------------------------
//
// Clock. The statements read the clock themselves, through exactly_once_now() (registered
// below, neither DETERMINISTIC nor constant), never from a bound "now": SQLite evaluates a
// non-constant function in the statement body, after OP_Transaction has taken the lock
// (waiting in the busy handler if need be), so a wait for the lock never shortens a TTL,
// never lets two callers win within one TTL and never judges liveness by a clock read
// before the wait (docs/DESIGN.md §4 Claims). A deterministic function, or a bound
// parameter, would be computed before or outside that wait.

// Claims.
// ?1 key, ?2 ttl ms (at most kMaxTtl, so the sum cannot overflow). One statement;
// sqlite3_changes() is 1 when a row was inserted or an expired one renewed, 0 when a live
// claim exists.
constexpr StatementSpec kClaimWithTtl{
    "claim_with_ttl",
    sql<"INSERT INTO main.{claims}(k, expires_at) VALUES(?1, exactly_once_now() + ?2)"
        " ON CONFLICT(k) DO UPDATE SET expires_at = excluded.expires_at"
        " WHERE {claims}.expires_at <= exactly_once_now()">};
// ?1 key, ?2 built-in default ttl ms. The configured TTL is read inside the same statement,
// so it is always current and transactional. No row: the built-in default. A row whose ms
// is not a valid TTL (the CHECK bypassed) gives NULL, which the NOT NULL on expires_at turns
// into an error (reworded by claim_once).
constexpr StatementSpec kClaimDefaultTtl{
    "claim_default_ttl",
    sql<"INSERT INTO main.{claims}(k, expires_at) VALUES(?1, exactly_once_now() + ("
        "SELECT CASE WHEN count(*) = 0 THEN ?2"
        " WHEN typeof(ms) = 'integer' AND ms BETWEEN 1 AND 3153600000000 THEN ms END"
        " FROM main.{config} WHERE name = 'default_ttl'))"
        " ON CONFLICT(k) DO UPDATE SET expires_at = excluded.expires_at"
        " WHERE {claims}.expires_at <= exactly_once_now()">};
static_assert(kMaxTtl.count() == 3153600000000, "claim_default_ttl spells out kMaxTtl");
// ?1 key
constexpr StatementSpec kIsClaimed{
    "is_claimed", sql<"SELECT 1 FROM main.{claims} WHERE k = ?1 AND expires_at > exactly_once_now()">};
// ?1 key (only a live claim counts as released)
constexpr StatementSpec kReleaseClaim{
    "release_claim", sql<"DELETE FROM main.{claims} WHERE k = ?1 AND expires_at > exactly_once_now()">};
// ?1 max_rows; oldest first through the expiry index
constexpr StatementSpec kPurgeExpired{
    "purge_expired",
    sql<"DELETE FROM main.{claims} WHERE k IN (SELECT k FROM main.{claims}"
        " WHERE expires_at <= exactly_once_now() ORDER BY expires_at LIMIT ?1)">};

// Outbox.
constexpr StatementSpec kInsertEvent{
    "insert_event",
    sql<"INSERT INTO main.{outbox}(id, topic, key, payload, headers, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)">};

// Config.
constexpr StatementSpec kConfigGet{"config_get", sql<"SELECT value FROM main.{config} WHERE name = ?1">};
constexpr StatementSpec kConfigSet{
    "config_set",
    sql<"INSERT INTO main.{config}(name, value, ms) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value, ms = excluded.ms">};

// ---- functions -------------------------------------------------------------------------

// claim_once(scope, key [, ttl]) -> 1 when this call claimed the key, 0 when a live claim exists.
void claim_once(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "claim_once", [&] {
        expect_args(argc, 2, 3);
        Connection& conn = connection(ctx);
        const CallDepth depth(conn);
        const DedupKey k = dedup_key_of_args(argv);
        std::optional<Duration> ttl;
        if (argc == 3) ttl = duration_arg(argv[2], "ttl");
        conn.check_attached_schemas();
        const bool claimed = with_schema(conn, [&] {
            // The statement reads the clock itself, after the write lock is held (see Clock).
            Statement st = conn.statement(ttl ? kClaimWithTtl : kClaimDefaultTtl);
            st.bind_blob(1, k.bytes.data(), static_cast<int>(k.bytes.size()));
            st.bind_int64(2, ttl ? ttl->count() : kDefaultTtl.count());
            try {
                st.run();
            } catch (const SqliteError& e) {
                // The statement turns a stored default_ttl that is not a valid TTL into a
                // NULL expiry (kClaimDefaultTtl): say what is wrong rather than "NOT NULL ...".
                if (!ttl && e.code() == SQLITE_CONSTRAINT_NOTNULL)
                    fail(Failure::stored_setting_invalid, kDefaultTtlName);
                throw;
            }
            // Our INSERT has just halted, so sqlite3_changes() is its own count, also when
            // it runs nested inside a trigger or another statement: 1 = inserted or an
            // expired claim renewed, 0 = the DO UPDATE's WHERE found a live claim.
            return sqlite3_changes(conn.db()) == 1;
        });
        sqlite3_result_int(ctx, claimed ? 1 : 0);
    });
}

// is_claimed(scope, key) -> 1 when a live claim exists.
void is_claimed(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "is_claimed", [&] {
        expect_args(argc, 2, 2);
        Connection& conn = connection(ctx);
        const DedupKey k = dedup_key_of_args(argv);
        const bool live = if_schema(
            [&] {
                Statement st = conn.statement(kIsClaimed);  // reads the clock after any wait
                st.bind_blob(1, k.bytes.data(), static_cast<int>(k.bytes.size()));
                return st.step();
            },
            false);
        sqlite3_result_int(ctx, live ? 1 : 0);
    });
}

// release_claim(scope, key) -> 1 when a live claim was removed, else 0.
void release_claim(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "release_claim", [&] {
        expect_args(argc, 2, 2);
        Connection& conn = connection(ctx);
        const CallDepth depth(conn);
        const DedupKey k = dedup_key_of_args(argv);
        conn.check_attached_schemas();
        const bool released = if_schema(
            [&] {
                Statement st = conn.statement(kReleaseClaim);  // reads the clock after the lock
                st.bind_blob(1, k.bytes.data(), static_cast<int>(k.bytes.size()));
                st.run();
                return sqlite3_changes(conn.db()) == 1;
            },
            false);
        sqlite3_result_int(ctx, released ? 1 : 0);
    });
}

// purge_expired([max_rows]) -> number of expired claims removed, at most max_rows
// (default kDefaultPurgeBatch).
void purge_expired(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "purge_expired", [&] {
        expect_args(argc, 0, 1);
        Connection& conn = connection(ctx);
        const CallDepth depth(conn);
        sqlite3_int64 limit = kDefaultPurgeBatch;
        if (argc == 1) {
            if (sqlite3_value_type(argv[0]) == SQLITE_NULL) throw_null_argument(kPurgeBatchArgument);
            if (sqlite3_value_numeric_type(argv[0]) != SQLITE_INTEGER) throw_purge_batch_not_integer();
            limit = checked_purge_batch(sqlite3_value_int64(argv[0]));
        }
        // sqlite3_changes() is an int (sqlite3_changes64 would need SQLite 3.37): purge in
        // batches of at most INT_MAX rows, which callers repeat until 0 anyway.
        limit = std::min<sqlite3_int64>(limit, std::numeric_limits<int>::max());
        const sqlite3_int64 removed = if_schema(
            [&] {
                Statement st = conn.statement(kPurgeExpired);  // reads the clock after the lock
                st.bind_int64(1, limit);
                st.run();
                return sqlite3_int64{sqlite3_changes(conn.db())};
            },
            sqlite3_int64{0});
        sqlite3_result_int64(ctx, removed);
    });
}

// dedup_key(scope, key) -> the 16-byte claim key (pure).
void dedup_key(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "dedup_key", [&] {
        expect_args(argc, 2, 2);
        const DedupKey k = dedup_key_of_args(argv);
        sqlite3_result_blob(ctx, k.bytes.data(), static_cast<int>(k.bytes.size()), SQLITE_TRANSIENT);
    });
}

// outbox_emit(topic, key, payload_json [, headers_json]) -> event id (UUIDv7 text).
void outbox_emit(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "outbox_emit", [&] {
        expect_args(argc, 3, 4);
        Connection& conn = connection(ctx);
        const CallDepth depth(conn);
        const Bytes topic = key_arg(argv[0], "topic");
        const Bytes key = key_arg(argv[1], "key");
        const std::string_view payload = json_arg(argv[2], "payload");
        validate_json_payload(payload, "payload");
        std::optional<std::string_view> headers;
        if (argc == 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL) {
            headers = json_arg(argv[3], "headers");
            validate_json_headers(*headers, "headers");
        }
        conn.check_attached_schemas();
        // created_at and the id's time are when the call was made; no liveness hangs on them.
        const UnixMillis now = conn.now_ms();
        const std::string id = to_uuid_text(conn.next_event_id(now));

        // Our INSERT would move sqlite3_last_insert_rowid(); the caller's value is theirs.
        sqlite3* db = conn.db();
        struct RowidGuard {
            sqlite3* db;
            sqlite3_int64 saved;
            ~RowidGuard() { sqlite3_set_last_insert_rowid(db, saved); }
        } rowid_guard{db, sqlite3_last_insert_rowid(db)};

        const auto bind_bytes = [](Statement& st, int i, const Bytes& b) {
            if (b.is_blob)
                st.bind_blob(i, b.data, b.size);
            else
                st.bind_text(i, b.data, b.size);
        };
        with_schema(conn, [&] {
            Statement st = conn.statement(kInsertEvent);
            st.bind_text(1, id.data(), static_cast<int>(id.size()));
            bind_bytes(st, 2, topic);
            bind_bytes(st, 3, key);
            st.bind_text(4, payload.data(), static_cast<int>(payload.size()));
            if (headers)
                st.bind_text(5, headers->data(), static_cast<int>(headers->size()));
            else
                st.bind_null(5);
            st.bind_int64(6, now);
            st.run();
        });
        sqlite3_result_text(ctx, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    });
}

// exactly_once_config(name [, value]) -> the setting's current (or new) value as text.
void exactly_once_config(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "exactly_once_config", [&] {
        expect_args(argc, 1, 2);
        Connection& conn = connection(ctx);
        const CallDepth depth(conn);
        if (sqlite3_value_type(argv[0]) == SQLITE_NULL) throw_null_argument("name");
        if (sqlite3_value_type(argv[0]) != SQLITE_TEXT)
            fail(Failure::argument_wrong_type, "name", {"text"});
        const auto* name_text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
        if (name_text == nullptr) throw std::bad_alloc();
        const std::string_view name(name_text, static_cast<std::size_t>(sqlite3_value_bytes(argv[0])));
        if (name != kDefaultTtlName)
            fail(Failure::unknown_setting, "name", {excerpt(name)});

        std::string value;
        if (argc == 1) {
            value = if_schema(
                [&] {
                    Statement st = conn.statement(kConfigGet);
                    st.bind_text(1, kDefaultTtlName.data(), static_cast<int>(kDefaultTtlName.size()));
                    if (!st.step()) return format_duration(kDefaultTtl);
                    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0));
                    if (text == nullptr) throw std::bad_alloc();
                    return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(st.get(), 0)));
                },
                format_duration(kDefaultTtl));
        } else {
            const Duration ttl = duration_arg(argv[1], "default_ttl");
            value = format_duration(ttl);
            with_schema(conn, [&] {
                Statement st = conn.statement(kConfigSet);
                st.bind_text(1, kDefaultTtlName.data(), static_cast<int>(kDefaultTtlName.size()));
                st.bind_text(2, value.data(), static_cast<int>(value.size()));
                st.bind_int64(3, ttl.count());
                st.run();
            });
        }
        sqlite3_result_text(ctx, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    });
}

// exactly_once_version() -> the library version.
void exactly_once_version(sqlite3_context* ctx, int argc, sqlite3_value**) noexcept {
    guarded(ctx, "exactly_once_version", [&] {
        expect_args(argc, 0, 0);
        sqlite3_result_text(ctx, kVersion, -1, SQLITE_STATIC);
    });
}

// exactly_once_now() -> the connection's clock, Unix ms. Our statements call it so that
// they read the clock after taking the lock (see Clock above).
void exactly_once_now(sqlite3_context* ctx, int argc, sqlite3_value**) noexcept {
    guarded(ctx, "exactly_once_now", [&] {
        expect_args(argc, 0, 0);
        sqlite3_result_int64(ctx, connection(ctx).now_ms());
    });
}

// exactly_once_trust_schema(schema) -> the attached database's name: lets code stored in
// that attached file call the writers on this connection, for as long as the name names
// the file it names now (docs/DESIGN.md §4 Security).
void exactly_once_trust_schema(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    guarded(ctx, "exactly_once_trust_schema", [&] {
        expect_args(argc, 1, 1);
        if (sqlite3_value_type(argv[0]) == SQLITE_NULL) throw_null_argument("schema");
        if (sqlite3_value_type(argv[0]) != SQLITE_TEXT)
            fail(Failure::argument_wrong_type, "schema", {"text"});
        const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
        if (text == nullptr) throw std::bad_alloc();
        const std::string name = connection(ctx).trust_schema(
            std::string_view(text, static_cast<std::size_t>(sqlite3_value_bytes(argv[0]))));
        sqlite3_result_text(ctx, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    });
}

// ---- registration ----------------------------------------------------------------------

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

struct FunctionSpec {
    const char* name;
    int flags;
    void (*fn)(sqlite3_context*, int, sqlite3_value**) noexcept;
};

// Registered with nArg = -1: each function checks its own argument count so that a wrong
// count also reports "<function>: expected ...", like every other error.
constexpr FunctionSpec kFunctions[] = {
    {"claim_once", kWrites, claim_once},
    {"is_claimed", kReads, is_claimed},
    {"release_claim", kWrites, release_claim},
    {"purge_expired", kAdmin, purge_expired},
    {"dedup_key", kPure, dedup_key},
    {"outbox_emit", kWrites, outbox_emit},
    {"exactly_once_config", kAdmin, exactly_once_config},
    {"exactly_once_version", kPure, exactly_once_version},
    {"exactly_once_now", kReads, exactly_once_now},
    {"exactly_once_trust_schema", kAdmin, exactly_once_trust_schema},
};

// The newest API used unconditionally: SQLITE_INNOCUOUS and SQLITE_DBCONFIG_TRUSTED_SCHEMA
// (3.31.0); sqlite3_db_name (3.39.0) only behind a runtime version check (connection.hpp).
// tests/sqlite checks every sqlite3_* call in sqlite_ext/ against the version that
// introduced it (from sqlite3ext.h), and that a newer one sits behind such a check.
constexpr int kMinSqliteVersion = 3031000;

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
        conn->retain();  // dropped by SQLite through the destructor, also if this call fails
        rc = sqlite3_create_function_v2(db, spec.name, -1, spec.flags, conn, spec.fn, nullptr, nullptr,
                                        &Connection::release);
        if (rc != SQLITE_OK) break;
        ++registered;
    }
    if (rc != SQLITE_OK) {
        if (pzErrMsg != nullptr)
            *pzErrMsg = sqlite3_mprintf("exactly_once: cannot register %s: %s", kFunctions[registered].name,
                                        sqlite3_errmsg(db));
        for (std::size_t i = 0; i < registered; ++i)
            sqlite3_create_function_v2(db, kFunctions[i].name, -1, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr,
                                       nullptr);
    } else if (register_session_module(db, conn) != SQLITE_OK) {
        // Only the statement cache depends on the module: work without it.
        conn->disable_cache();
    }
    Connection::release(conn);
    return rc;
}
