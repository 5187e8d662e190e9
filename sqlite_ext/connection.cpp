#include "sqlite_ext/connection.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "core/errors.hpp"
#include "core/schema_trust.hpp"
#include "sqlite_ext/schema_names.hpp"

namespace exactly_once::sqlite {
namespace {

// ---- eponymous-only virtual table `exactly_once_session` -------------------------------
// One row: how many statements this connection has cached. Its real job is its lifetime:
// connected on first use, disconnected by sqlite3_close() before the busy check.

struct SessionTable {
    sqlite3_vtab base;
    Connection* conn;
};

struct SessionCursor {
    sqlite3_vtab_cursor base;
    sqlite3_int64 row;
};

int session_connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**) {
    const int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(cached_statements INTEGER)");
    if (rc != SQLITE_OK) return rc;
    auto* table = static_cast<SessionTable*>(sqlite3_malloc(sizeof(SessionTable)));
    if (table == nullptr) return SQLITE_NOMEM;
    std::memset(table, 0, sizeof(*table));
    table->conn = static_cast<Connection*>(aux);
    // The table holds its own reference: when the module is replaced (the extension loaded
    // again), SQLite may run this xDisconnect later than the module's destructor.
    table->conn->retain();
    table->conn->session_connected();
    *out = &table->base;
    return SQLITE_OK;
}

int session_disconnect(sqlite3_vtab* vtab) {
    auto* table = reinterpret_cast<SessionTable*>(vtab);
    table->conn->session_disconnected();
    Connection::release(table->conn);
    sqlite3_free(table);
    return SQLITE_OK;
}

int session_best_index(sqlite3_vtab*, sqlite3_index_info* info) {
    info->estimatedCost = 1;
    info->estimatedRows = 1;
    return SQLITE_OK;
}

int session_open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
    auto* cursor = static_cast<SessionCursor*>(sqlite3_malloc(sizeof(SessionCursor)));
    if (cursor == nullptr) return SQLITE_NOMEM;
    std::memset(cursor, 0, sizeof(*cursor));
    *out = &cursor->base;
    return SQLITE_OK;
}

int session_close(sqlite3_vtab_cursor* cursor) {
    sqlite3_free(cursor);
    return SQLITE_OK;
}

int session_filter(sqlite3_vtab_cursor* cursor, int, const char*, int, sqlite3_value**) {
    reinterpret_cast<SessionCursor*>(cursor)->row = 0;
    return SQLITE_OK;
}

int session_next(sqlite3_vtab_cursor* cursor) {
    ++reinterpret_cast<SessionCursor*>(cursor)->row;
    return SQLITE_OK;
}

int session_eof(sqlite3_vtab_cursor* cursor) { return reinterpret_cast<SessionCursor*>(cursor)->row >= 1; }

int session_column(sqlite3_vtab_cursor* cursor, sqlite3_context* ctx, int) {
    auto* table = reinterpret_cast<SessionTable*>(cursor->pVtab);
    sqlite3_result_int(ctx, table->conn->cached_statements());
    return SQLITE_OK;
}

int session_rowid(sqlite3_vtab_cursor* cursor, sqlite_int64* rowid) {
    *rowid = reinterpret_cast<SessionCursor*>(cursor)->row;
    return SQLITE_OK;
}

const sqlite3_module kSessionModule = {
    /* iVersion    */ 0,
    /* xCreate     */ nullptr,  // eponymous-only: no CREATE VIRTUAL TABLE
    /* xConnect    */ session_connect,
    /* xBestIndex  */ session_best_index,
    /* xDisconnect */ session_disconnect,
    /* xDestroy    */ session_disconnect,
    /* xOpen       */ session_open,
    /* xClose      */ session_close,
    /* xFilter     */ session_filter,
    /* xNext       */ session_next,
    /* xEof        */ session_eof,
    /* xColumn     */ session_column,
    /* xRowid      */ session_rowid,
    /* xUpdate     */ nullptr,
    /* xBegin      */ nullptr,
    /* xSync       */ nullptr,
    /* xCommit     */ nullptr,
    /* xRollback   */ nullptr,
    /* xFindMethod */ nullptr,
    /* xRename     */ nullptr,
    /* xSavepoint  */ nullptr,
    /* xRelease    */ nullptr,
    /* xRollbackTo */ nullptr,
    /* xShadowName */ nullptr,
};

}  // namespace

// ---- Statement -------------------------------------------------------------------------

Statement::~Statement() {
    if (owned_) {
        sqlite3_finalize(stmt_);
    } else {
        sqlite3_reset(stmt_);
        // Blobs and text were bound SQLITE_STATIC from the caller's values, which SQLite
        // frees after the call; sqlite3_expanded_sql() on the cached statement would read them.
        sqlite3_clear_bindings(stmt_);
    }
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    conn_->throw_last_error(rc);
}

void Statement::check_bind(int rc) {
    if (rc != SQLITE_OK) conn_->throw_last_error(rc);
}

void Statement::bind_blob(int i, const void* p, int n) { check_bind(sqlite3_bind_blob(stmt_, i, p, n, SQLITE_STATIC)); }
void Statement::bind_text(int i, const char* p, int n) { check_bind(sqlite3_bind_text(stmt_, i, p, n, SQLITE_STATIC)); }
void Statement::bind_int64(int i, sqlite3_int64 v) { check_bind(sqlite3_bind_int64(stmt_, i, v)); }
void Statement::bind_null(int i) { check_bind(sqlite3_bind_null(stmt_, i)); }

// ---- Connection ------------------------------------------------------------------------

Connection::~Connection() { finalize_all(); }

void Connection::release(void* self) noexcept {
    auto* conn = static_cast<Connection*>(self);
    if (--conn->refs_ == 0) delete conn;
}

void Connection::throw_last_error(int rc) {
    // An inner call failed because the nesting bound was hit: report that, once, instead
    // of wrapping "fn: " around it at every level on the way out.
    if (too_deep_) throw_too_deep();
    // The extended code (SQLITE_CONSTRAINT_NOTNULL, ...) when it belongs to this error.
    const int extended = sqlite3_extended_errcode(db_);
    const int code = (extended & 0xff) == (rc & 0xff) ? extended : rc;
    const char* msg = sqlite3_errmsg(db_);
    std::string message = msg != nullptr ? msg : sqlite3_errstr(rc);
    if ((code & 0xff) == SQLITE_ERROR && is_own_missing_table(message)) throw MissingTable(code, message);
    throw SqliteError(code, message);
}

void Connection::check_depth() {
    // SQLite's own bound on trigger recursion for this connection, capped at ours.
    const int limit = std::clamp(sqlite3_limit(db_, SQLITE_LIMIT_TRIGGER_DEPTH, -1), 1, kMaxCallDepth);
    if (depth_ <= limit) return;
    --depth_;  // the caller's CallDepth is not constructed, so its destructor will not run
    depth_limit_ = limit;
    too_deep_ = true;
    throw_too_deep();
}

void Connection::throw_too_deep() const {
    throw NestedTooDeep("nested too deeply (more than " + std::to_string(depth_limit_) +
                        " nested calls: does a trigger on an exactly_once_ table call the extension again?)");
}

void Connection::connect_session() noexcept {
    if (session_connected_ || session_attempted_) return;
    session_attempted_ = true;
    // Preparing a SELECT on the eponymous table connects it (xConnect); finalizing the
    // statement keeps it connected until sqlite3_close() or the module is replaced.
    sqlite3_stmt* probe = nullptr;
    sqlite3_prepare_v2(db_, sql<"SELECT cached_statements FROM {session}">, -1, &probe, nullptr);
    sqlite3_finalize(probe);
}

void Connection::session_disconnected() noexcept {
    session_connected_ = false;
    finalize_all();
}

int Connection::cached_statements() const noexcept { return static_cast<int>(cache_.size()); }

void Connection::finalize_all() noexcept {
    for (CachedStatement& c : cache_) sqlite3_finalize(c.stmt);
    cache_.clear();
    for (AttachedSchema& a : attached_) a.finalize();
    attached_.clear();
}

sqlite3_stmt* Connection::prepare(const char* text, bool persistent) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, text, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        throw_last_error(rc);
    }
    return stmt;
}

Statement Connection::statement(const StatementSpec& spec) {
    connect_session();
    if (session_connected_ && spec.use == StatementSpec::repeated) {
        auto cached = std::find_if(cache_.begin(), cache_.end(), [&](const CachedStatement& c) { return c.spec == &spec; });
        if (cached == cache_.end()) {
            cache_.reserve(cache_.size() + 1);  // cannot throw after the prepare: no leak
            cache_.push_back({&spec, prepare(spec.sql, /*persistent=*/true)});
            cached = cache_.end() - 1;
        }
        if (!sqlite3_stmt_busy(cached->stmt)) return Statement(*this, cached->stmt, /*owned=*/false);
        // The cached copy is running further up the stack (a trigger on our own table
        // calling us again): use a private one.
    }
    return Statement(*this, prepare(spec.sql, /*persistent=*/false), /*owned=*/true);
}

void Connection::exec(const char* sql) {
    // sqlite3_exec leaves its error on the connection, where throw_last_error reads it.
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_last_error(rc);
}

// ---- Savepoint -------------------------------------------------------------------------

struct SavepointStatements {
    StatementSpec open, release, roll_back;
};

namespace {

constexpr SavepointStatements kSavepoint[] = {
    {{"savepoint_open", "SAVEPOINT exactly_once", StatementSpec::repeated},
     {"savepoint_release", "RELEASE exactly_once", StatementSpec::repeated},
     {"savepoint_roll_back", "ROLLBACK TO exactly_once", StatementSpec::repeated}},
    {{"savepoint_open", "SAVEPOINT exactly_once", StatementSpec::rare},
     {"savepoint_release", "RELEASE exactly_once", StatementSpec::rare},
     {"savepoint_roll_back", "ROLLBACK TO exactly_once", StatementSpec::rare}},
};
static_assert(kSavepoint[StatementSpec::repeated].open.use == StatementSpec::repeated);
static_assert(kSavepoint[StatementSpec::rare].open.use == StatementSpec::rare);

}  // namespace

Savepoint::Savepoint(Connection& conn, StatementSpec::Use use) : conn_(conn), statements_(&kSavepoint[use]) {
    Statement open = conn.statement(statements_->open);
    const int rc = open.try_step();
    if (rc == SQLITE_DONE) {
        open_ = true;
    } else if ((rc & 0xff) != SQLITE_BUSY) {  // BUSY: "cannot open savepoint - SQL statements in progress"
        conn.throw_last_error(rc);
    }
}

Savepoint::~Savepoint() {
    if (open_) roll_back();
}

void Savepoint::release() {
    if (!open_) return;
    Statement release = conn_.statement(statements_->release);
    const int rc = release.try_step();
    if (rc == SQLITE_DONE) {
        open_ = false;
        return;
    }
    // Outermost, RELEASE is the COMMIT and may fail (busy, I/O): then nothing is kept.
    try {
        conn_.throw_last_error(rc);
    } catch (...) {
        roll_back();
        throw;
    }
}

void Savepoint::roll_back() noexcept {
    open_ = false;
    try {
        conn_.statement(statements_->roll_back).try_step();
        conn_.statement(statements_->release).try_step();
    } catch (...) {
        // Out of memory preparing them: the caller's transaction ends with the error anyway.
    }
}

// ---- trust in attached schemas (docs/DESIGN.md §4 Security) ----------------------------

namespace {

std::string column_string(sqlite3_stmt* stmt, int i) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
    if (text == nullptr) return {};
    return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))};
}

}  // namespace

std::vector<std::string> Connection::attached_names() {
    std::vector<std::string> names;
    if (has_db_name_api()) {  // read live, no statement
        for (int i = 2; const char* name = db_name(i); ++i) names.emplace_back(name);
        return names;
    }
    // PRAGMA database_list compiles the list into the statement when it is prepared, so
    // a cached copy would miss a database attached later: prepare it fresh every time.
    sqlite3_stmt* stmt = prepare(std::string("PRAGMA database_list"), /*persistent=*/false);
    Statement st(*this, stmt, /*owned=*/true);
    while (st.step())  // seq, name, file: seq 0 main, 1 temp (once opened), 2.. attached
        if (sqlite3_column_int(stmt, 0) >= 2) names.push_back(column_string(stmt, 1));
    return names;
}

bool Connection::is_trusted(const std::string& name) {
    for (auto it = trusted_.begin(); it != trusted_.end(); ++it) {
        if (!equal_ascii_ci(it->first, name)) continue;
        const char* file = sqlite3_db_filename(db_, name.c_str());
        if (it->second == (file != nullptr ? file : "")) return true;
        trusted_.erase(it);  // the name now names another file: that one was never trusted
        return false;
    }
    return false;
}

namespace {

std::string quoted_identifier(const std::string& name) {
    std::string out = "\"";
    for (char c : name) {
        out += c;
        if (c == '"') out += '"';
    }
    return out + '"';
}

// The stored SQL of every object of attached database `name` (sqlite_schema needs 3.33.0).
std::string schema_scan_sql(const std::string& name) {
    return "SELECT type, name, sql FROM " + quoted_identifier(name) + ".sqlite_master WHERE sql IS NOT NULL";
}

}  // namespace

void Connection::AttachedSchema::finalize() noexcept {
    sqlite3_finalize(cookie);
    sqlite3_finalize(scan);
    cookie = scan = nullptr;
}

Connection::AttachedSchema& Connection::attached_schema(const std::string& name) {
    for (AttachedSchema& a : attached_)
        if (a.name == name) return a;
    AttachedSchema a;
    a.name = name;
    // Persistent statements, cached under the same rule as the named ones (finalize_all).
    // SQLite re-prepares one whose schema changed or that a DETACH expired (DETACH
    // expires every statement of the connection), so each always reads what is attached
    // under that name now; the re-prepare is counted, which invalidates the verdict.
    a.cookie = prepare("PRAGMA " + quoted_identifier(name) + ".schema_version", /*persistent=*/true);
    try {
        a.scan = prepare(schema_scan_sql(name), /*persistent=*/true);
        attached_.push_back(a);
    } catch (...) {
        a.finalize();
        throw;
    }
    return attached_.back();
}

void Connection::forget_detached(const std::vector<std::string>& names) noexcept {
    std::erase_if(attached_, [&](AttachedSchema& a) {
        if (std::find(names.begin(), names.end(), a.name) != names.end()) return false;
        a.finalize();
        return true;
    });
}

// Throws the refusal when the scan finds a stored object naming a writer.
void Connection::refuse_if_schema_names_writer(const std::string& name, sqlite3_stmt* scan) {
    Statement st(*this, scan, /*owned=*/false);
    while (st.step()) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(scan, 2));
        if (text == nullptr) continue;
        const std::string_view writer =
            state_writer_named_in({text, static_cast<std::size_t>(sqlite3_column_bytes(scan, 2))});
        if (writer.empty()) continue;
        throw Error(Failure::untrusted_schema, "",
                    untrusted_schema_message(writer, name, column_string(scan, 0), column_string(scan, 1)));
    }
}

void Connection::check_schema_of(const std::string& name) {
    connect_session();
    AttachedSchema* cached = session_connected_ ? &attached_schema(name) : nullptr;
    if (cached != nullptr && (sqlite3_stmt_busy(cached->cookie) || sqlite3_stmt_busy(cached->scan)))
        cached = nullptr;  // running further up the stack: never the case today, but stay correct
    if (cached == nullptr) {  // no cache: scan every time with a private statement
        Statement scan(*this, prepare(schema_scan_sql(name), /*persistent=*/false), /*owned=*/true);
        refuse_if_schema_names_writer(name, scan.get());
        return;
    }
    AttachedSchema& a = *cached;
    // The verdict stands while the schema cannot have changed: same schema cookie (every
    // schema change by any connection bumps it, also inside our own open transaction),
    // no re-prepare of the cookie statement (a DETACH, a schema reset), and the same data
    // version of the file (a commit by another connection, which could also have written
    // the schema without bumping the cookie).
    Statement cookie(*this, a.cookie, /*owned=*/false);
    if (!cookie.step()) throw SqliteError(SQLITE_ERROR, "no schema_version for attached database " + name);
    const int cookie_value = sqlite3_column_int(a.cookie, 0);
    const int reprepares = sqlite3_stmt_status(a.cookie, SQLITE_STMTSTATUS_REPREPARE, 0);
    unsigned data_version = 0;
    const bool have_version =
        sqlite3_file_control(db_, name.c_str(), SQLITE_FCNTL_DATA_VERSION, &data_version) == SQLITE_OK;
    if (a.benign && have_version && a.cookie_value == cookie_value && a.reprepares == reprepares &&
        a.data_version == data_version)
        return;
    a.benign = false;
    refuse_if_schema_names_writer(name, a.scan);
    a.benign = true;
    a.cookie_value = cookie_value;
    a.reprepares = reprepares;
    a.data_version = data_version;
}

void Connection::check_attached_schemas() {
    // The fast path of every writing call: nothing attached, nothing to check.
    // Index 0 is main, 1 temp, 2.. the attached databases without gaps.
    if (has_db_name_api() && db_name(2) == nullptr) return;
    // With trusted_schema OFF SQLite itself refuses our writers in all schema code.
    int trusted_schema = 1;
    sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, -1, &trusted_schema);
    if (trusted_schema == 0) return;
    const std::vector<std::string> attached = attached_names();
    forget_detached(attached);
    for (const std::string& name : attached)
        if (!is_trusted(name)) check_schema_of(name);
}

std::string Connection::trust_schema(std::string_view name) {
    for (const std::string& attached : attached_names()) {
        if (!equal_ascii_ci(attached, name)) continue;
        const char* file = sqlite3_db_filename(db_, attached.c_str());
        std::string file_now = file != nullptr ? file : "";
        for (auto& entry : trusted_)
            if (equal_ascii_ci(entry.first, attached)) {
                entry.second = std::move(file_now);
                return attached;
            }
        trusted_.emplace_back(attached, std::move(file_now));
        return attached;
    }
    fail(Failure::no_such_attached_schema, "schema", {excerpt(name)});
}

int register_session_module(sqlite3* db, Connection* conn) {
    conn->retain();
    // On failure SQLite calls the destructor, which drops the reference again.
    return sqlite3_create_module_v2(db, kSessionTable, &kSessionModule, conn, &Connection::release);
}

}  // namespace exactly_once::sqlite
