// The extension linked statically (SQLITE_CORE, sqlite3_auto_extension) and loaded as a
// module, checked from C++: the functions work, and sqlite3_close() -- the legacy close that
// refuses with SQLITE_BUSY while any statement is unfinalized -- returns SQLITE_OK after
// every function was used, with and without an open transaction. Python cannot check the
// latter: its sqlite3 module closes with sqlite3_close_v2(), which never reports BUSY.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "sqlite_ext/exactly_once_sqlite.h"

#ifndef EXACTLY_ONCE_SQLITE_MODULE
#error "EXACTLY_ONCE_SQLITE_MODULE (path of exactly_once.so) must be defined by the build"
#endif

namespace {

// Every function of the extension, used once (the writers inside the caller's transaction).
const char* const kUseEverything[] = {
    "SELECT claim_once('s', 'k1')",
    "SELECT claim_once('s', 'k2', '48h')",
    "SELECT is_claimed('s', 'k1')",
    "SELECT release_claim('s', 'k2')",
    "SELECT purge_expired()",
    "SELECT purge_expired(5)",
    "SELECT hex(dedup_key('s', 'k1'))",
    "SELECT outbox_emit('t', 'k', '{\"a\":1}')",
    "SELECT outbox_emit('t', 'k', '{}', '{\"h\":\"v\"}')",
    "SELECT exactly_once_config('default_ttl', '2h')",
    "SELECT exactly_once_config('default_ttl')",
    "SELECT exactly_once_version()",
};

class TempFile {
public:
    TempFile() {
        char tmpl[] = "/tmp/eo_sqlite_XXXXXX";
        const int fd = mkstemp(tmpl);
        if (fd >= 0) close(fd);
        path_ = tmpl;
    }
    ~TempFile() {
        for (const char* suffix : {"", "-journal", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Runs one statement, returning the first column of the first row as text ("" if none).
std::string query(sqlite3* db, const std::string& sql, int* rc_out = nullptr) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
    std::string out;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            const unsigned char* text = sqlite3_column_text(stmt, 0);
            out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK) out = sqlite3_errmsg(db);
    } else {
        out = sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
    if (rc_out != nullptr) *rc_out = rc;
    return out;
}

std::string must(sqlite3* db, const std::string& sql) {
    int rc = SQLITE_OK;
    std::string out = query(db, sql, &rc);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << out;
    return out;
}

void use_everything(sqlite3* db) {
    for (const char* sql : kUseEverything) must(db, sql);
}

sqlite3* open_db(const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr), SQLITE_OK);
    return db;
}

// ---- static: sqlite3_auto_extension ----------------------------------------------------

class StaticExtension : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(sqlite3_exactlyonce_init)), SQLITE_OK);
    }
    void TearDown() override {
        sqlite3_cancel_auto_extension(reinterpret_cast<void (*)(void)>(sqlite3_exactlyonce_init));
    }
};

TEST_F(StaticExtension, FunctionsWorkOnEveryNewConnection) {
    for (int i = 0; i < 2; ++i) {
        sqlite3* db = open_db(":memory:");
        EXPECT_EQ(must(db, "SELECT claim_once('payments', 'pay_123')"), "1");
        EXPECT_EQ(must(db, "SELECT claim_once('payments', 'pay_123')"), "0");
        EXPECT_EQ(must(db, "SELECT lower(hex(dedup_key('payments', 'pay_123')))"), "6fbd4e3d5a0ac0a831b1dbdaebb557d2");
        EXPECT_EQ(must(db, "SELECT length(outbox_emit('t', 'k', '{}'))"), "36");
        int rc = SQLITE_OK;
        const std::string err = query(db, "SELECT claim_once(NULL, 'k')", &rc);
        EXPECT_EQ(rc, SQLITE_ERROR);
        EXPECT_EQ(err, "claim_once: scope must not be NULL");
        EXPECT_EQ(query(db, "SELECT claim_once('s', zeroblob(65537))", &rc).rfind("claim_once: key is 65537 bytes", 0), 0u);
        EXPECT_EQ(rc, SQLITE_TOOBIG);
        EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
    }
}

TEST_F(StaticExtension, StatementsAreCachedWhileConnected) {
    sqlite3* db = open_db(":memory:");
    use_everything(db);
    // 7 claims and config statements, and outbox_emit's 4 (savepoint, release, key_seq, event).
    EXPECT_EQ(must(db, "SELECT cached_statements FROM exactly_once_session"), "11");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, CloseAfterUseReturnsOk) {
    TempFile file;
    sqlite3* db = open_db(file.path());
    use_everything(db);
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);

    db = open_db(file.path());
    EXPECT_EQ(must(db, "SELECT count(*) FROM exactly_once_claims"), "1");  // k1 (k2 released)
    EXPECT_EQ(must(db, "SELECT count(*) FROM exactly_once_outbox"), "2");
    EXPECT_EQ(must(db, "SELECT exactly_once_config('default_ttl')"), "2h");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, CloseWithOpenTransactionReturnsOkAndRollsBack) {
    TempFile file;
    sqlite3* db = open_db(file.path());
    must(db, "SELECT claim_once('before', 'k')");
    must(db, "BEGIN");
    use_everything(db);
    EXPECT_EQ(sqlite3_get_autocommit(db), 0);
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);

    db = open_db(file.path());
    EXPECT_EQ(must(db, "SELECT claim_once('before', 'k')"), "0");
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k1')"), "1");  // the open transaction was rolled back
    EXPECT_EQ(must(db, "SELECT count(*) FROM exactly_once_outbox"), "0");
    EXPECT_EQ(must(db, "SELECT exactly_once_config('default_ttl')"), "1d");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, CloseWithOpenSavepointAfterTriggersReturnsOk) {
    sqlite3* db = open_db(":memory:");
    must(db, "CREATE TABLE p(id TEXT PRIMARY KEY)");
    must(db,
         "CREATE TRIGGER p_once BEFORE INSERT ON p WHEN NOT claim_once('p', NEW.id) "
         "BEGIN SELECT RAISE(IGNORE); END");
    must(db, "CREATE TRIGGER p_emit AFTER INSERT ON p BEGIN SELECT outbox_emit('p', NEW.id, '{}'); END");
    must(db, "SAVEPOINT sp");
    must(db, "INSERT INTO p VALUES ('a'), ('a'), ('b')");
    EXPECT_EQ(must(db, "SELECT count(*) FROM p"), "2");
    EXPECT_EQ(must(db, "SELECT count(*) FROM exactly_once_outbox"), "2");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, CloseStillReportsTheCallersOwnStatements) {
    // The check the tests above rely on does fire: a statement the caller leaves
    // unfinalized makes sqlite3_close() return SQLITE_BUSY; ours never do.
    sqlite3* db = open_db(":memory:");
    use_everything(db);
    sqlite3_stmt* mine = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT 1", -1, &mine, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_close(db), SQLITE_BUSY);
    sqlite3_finalize(mine);
    must(db, "SELECT claim_once('still', 'works')");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, CachedStatementsKeepNoPointersIntoTheCallersValues) {
    // Arguments are bound to our cached statements without a copy (SQLITE_STATIC); the
    // caller's values are freed after the call, so the bindings must not outlive it:
    // sqlite3_expanded_sql() on a cached statement would read freed memory (ASan).
    sqlite3* db = open_db(":memory:");
    const std::string topic = "topic-" + std::string(40, 'A');
    const std::string key = "key-" + std::string(40, 'B');
    const std::string payload = R"({"payload":")" + std::string(40, 'C') + R"("})";
    sqlite3_stmt* call = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT outbox_emit(?1, ?2, ?3), claim_once(?1, ?2)", -1, &call, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(call, 1, topic.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(call, 2, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(call, 3, payload.c_str(), -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(call), SQLITE_ROW) << sqlite3_errmsg(db);
    sqlite3_finalize(call);  // frees the argument values

    int cached = 0;
    for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s != nullptr; s = sqlite3_next_stmt(db, s)) {
        char* sql = sqlite3_expanded_sql(s);
        ASSERT_NE(sql, nullptr);
        const std::string expanded = sql;
        sqlite3_free(sql);
        EXPECT_EQ(expanded.find("AAAA"), std::string::npos) << expanded;
        EXPECT_EQ(expanded.find("BBBB"), std::string::npos) << expanded;
        EXPECT_EQ(expanded.find("CCCC"), std::string::npos) << expanded;
        EXPECT_EQ(expanded.find("x'"), std::string::npos) << expanded;  // the claim's 16-byte key
        ++cached;
    }
    // claim_once's INSERT; outbox_emit's savepoint, release, key_seq upsert and INSERT, and the
    // roll-back of its first attempt (the tables did not exist yet).
    EXPECT_EQ(cached, 6);
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

int deny_session_table(void*, int action, const char* a, const char*, const char*, const char*) {
    if (action == SQLITE_READ && a != nullptr && std::string(a) == "exactly_once_session") return SQLITE_DENY;
    return SQLITE_OK;
}

TEST_F(StaticExtension, AnAuthorizerRefusingTheSessionTableChangesNothing) {
    sqlite3* db = open_db(":memory:");
    sqlite3_set_authorizer(db, deny_session_table, nullptr);
    use_everything(db);
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k1')"), "0");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, WithoutTheSessionTableNothingIsCachedAndCloseIsOk) {
    sqlite3* db = open_db(":memory:");
    use_everything(db);
    // 7 claims and config statements, and outbox_emit's 4 (savepoint, release, key_seq, event).
    EXPECT_EQ(must(db, "SELECT cached_statements FROM exactly_once_session"), "11");
    // Dropping the module disconnects the table: the cache is finalized there and then,
    // and from now on statements are prepared per call.
    ASSERT_EQ(sqlite3_drop_modules(db, nullptr), SQLITE_OK);
    int rc = SQLITE_OK;
    query(db, "SELECT cached_statements FROM exactly_once_session", &rc);
    EXPECT_EQ(rc, SQLITE_ERROR);
    use_everything(db);
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k1')"), "0");
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k3')"), "1");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST_F(StaticExtension, CloseV2AlsoFinalizesTheCache) {
    sqlite3* db = open_db(":memory:");
    must(db, "BEGIN");
    use_everything(db);
    EXPECT_EQ(sqlite3_close_v2(db), SQLITE_OK);
}

TEST(StaticEntryPoint, DirectCallRegistersOnOneConnection) {
    sqlite3* db = open_db(":memory:");
    int rc = SQLITE_OK;
    query(db, "SELECT claim_once('s', 'k')", &rc);
    EXPECT_EQ(rc, SQLITE_ERROR);  // not registered yet
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exactlyonce_init(db, &err, nullptr), SQLITE_OK) << (err ? err : "");
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k')"), "1");
    ASSERT_EQ(sqlite3_exactlyonce_init(db, &err, nullptr), SQLITE_OK);  // again: replaces itself
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k')"), "0");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

// ---- loadable module through sqlite3_load_extension ------------------------------------

sqlite3* open_with_module(const std::string& path) {
    sqlite3* db = open_db(path);
    EXPECT_EQ(sqlite3_enable_load_extension(db, 1), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_load_extension(db, EXACTLY_ONCE_SQLITE_MODULE, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    return db;
}

TEST(LoadableModule, CloseAfterUseReturnsOk) {
    TempFile file;
    sqlite3* db = open_with_module(file.path());
    use_everything(db);
    // 7 claims and config statements, and outbox_emit's 4 (savepoint, release, key_seq, event).
    EXPECT_EQ(must(db, "SELECT cached_statements FROM exactly_once_session"), "11");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST(LoadableModule, CloseWithOpenTransactionReturnsOk) {
    TempFile file;
    sqlite3* db = open_with_module(file.path());
    must(db, "BEGIN IMMEDIATE");
    use_everything(db);
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
    db = open_with_module(file.path());
    EXPECT_EQ(must(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'exactly_once_%'"), "0");
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST(LoadableModule, LoadedTwiceThenClosed) {
    sqlite3* db = open_with_module(":memory:");
    use_everything(db);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_load_extension(db, EXACTLY_ONCE_SQLITE_MODULE, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    EXPECT_EQ(must(db, "SELECT claim_once('s', 'k1')"), "0");
    use_everything(db);
    EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

}  // namespace
