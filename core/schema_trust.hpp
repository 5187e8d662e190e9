// Which schema code may call the extension's state-writing functions (docs/DESIGN.md §4
// Security). State lives in the database the application opened (schema main); a view,
// trigger, CHECK, generated column, default or index stored in another database file runs
// with that file author's choice of arguments, so it must not claim, release or emit there.
// Engines cannot always tell which schema's code made a call (SQLite cannot), so the front
// end asks the question of the stored schema text instead: does it name one of the writers?
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace exactly_once {

// The functions whose call changes claims or the outbox. The administrative ones
// (purge_expired, exactly_once_config) are refused in every schema anyway.
inline constexpr std::array<std::string_view, 3> kStateWritingFunctions = {"claim_once", "release_claim",
                                                                          "outbox_emit"};

// True when `sql` contains `name` as a whole SQL identifier, compared ASCII
// case-insensitively (as SQLite resolves function names), however it is quoted: bare,
// "name", [name], `name`. Identifier characters are ASCII letters, digits, '_', '$' and
// every byte >= 0x80, as in SQLite's tokenizer, so `xclaim_once` and `claim_once2` do not
// match. Sound, not exact: a match inside a string literal or a comment counts too (a false
// positive that refuses a harmless schema; never a false negative).
bool names_identifier(std::string_view sql, std::string_view name) noexcept;

// SQLite's rule for identifiers and schema names: equal when equal after ASCII lower-casing.
bool equal_ascii_ci(std::string_view a, std::string_view b) noexcept;

// The first of kStateWritingFunctions that `sql` names, or an empty view.
std::string_view state_writer_named_in(std::string_view sql) noexcept;

// The refusal: `fn` was called while `object_type` `object_name` of attached database
// `database` names `writer`. Says what is refused, why, and the three ways out.
std::string untrusted_schema_message(std::string_view writer, std::string_view database,
                                     std::string_view object_type, std::string_view object_name);

}  // namespace exactly_once
