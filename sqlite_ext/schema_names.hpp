// The one place that spells the names of what the extension keeps in SQLite. Statements and
// DDL write a table as {claims}, {outbox}, ... (sqlite_ext/statements.hpp expands them at
// compile time), index names are built from their table's ({claims}_by_expiry), and the
// "is this one of our tables" test below reads this list, so renaming or adding a table is
// one line here.
#pragma once

#include <string_view>

namespace exactly_once::sqlite {

struct SchemaName {
    enum Kind {
        state_table,    // a table of ours in schema main, created on first use
        setting,        // a row name in {config}
        virtual_table,  // registered per connection, stores nothing
    };
    std::string_view placeholder;  // as written in SQL between braces
    std::string_view name;         // as stored in SQLite
    Kind kind;
};

inline constexpr SchemaName kSchemaNames[] = {
    {"claims", "exactly_once_claims", SchemaName::state_table},
    {"outbox", "exactly_once_outbox", SchemaName::state_table},
    {"outbox_keys", "exactly_once_outbox_keys", SchemaName::state_table},  // key_seq per (topic, key)
    {"config", "exactly_once_config", SchemaName::state_table},
    {"meta", "exactly_once_meta", SchemaName::state_table},  // the schema's version (schema.cpp)
    {"default_ttl", "default_ttl", SchemaName::setting},
    // Whose connection scopes the statement cache (connection.hpp).
    {"session", "exactly_once_session", SchemaName::virtual_table},
};

// The name written {placeholder}; a placeholder that is not listed does not compile when
// evaluated at compile time (statements.hpp).
constexpr std::string_view schema_name(std::string_view placeholder) {
    for (const SchemaName& n : kSchemaNames)
        if (n.placeholder == placeholder) return n.name;
    throw "sqlite_ext/schema_names.hpp: unknown {placeholder} in SQL";
}

// The one setting exactly_once_config knows.
inline constexpr std::string_view kDefaultTtlSetting = schema_name("default_ttl");

// True for SQLite's "no such table: main.<t>" when <t> is one of our state tables. Only our
// own tables count as missing: a "no such table" from a user's trigger on one of them is that
// user's error, not a reason to create the schema or to answer "nothing stored".
constexpr bool is_own_missing_table(std::string_view message) noexcept {
    constexpr std::string_view kPrefix = "no such table: main.";
    if (!message.starts_with(kPrefix)) return false;
    message.remove_prefix(kPrefix.size());
    for (const SchemaName& n : kSchemaNames)
        if (n.kind == SchemaName::state_table && n.name == message) return true;
    return false;
}

}  // namespace exactly_once::sqlite
