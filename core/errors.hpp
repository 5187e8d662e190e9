// Typed errors thrown by the core. Front ends catch them at their entry points and
// convert them: SQLite to sqlite3_result_error ("fn: message"), PostgreSQL to
// ereport(ERROR) with the SQLSTATE named by `kind`.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace exactly_once {

enum class ErrorKind {
    null_argument,   // SQLSTATE 22004 null_value_not_allowed
    invalid_value,   // SQLSTATE 22023 invalid_parameter_value (empty, zero, negative, out of range)
    invalid_text,    // SQLSTATE 22P02 invalid_text_representation (unparseable TTL, bad JSON)
    too_large,       // SQLSTATE 54000 program_limit_exceeded (key over the size limit)
};

// At most max_bytes of text for quoting user input in a message, cut at a UTF-8 character
// boundary (a message with half a character is invalid text for PostgreSQL's client
// encoding conversion), with "..." appended when cut.
std::string excerpt(std::string_view text, std::size_t max_bytes = 64);

// Five-character SQLSTATE for a kind; the PostgreSQL front end maps it to its own codes.
const char* sqlstate_of(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
public:
    // `argument` names the SQL argument at fault ("key", "ttl", "payload", ...).
    Error(ErrorKind kind, std::string argument, const std::string& message)
        : std::runtime_error(message), kind_(kind), argument_(std::move(argument)) {}

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& argument() const noexcept { return argument_; }

private:
    ErrorKind kind_;
    std::string argument_;
};

}  // namespace exactly_once
