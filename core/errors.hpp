// Typed errors thrown by the core. Front ends catch them at their entry points and
// convert them: SQLite to sqlite3_result_error ("fn: message"), PostgreSQL to
// ereport(ERROR) with the SQLSTATE named by `kind`.
#pragma once

#include <stdexcept>
#include <string>

namespace exactly_once {

enum class ErrorKind {
    null_argument,   // SQLSTATE 22004 null_value_not_allowed
    invalid_value,   // SQLSTATE 22023 invalid_parameter_value (empty, zero, negative, out of range)
    invalid_text,    // SQLSTATE 22P02 invalid_text_representation (unparseable TTL, bad JSON)
    too_large,       // SQLSTATE 54000 program_limit_exceeded (key over the size limit)
};

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
