// The state in schema main as the capabilities see it: created on first use inside the
// caller's transaction (create_schema), read as "nothing stored" while absent. The layout
// itself, and the outbox contract it keeps (docs/DESIGN.md §4), is in schema.cpp.
#pragma once

#include "sqlite_ext/connection.hpp"

namespace exactly_once::sqlite {

// CREATE TABLE/INDEX IF NOT EXISTS for every state table, in schema main, inside whatever
// transaction the caller has open; all or nothing.
void create_schema(Connection& conn);

// Runs a writing operation; if a state table is missing (first use, rolled back, dropped),
// creates the schema in the caller's transaction and runs it once more.
template <class F>
auto with_schema(Connection& conn, F&& op) -> decltype(op()) {
    try {
        return op();
    } catch (const MissingTable&) {
    }
    create_schema(conn);
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

}  // namespace exactly_once::sqlite
