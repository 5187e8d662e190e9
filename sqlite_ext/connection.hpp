// Per-connection state of the extension: the prepared-statement cache, the UUIDv7
// generator and the clock. One instance per sqlite3* that loaded the extension; nothing
// here is global (docs/DESIGN.md §5).
//
// Lifetime. Every registered SQL function and the eponymous virtual table module
// `exactly_once_session` hold a reference; SQLite drops them with their destructors when
// the connection closes (or when the extension is loaded again and replaces them).
//
// Statement cache and sqlite3_close(). sqlite3_close() returns SQLITE_BUSY if any
// statement is still unfinalized, and it checks that BEFORE it runs function destructors,
// so they are too late to finalize a cache. It does, however, first disconnect every
// connected virtual table, eponymous ones included (sqlite3Close -> disconnectAllVtab ->
// xDisconnect). So statements are cached only while our eponymous table
// `exactly_once_session` is connected; its xDisconnect finalizes the cache. If the table
// cannot be connected (an authorizer refuses it, say), statements are prepared per call
// and finalized at once: slower, never a leak and never SQLITE_BUSY at close.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/expiry.hpp"
#include "core/uuid7.hpp"
#include "sqlite_ext/sqlite_api.hpp"
#include "sqlite_ext/statements.hpp"

namespace exactly_once::sqlite {

// Name of the eponymous-only virtual table whose connection scopes the statement cache.
inline constexpr const char* kSessionTable = sql<"{session}">;

// An error reported by SQLite itself while running one of our statements.
class SqliteError : public std::runtime_error {
public:
    SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

// A state table is missing (first use, rolled back, or dropped by the user).
class MissingTable : public SqliteError {
public:
    using SqliteError::SqliteError;
};

// Writing calls nested deeper than the connection allows (see CallDepth).
class NestedTooDeep : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Upper bound on nested writing calls, below the connection's SQLITE_LIMIT_TRIGGER_DEPTH.
// Each level costs a full sqlite3_step() frame on the C stack, so keep it small.
inline constexpr int kMaxCallDepth = 64;

class Connection;

// A statement in use: reset (cached) or finalized (uncached) when it goes out of scope.
class Statement {
public:
    Statement(Connection& conn, sqlite3_stmt* stmt, bool owned) noexcept
        : conn_(&conn), stmt_(stmt), owned_(owned) {}
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    sqlite3_stmt* get() const noexcept { return stmt_; }

    // Steps once. Returns true on SQLITE_ROW, false on SQLITE_DONE, throws otherwise.
    bool step();
    // Steps once and returns SQLite's result code, for a caller that handles failures itself.
    int try_step() noexcept { return sqlite3_step(stmt_); }

    // Steps a write to completion, so that it has halted and sqlite3_changes() is its own
    // count (with the deprecated PRAGMA count_changes=ON an INSERT first returns a row).
    void run() {
        while (step()) {
        }
    }

    // Bind helpers; a failed bind throws (they only fail on misuse or out of memory).
    // Blobs and text are bound SQLITE_STATIC (no copy): p must outlive this Statement, whose
    // destructor clears the bindings of a cached statement so none outlives the call.
    void bind_blob(int i, const void* p, int n);
    void bind_text(int i, const char* p, int n);
    void bind_int64(int i, sqlite3_int64 v);
    void bind_null(int i);

private:
    void check_bind(int rc);
    Connection* conn_;
    sqlite3_stmt* stmt_;
    bool owned_;
};

// sqlite3_db_name() came with SQLite 3.39.0: called only when the host is that new.
inline constexpr int kDbNameApiVersion = 3039000;

class Connection {
public:
    explicit Connection(sqlite3* db) noexcept : db_(db), host_version_(sqlite3_libversion_number()) {}
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    void retain() noexcept { ++refs_; }
    static void release(void* self) noexcept;  // destructor callback for SQLite

    sqlite3* db() const noexcept { return db_; }

    // The statement `spec` ready to bind. Cached (SQLITE_PREPARE_PERSISTENT), one copy per
    // spec, while the session table is connected and the cached copy is not already running
    // (re-entrant call). Throws MissingTable when a state table does not exist.
    Statement statement(const StatementSpec& spec);

    // Runs SQL text (one or more statements, prepared for this run only); throws as
    // throw_last_error does.
    void exec(const char* sql);

    // Throws SqliteError (or MissingTable, or NestedTooDeep) for the connection's current error.
    [[noreturn]] void throw_last_error(int rc);

    // Nesting of writing calls (CallDepth). A trigger on one of our own tables that calls us
    // again re-enters through a new sqlite3_step(), which SQLite's trigger depth limit does
    // not count, so without a bound it recurses until the stack overflows.
    void enter_call() {
        if (++depth_ > 1) check_depth();  // the outermost call pays one increment and compare
    }
    void leave_call() noexcept {
        if (--depth_ == 0) too_deep_ = false;
    }

    UnixMillis now_ms() const { return clock_.now_ms(); }

    // Trust in attached schemas (docs/DESIGN.md §4 Security). Throws SqliteError
    // (SQLITE_AUTH) naming the attached database when code stored in an attached file that
    // is not trusted calls a state-writing function. O(1) while nothing is attached.
    void check_attached_schemas();
    // Trusts attached database `name` for the file it names now; throws Error when no
    // attached database has that name. Returns the name as the connection spells it.
    std::string trust_schema(std::string_view name);
    Uuid next_event_id(UnixMillis now) { return ids_.next(now); }

    // Session virtual table hooks.
    void session_connected() noexcept { session_connected_ = true; }
    void session_disconnected() noexcept;  // finalizes the cache
    int cached_statements() const noexcept;
    // The session module could not be registered: prepare statements per call.
    void disable_cache() noexcept { session_attempted_ = true; }

private:
    void check_depth();
    [[noreturn]] void throw_too_deep() const;
    void connect_session() noexcept;
    sqlite3_stmt* prepare(const char* sql, bool persistent);  // throws on failure
    sqlite3_stmt* prepare(const std::string& sql, bool persistent) { return prepare(sql.c_str(), persistent); }
    void finalize_all() noexcept;
    bool has_db_name_api() const noexcept { return host_version_ >= kDbNameApiVersion; }
    // Database i (0 main, 1 temp, 2.. attached), nullptr past the last or on older hosts.
    const char* db_name(int i) const noexcept {
        return host_version_ >= kDbNameApiVersion ? sqlite3_db_name(db_, i) : nullptr;
    }
    std::vector<std::string> attached_names();
    bool is_trusted(const std::string& name);
    void check_schema_of(const std::string& name);
    void refuse_if_schema_names_writer(const std::string& name, sqlite3_stmt* scan);

    // What the last check of one attached database found, and how to tell it still holds.
    struct AttachedSchema {
        std::string name;
        sqlite3_stmt* cookie = nullptr;  // PRAGMA <name>.schema_version
        sqlite3_stmt* scan = nullptr;    // its stored SQL
        bool benign = false;             // the last scan found no writer named
        int cookie_value = 0;
        int reprepares = 0;
        unsigned data_version = 0;
        void finalize() noexcept;
    };
    AttachedSchema& attached_schema(const std::string& name);
    void forget_detached(const std::vector<std::string>& names) noexcept;

    sqlite3* db_;
    int host_version_;  // sqlite3_libversion_number() of the SQLite running us
    int refs_ = 0;
    bool session_connected_ = false;
    bool session_attempted_ = false;  // connect once; after a disconnect stay uncached
    int depth_ = 0;                   // writing calls in progress on this connection
    int depth_limit_ = 0;             // the bound that was exceeded, for the message
    bool too_deep_ = false;           // the bound was hit; cleared when the outermost call ends
    // Prepared copies of named statements, found by the spec's address (a handful: a scan
    // is as quick as any lookup).
    struct CachedStatement {
        const StatementSpec* spec;
        sqlite3_stmt* stmt;
    };
    std::vector<CachedStatement> cache_;
    // Attached databases trusted by exactly_once_trust_schema: (name, file name then).
    std::vector<std::pair<std::string, std::string>> trusted_;
    // Per attached name, while the statement cache lives (finalized with it).
    std::vector<AttachedSchema> attached_;
    SystemClock clock_;
    Uuid7Generator ids_;
};

// One writing call in progress on a connection (RAII around Connection::enter_call).
class CallDepth {
public:
    explicit CallDepth(Connection& conn) : conn_(conn) { conn.enter_call(); }
    CallDepth(const CallDepth&) = delete;
    CallDepth& operator=(const CallDepth&) = delete;
    ~CallDepth() { conn_.leave_call(); }

private:
    Connection& conn_;
};

// Several statements as one unit, all or nothing, inside whatever the caller has open:
// SAVEPOINT ... RELEASE, or, when SQLite refuses a savepoint because a writing statement is
// running us (a trigger, INSERT ... SELECT), that statement, which holds the write lock and
// whose own rollback undoes our work with it when we fail. Rolled back unless released.
// `use` says whether its statements are cached (a call's unit) or not (schema changes).
struct SavepointStatements;
class Savepoint {
public:
    explicit Savepoint(Connection& conn, StatementSpec::Use use = StatementSpec::repeated);
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    ~Savepoint();

    void release();

private:
    void roll_back() noexcept;
    Connection& conn_;
    const SavepointStatements* statements_;
    bool open_ = false;
};

// Registers the eponymous virtual table module (holds one reference on conn).
int register_session_module(sqlite3* db, Connection* conn);

}  // namespace exactly_once::sqlite
