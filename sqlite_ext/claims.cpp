// Claims: decode, run one statement, encode (docs/DESIGN.md §4 Claims). A call that fails
// writes nothing: each write is one SQL statement, atomic on its own, and all arguments are
// validated before it runs.
#include "sqlite_ext/claims.hpp"

#include <algorithm>
#include <limits>
#include <optional>

#include "core/errors.hpp"
#include "core/expiry.hpp"
#include "sqlite_ext/schema.hpp"
#include "sqlite_ext/statements.hpp"

namespace exactly_once::sqlite::claims {
namespace {

// Clock. The statements read the clock themselves, through exactly_once_now() (config.cpp;
// neither DETERMINISTIC nor constant), never from a bound "now": SQLite evaluates a
// non-constant function in the statement body, after OP_Transaction has taken the lock
// (waiting in the busy handler if need be), so a wait for the lock never shortens a TTL,
// never lets two callers win within one TTL and never judges liveness by a clock read
// before the wait (docs/DESIGN.md §4 Claims). A deterministic function, or a bound
// parameter, would be computed before or outside that wait.

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
        " FROM main.{config} WHERE name = '{default_ttl}'))"
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

void bind_key(Statement& st, const DedupKey& k) { st.bind_blob(1, k.bytes.data(), static_cast<int>(k.bytes.size())); }

}  // namespace

void claim_once(Call& call) {
    Connection& conn = call.conn();
    const CallDepth depth(conn);
    const DedupKey k = dedup_key_of(call.arg(0), call.arg(1));
    std::optional<Duration> ttl;
    if (call.given(2)) ttl = duration_arg(call.arg(2));
    conn.check_attached_schemas();
    const bool claimed = with_schema(conn, [&] {
        // The statement reads the clock itself, after the write lock is held (see Clock).
        Statement st = conn.statement(ttl ? kClaimWithTtl : kClaimDefaultTtl);
        bind_key(st, k);
        st.bind_int64(2, ttl ? ttl->count() : kDefaultTtl.count());
        try {
            st.run();
        } catch (const SqliteError& e) {
            // The statement turns a stored default_ttl that is not a valid TTL into a NULL
            // expiry (kClaimDefaultTtl): say what is wrong rather than "NOT NULL ...".
            if (!ttl && e.code() == SQLITE_CONSTRAINT_NOTNULL) fail(Failure::stored_setting_invalid, kDefaultTtlSetting);
            throw;
        }
        // Our INSERT has just halted, so sqlite3_changes() is its own count, also when it
        // runs nested inside a trigger or another statement: 1 = inserted or an expired
        // claim renewed, 0 = the DO UPDATE's WHERE found a live claim.
        return sqlite3_changes(conn.db()) == 1;
    });
    sqlite3_result_int(call.ctx(), claimed ? 1 : 0);
}

void is_claimed(Call& call) {
    Connection& conn = call.conn();
    const DedupKey k = dedup_key_of(call.arg(0), call.arg(1));
    const bool live = if_schema(
        [&] {
            Statement st = conn.statement(kIsClaimed);  // reads the clock after any wait
            bind_key(st, k);
            return st.step();
        },
        false);
    sqlite3_result_int(call.ctx(), live ? 1 : 0);
}

void release_claim(Call& call) {
    Connection& conn = call.conn();
    const CallDepth depth(conn);
    const DedupKey k = dedup_key_of(call.arg(0), call.arg(1));
    conn.check_attached_schemas();
    const bool released = if_schema(
        [&] {
            Statement st = conn.statement(kReleaseClaim);  // reads the clock after the lock
            bind_key(st, k);
            st.run();
            return sqlite3_changes(conn.db()) == 1;
        },
        false);
    sqlite3_result_int(call.ctx(), released ? 1 : 0);
}

void purge_expired(Call& call) {
    Connection& conn = call.conn();
    const CallDepth depth(conn);
    sqlite3_int64 max_rows = call.given(0) ? purge_batch_arg(call.arg(0)) : kDefaultPurgeBatch;
    // sqlite3_changes() is an int (sqlite3_changes64 would need SQLite 3.37): purge in
    // batches of at most INT_MAX rows, which callers repeat until 0 anyway.
    max_rows = std::min<sqlite3_int64>(max_rows, std::numeric_limits<int>::max());
    const sqlite3_int64 removed = if_schema(
        [&] {
            Statement st = conn.statement(kPurgeExpired);  // reads the clock after the lock
            st.bind_int64(1, max_rows);
            st.run();
            return sqlite3_int64{sqlite3_changes(conn.db())};
        },
        sqlite3_int64{0});
    sqlite3_result_int64(call.ctx(), removed);
}

void dedup_key(Call& call) {
    const DedupKey k = dedup_key_of(call.arg(0), call.arg(1));
    sqlite3_result_blob(call.ctx(), k.bytes.data(), static_cast<int>(k.bytes.size()), SQLITE_TRANSIENT);
}

}  // namespace exactly_once::sqlite::claims
