#include "core/schema_trust.hpp"

#include <gtest/gtest.h>

#include <string>

namespace eo = exactly_once;

TEST(SchemaTrust, FindsTheNameHoweverItIsQuotedOrCased) {
    for (const char* sql : {
             "CREATE VIEW v AS SELECT claim_once('s','k')",
             "CREATE VIEW v AS SELECT \"claim_once\"('s','k')",
             "CREATE VIEW v AS SELECT [claim_once]('s','k')",
             "CREATE VIEW v AS SELECT `claim_once`('s','k')",
             "CREATE VIEW v AS SELECT CLAIM_ONCE('s','k')",
             "CREATE VIEW v AS SELECT Claim_Once ('s','k')",
             "CREATE VIEW v AS SELECT claim_once\n/* c */ ('s','k')",
             "CREATE TABLE t(a CHECK(claim_once('s',a)))",
             "CREATE TABLE t(a, b AS (claim_once('s',a)))",
             "CREATE TABLE t(a DEFAULT (claim_once('s','k')))",
             "CREATE INDEX i ON t(claim_once('s',a))",
             "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT-claim_once('s',new.a); END",
             "claim_once",
         }) {
        EXPECT_TRUE(eo::names_identifier(sql, "claim_once")) << sql;
        EXPECT_EQ(eo::state_writer_named_in(sql), "claim_once") << sql;
    }
}

TEST(SchemaTrust, EveryWriterIsLookedFor) {
    EXPECT_EQ(eo::state_writer_named_in("SELECT release_claim('s','k')"), "release_claim");
    EXPECT_EQ(eo::state_writer_named_in("SELECT OUTBOX_EMIT('t','k','{}')"), "outbox_emit");
    EXPECT_EQ(eo::state_writer_named_in("SELECT outbox_emit(1), claim_once(2)"), "claim_once");  // list order
}

TEST(SchemaTrust, OtherIdentifiersDoNotMatch) {
    for (const char* sql : {
             "CREATE VIEW v AS SELECT is_claimed('s','k'), dedup_key('s','k'), purge_expired()",
             "CREATE TABLE my_claim_once(x)",       // longer identifier, prefix
             "CREATE TABLE claim_once2(x)",         // longer identifier, suffix
             "CREATE TABLE claim_once$x(x)",        // '$' continues an identifier in SQLite
             "CREATE TABLE \xC3\xA9" "claim_once(x)",  // so does every byte >= 0x80
             "CREATE TABLE claim_once\xC3\xA9(x)",
             "SELECT $claim_once",                  // a parameter, one token with its '$'
             "CREATE TABLE claim_onc(x)",
             "",
         }) {
        EXPECT_EQ(eo::state_writer_named_in(sql), "") << sql;
    }
}

TEST(SchemaTrust, CaseFoldingIsAsciiOnlyLikeSqlite) {
    // SQLite resolves function names with ASCII case folding only: a dotless or Kelvin
    // look-alike is another name, and another byte sequence here.
    EXPECT_FALSE(eo::names_identifier("SELECT cla\xC4\xB1m_once(1)", "claim_once"));
}

TEST(SchemaTrust, StringLiteralsAndCommentsAreFalsePositives) {
    // Documented: the check is sound, not exact; a mention refuses the schema too.
    EXPECT_TRUE(eo::names_identifier("CREATE VIEW v AS SELECT 'uses claim_once' AS note", "claim_once"));
    EXPECT_TRUE(eo::names_identifier("CREATE TABLE t(x) -- claim_once", "claim_once"));
}

TEST(SchemaTrust, EmptyNameNeverMatches) { EXPECT_FALSE(eo::names_identifier("anything", "")); }

TEST(SchemaTrust, MessageNamesTheDatabaseTheObjectAndTheRemedies) {
    const std::string m = eo::untrusted_schema_message("release_claim", "it's", "view", "v1");
    EXPECT_NE(m.find("attached database \"it's\""), std::string::npos) << m;
    EXPECT_NE(m.find("view \"v1\" calls release_claim"), std::string::npos) << m;
    EXPECT_NE(m.find("DETACH"), std::string::npos) << m;
    EXPECT_NE(m.find("SELECT exactly_once_trust_schema('it''s')"), std::string::npos) << m;
    EXPECT_NE(m.find("PRAGMA trusted_schema=OFF"), std::string::npos) << m;
}
