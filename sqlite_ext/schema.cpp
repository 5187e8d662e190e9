#include "sqlite_ext/schema.hpp"

#include <optional>
#include <string>
#include <vector>

#include "core/dedup_key.hpp"
#include "core/errors.hpp"
#include "core/expiry.hpp"
#include "core/version.hpp"
#include "sqlite_ext/statements.hpp"

namespace exactly_once::sqlite {
namespace {

// The outbox as the contract has it (docs/DESIGN.md §4): its columns in the contract's order,
// each stored as the type mapping's SQLite column says (tests/conformance/schema_contract.py
// checks them). `{table}` is its name: the outbox itself, or the copy an upgrade fills.
#define EO_OUTBOX_COLUMNS                                                                                  \
    "  id TEXT NOT NULL UNIQUE,"                /* UUIDv7, lowercase hyphenated text; the sinks' dedup key */ \
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"  /* emit order = commit order; never reused after deletes */   \
    "  topic TEXT NOT NULL,"                                                                               \
    "  key TEXT NOT NULL,"                      /* the bytes as given (a blob's bytes as TEXT) */             \
    "  key_seq INTEGER NOT NULL,"               /* 1, 2, 3, ... per (topic, key): {outbox_keys} */            \
    "  payload TEXT NOT NULL,"                  /* the caller's JSON text */                                  \
    "  headers TEXT,"                           /* a JSON object of strings, or NULL */                       \
    "  created_at INTEGER NOT NULL,"            /* Unix ms */                                                 \
    "  attempts INTEGER NOT NULL DEFAULT 0,"                                                               \
    "  next_attempt_at INTEGER,"                /* NULL: due now */                                           \
    "  lease_owner TEXT,"                                                                                  \
    "  lease_until INTEGER,"                                                                               \
    "  delivered_at INTEGER,"                   /* NULL while pending */                                      \
    "  last_error TEXT"

// The state tables at this release, created on first use in schema main, inside the caller's
// transaction; every statement is IF NOT EXISTS, so it also completes a schema an upgrade left
// without a table it did not need to touch.
constexpr const char* kCreateSchema = sql<
    // Deliberately lean: 16-byte key + expiry, nothing else, no rowid.
    "CREATE TABLE IF NOT EXISTS main.{claims}("
    "  k BLOB PRIMARY KEY,"          // dedup_key(scope, key): 16 bytes
    "  expires_at INTEGER NOT NULL"  // Unix ms; the claim is live while now < expires_at
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS main.{claims}_by_expiry ON {claims}(expires_at);"
    "CREATE TABLE IF NOT EXISTS main.{outbox}(" EO_OUTBOX_COLUMNS ");"
    // The relay's read path: pending events in seq order.
    "CREATE INDEX IF NOT EXISTS main.{outbox}_pending ON {outbox}(seq) WHERE delivered_at IS NULL;"
    // The last key_seq drawn per (topic, key), keyed by dedup_key(topic, key) like a claim;
    // rows are never deleted with their events, so a number never comes back.
    "CREATE TABLE IF NOT EXISTS main.{outbox_keys}("
    "  khash BLOB PRIMARY KEY,"
    "  last_key_seq INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS main.{config}("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"  // canonical text, e.g. '48h'
    "  ms INTEGER,"           // the same duration in ms, read by claim_once's one statement
    // A hand edit must not shorten (or stretch past kMaxTtl) every claim silently.
    "  CONSTRAINT default_ttl_ms_is_a_valid_ttl"
    "    CHECK (name <> '{default_ttl}' OR (typeof(ms) = 'integer' AND ms BETWEEN 1 AND 3153600000000))"
    ") WITHOUT ROWID;"
    // Which release's layout this file has: the version of the last release that created or
    // upgraded it. Our own table: PRAGMA user_version belongs to the application.
    "CREATE TABLE IF NOT EXISTS main.{meta}("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;">;
static_assert(kMaxTtl.count() == 3153600000000, "the CHECK above spells out kMaxTtl");

// {outbox_keys} never behind the events: after an upgrade, and after someone dropped it (it is
// then created empty, and would hand out numbers its key already used). Runs only when a table
// was missing, so its scan of the outbox is rare. The key hash is the core's, computed here, not
// through the dedup_key() SQL function, which a connection could have replaced.
constexpr StatementSpec kLastKeySeqs{
    "last_key_seqs", sql<"SELECT topic, key, max(key_seq) FROM main.{outbox} GROUP BY topic, key">, StatementSpec::rare};
// ?1 dedup_key(topic, key), ?2 the largest key_seq among its events
constexpr StatementSpec kRaiseKeySeq{
    "raise_key_seq",
    sql<"INSERT INTO main.{outbox_keys}(khash, last_key_seq) VALUES(?1, ?2)"
        " ON CONFLICT(khash) DO UPDATE SET last_key_seq = max(last_key_seq, excluded.last_key_seq)">,
    StatementSpec::rare};

constexpr StatementSpec kReadVersion{
    "read_schema_version", sql<"SELECT value FROM main.{meta} WHERE name = 'schema_version'">, StatementSpec::rare};
// ?1 this release
constexpr StatementSpec kWriteVersion{
    "write_schema_version",
    sql<"INSERT INTO main.{meta}(name, value) VALUES('schema_version', ?1)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value">,
    StatementSpec::rare};
constexpr StatementSpec kHasOwnTables{
    "has_own_tables",
    sql<"SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name IN ('{claims}', '{outbox}', '{config}')">,
    StatementSpec::rare};
constexpr StatementSpec kOutboxHasKeySeq{
    "outbox_has_key_seq", sql<"SELECT count(*) FROM pragma_table_info('{outbox}', 'main') WHERE name = 'key_seq'">,
    StatementSpec::rare};
constexpr StatementSpec kOutboxExists{
    "outbox_exists", sql<"SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = '{outbox}'">,
    StatementSpec::rare};
// What users hung on our outbox (their triggers, their indexes): DROP TABLE takes them along,
// so the upgrade reads them first and creates them again on the new table.
constexpr StatementSpec kUserObjectsOnOutbox{
    "user_objects_on_outbox",
    sql<"SELECT sql FROM main.sqlite_master WHERE tbl_name = '{outbox}' AND type IN ('trigger', 'index')"
        " AND sql IS NOT NULL AND name <> '{outbox}_pending' ORDER BY type, name">,
    StatementSpec::rare};

// The 0.2.0 layout's outbox (seq first, no key_seq, next_attempt_at NOT NULL DEFAULT 0, a
// blob key kept as a blob, the pending index on (topic, key, seq)) rebuilt as the contract's:
// SQLite cannot reorder or retype columns in place. The events keep their id and seq; per
// (topic, key), as text, key_seq numbers them in seq order, and {outbox_keys} continues from
// there (seed_key_seqs); AUTOINCREMENT's high-water mark moves with the table, so no seq is used
// twice.
constexpr const char* kUpgradeOutboxFrom_0_2_0 = sql<
    "CREATE TABLE main.{outbox}_upgrade(" EO_OUTBOX_COLUMNS ");"
    "INSERT INTO main.{outbox}_upgrade(id, seq, topic, key, key_seq, payload, headers, created_at, attempts,"
    "    next_attempt_at, lease_owner, lease_until, delivered_at, last_error)"
    "  SELECT id, seq, CAST(topic AS TEXT), CAST(key AS TEXT),"
    "    row_number() OVER (PARTITION BY CAST(topic AS TEXT), CAST(key AS TEXT) ORDER BY seq),"
    "    payload, headers, created_at, attempts, nullif(next_attempt_at, 0), lease_owner, lease_until,"
    "    delivered_at, last_error"
    "  FROM main.{outbox};"
    "DELETE FROM main.sqlite_sequence WHERE name = '{outbox}_upgrade';"
    "UPDATE main.sqlite_sequence SET name = '{outbox}_upgrade' WHERE name = '{outbox}';"
    "DROP TABLE main.{outbox};"
    "ALTER TABLE main.{outbox}_upgrade RENAME TO {outbox};">;

std::optional<std::string> text_result(Connection& conn, const StatementSpec& spec) {
    Statement st = conn.statement(spec);
    if (!st.step()) return std::nullopt;
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0));
    if (text == nullptr) return std::nullopt;
    return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(st.get(), 0)));
}

bool count_result(Connection& conn, const StatementSpec& spec) {
    Statement st = conn.statement(spec);
    return st.step() && sqlite3_column_int64(st.get(), 0) > 0;
}

// The release whose layout the file has: the recorded one; "0.2.0" for our tables without a
// record (0.1.0 and 0.2.0 wrote the same layout and no record); nullopt for a new file.
std::optional<std::string> stored_version(Connection& conn) {
    try {
        if (auto v = text_result(conn, kReadVersion)) return v;
    } catch (const MissingTable&) {
    }
    if (count_result(conn, kHasOwnTables)) return std::string("0.2.0");
    return std::nullopt;
}

void upgrade_outbox_from_0_2_0(Connection& conn) {
    if (!count_result(conn, kOutboxExists) || count_result(conn, kOutboxHasKeySeq)) return;
    std::vector<std::string> user_objects;
    {
        Statement st = conn.statement(kUserObjectsOnOutbox);
        while (st.step())
            user_objects.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
    }
    // The rename must not rewrite (or fail on) the users' views and triggers that name the
    // outbox: the name they use is the one the new table takes.
    const bool legacy_alter = [&] {
        Statement st = conn.statement({"read_legacy_alter_table", "PRAGMA legacy_alter_table", StatementSpec::rare});
        return st.step() && sqlite3_column_int(st.get(), 0) != 0;
    }();
    conn.exec("PRAGMA legacy_alter_table = ON");
    try {
        conn.exec(kUpgradeOutboxFrom_0_2_0);
    } catch (...) {
        if (!legacy_alter) conn.exec("PRAGMA legacy_alter_table = OFF");
        throw;
    }
    if (!legacy_alter) conn.exec("PRAGMA legacy_alter_table = OFF");
    for (const std::string& object : user_objects) conn.exec(object.c_str());
}

void seed_key_seqs(Connection& conn) {
    Statement events = conn.statement(kLastKeySeqs);
    Statement raise = conn.statement(kRaiseKeySeq);
    while (events.step()) {
        const auto column = [&](int i) {
            return std::string_view(reinterpret_cast<const char*>(sqlite3_column_blob(events.get(), i)),
                                    static_cast<std::size_t>(sqlite3_column_bytes(events.get(), i)));
        };
        const DedupKey stream = compute_dedup_key(column(0), column(1));
        raise.bind_blob(1, stream.bytes.data(), static_cast<int>(stream.bytes.size()));
        raise.bind_int64(2, sqlite3_column_int64(events.get(), 2));
        raise.run();
        sqlite3_reset(raise.get());
    }
}

// True while a statement that writes is running on this connection (our caller, when we
// are called from a trigger or an INSERT ... SELECT).
bool writing_statement_running(sqlite3* db) {
    for (sqlite3_stmt* st = sqlite3_next_stmt(db, nullptr); st != nullptr; st = sqlite3_next_stmt(db, st))
        if (sqlite3_stmt_busy(st) && !sqlite3_stmt_readonly(st)) return true;
    return false;
}

// Brings the schema to this release's layout, in the current unit.
void bring_up_to_date(Connection& conn) {
    if (const std::optional<std::string> stored = stored_version(conn)) {
        const std::optional<int> order = compare_versions(*stored, kVersion);
        if (!order) fail(Failure::schema_version_unreadable, "", {*stored});
        if (*order > 0) fail(Failure::schema_newer, "", {*stored, kVersion});
        // One step per release that changed the layout, oldest first.
        try {
            if (*compare_versions(*stored, "0.3.0") < 0) upgrade_outbox_from_0_2_0(conn);
        } catch (const SqliteError& e) {
            // DROP TABLE is refused while a statement reads (SQLITE_LOCKED): say what to do.
            if ((e.code() & 0xff) == SQLITE_LOCKED) fail(Failure::schema_upgrade_blocked, "", {*stored});
            throw;
        }
    }
    conn.exec(kCreateSchema);
    seed_key_seqs(conn);
    Statement st = conn.statement(kWriteVersion);
    st.bind_text(1, kVersion, -1);
    st.run();
}

}  // namespace

void create_schema(Connection& conn) {
    // All or nothing, else a half-created schema (a table without its index, say) would
    // stay: the tables exist, so MissingTable never fires again to complete it.
    sqlite3* db = conn.db();
    if (sqlite3_get_autocommit(db) && !writing_statement_running(db)) {
        // Our own transaction, IMMEDIATE: the write lock before the reads that decide what to
        // create or upgrade, so that connections doing this at once queue on the busy handler
        // instead of one failing with SQLITE_BUSY on a snapshot the other made stale.
        conn.exec("BEGIN IMMEDIATE");
        try {
            bring_up_to_date(conn);
            conn.exec("COMMIT");
        } catch (...) {
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
        return;
    }
    // Inside the caller's transaction: a savepoint. Inside a writing statement (a trigger,
    // INSERT ... SELECT) that statement is the unit: it holds the write lock, our error aborts
    // it, and its statement rollback takes our changes with it.
    Savepoint unit(conn, StatementSpec::rare);
    bring_up_to_date(conn);
    unit.release();
}

}  // namespace exactly_once::sqlite
