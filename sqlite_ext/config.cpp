// Settings and connection-level functions: decode, run, encode.
#include "sqlite_ext/config.hpp"

#include <string>

#include "core/duration.hpp"
#include "core/errors.hpp"
#include "core/expiry.hpp"
#include "core/version.hpp"
#include "sqlite_ext/schema.hpp"
#include "sqlite_ext/statements.hpp"

namespace exactly_once::sqlite::config {
namespace {

// ?1 setting name
constexpr StatementSpec kConfigGet{"config_get", sql<"SELECT value FROM main.{config} WHERE name = ?1">};

// ?1 setting name, ?2 canonical text, ?3 the same duration in ms (read by claim_once)
constexpr StatementSpec kConfigSet{
    "config_set",
    sql<"INSERT INTO main.{config}(name, value, ms) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value, ms = excluded.ms">};

void bind_setting(Statement& st, std::string_view name) {
    st.bind_text(1, name.data(), static_cast<int>(name.size()));
}

}  // namespace

void exactly_once_config(Call& call) {
    Connection& conn = call.conn();
    const CallDepth depth(conn);
    const std::string_view name = text_arg(call.arg(0));
    if (name != kDefaultTtlSetting) fail(Failure::unknown_setting, call.arg(0).name, {excerpt(name)});

    std::string value;
    if (!call.given(1)) {
        value = if_schema(
            [&] {
                Statement st = conn.statement(kConfigGet);
                bind_setting(st, kDefaultTtlSetting);
                if (!st.step()) return format_duration(kDefaultTtl);
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0));
                if (text == nullptr) throw std::bad_alloc();
                return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(st.get(), 0)));
            },
            format_duration(kDefaultTtl));
    } else {
        // The value's errors name the setting: "default_ttl must be positive".
        const Duration ttl = duration_arg(call.arg(1).named(kDefaultTtlSetting));
        value = format_duration(ttl);
        with_schema(conn, [&] {
            Statement st = conn.statement(kConfigSet);
            bind_setting(st, kDefaultTtlSetting);
            st.bind_text(2, value.data(), static_cast<int>(value.size()));
            st.bind_int64(3, ttl.count());
            st.run();
        });
    }
    sqlite3_result_text(call.ctx(), value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

// Lets code stored in that attached file call the writers on this connection, for as long
// as the name names the file it names now (docs/DESIGN.md §4 Security).
void exactly_once_trust_schema(Call& call) {
    const std::string name = call.conn().trust_schema(text_arg(call.arg(0)));
    sqlite3_result_text(call.ctx(), name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
}

void exactly_once_version(Call& call) { sqlite3_result_text(call.ctx(), kVersion, -1, SQLITE_STATIC); }

// Creates the state tables or brings them to this release's layout now, rather than at the
// first call that needs it (which cannot upgrade while another statement reads the tables).
void exactly_once_upgrade(Call& call) {
    Connection& conn = call.conn();
    const CallDepth depth(conn);
    create_schema(conn);
    sqlite3_result_text(call.ctx(), kVersion, -1, SQLITE_STATIC);
}

// Our statements call it so that they read the clock after taking the lock (Clock in
// claims.cpp).
void exactly_once_now(Call& call) { sqlite3_result_int64(call.ctx(), call.conn().now_ms()); }

}  // namespace exactly_once::sqlite::config
