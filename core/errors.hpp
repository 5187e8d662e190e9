// The error catalogue: every error either engine raises on its own account, written once.
// A front end names an entry (a Failure), the argument at fault and the entry's details; the
// wording and the SQLSTATE come from here, so the same bad input reads the same in SQLite
// ("fn: message") and PostgreSQL (ereport with the entry's SQLSTATE and "fn: message").
// docs/DESIGN.md §4 "Bad input" lists the entries; tests/conformance checks that each one is
// exercised (tests/conformance/coverage.py).
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace exactly_once {

// What kind of fault; each kind is one SQLSTATE.
enum class ErrorKind {
    null_argument,    // 22004 null_value_not_allowed
    invalid_value,    // 22023 invalid_parameter_value (empty, zero, negative, out of range, wrong type)
    invalid_text,     // 22P02 invalid_text_representation (unparseable TTL, bad JSON)
    too_large,        // 54000 program_limit_exceeded (an argument over its size limit)
    read_only,        // 25006 read_only_sql_transaction (SQLite: the state's database is read-only)
    not_permitted,    // 42501 insufficient_privilege (SQLite: code in an untrusted attached schema)
    bad_state,        // 55000 object_not_in_prerequisite_state (a stored setting that is not valid)
    trigger_misuse,   // 39P01 trigger_protocol_violated
    not_found,        // 42703 undefined_column (a trigger's key column)
    retry,            // 40001 serialization_failure (retry the transaction)
};

// Every entry of the catalogue. The wording is in kCatalogue (errors.cpp): {arg} is the
// argument's name, {1}, {2}, ... the details the raiser passes.
enum class Failure {
    argument_null,             // {arg} must not be NULL
    argument_empty,            // {arg} must not be empty
    argument_too_large,        // {arg} is {1} bytes, over the limit of {2} bytes
    argument_wrong_type,       // {arg} must be {1}                          (SQLite's dynamic types)
    wrong_argument_count,      // expected {1}, got {2}                      (SQLite)
    ttl_not_positive,          // {arg} must be positive{1}
    ttl_not_finite,            // {arg} must be a finite number of seconds
    ttl_too_long,              // {arg} is too long (the maximum is 36500 days)
    ttl_not_a_duration,        // {arg} is not a duration: ... (got "{1}")
    ttl_number_without_unit,   // {arg} has a number without a unit (got "{1}")
    ttl_unknown_unit,          // {arg} has an unknown unit "{1}" ... (got "{2}")
    ttl_units_out_of_order,    // {arg} must list units from largest to smallest, each once (got "{1}")
    json_invalid,              // {arg} is not valid JSON
    json_nul_byte,             // {arg} is not valid JSON (it contains a NUL byte)
    json_byte_order_mark,      // {arg} is not valid JSON (it starts with a byte-order mark)
    json_too_deep,             // {arg} is nested more than {1} levels deep
    json_rejected_by_engine,   // {arg} is not valid jsonb: {1}              (PostgreSQL keeps its SQLSTATE)
    headers_not_object,        // {arg} must be a JSON object of strings
    header_not_string,         // {arg} must be a JSON object of strings ("{1}" is not a string)
    header_named_twice,        // {arg} names "{1}" more than once
    purge_batch_not_positive,  // {arg} must be a positive integer
    unknown_setting,           // unknown setting "{1}" (known: default_ttl)  (SQLite exactly_once_config)
    stored_setting_invalid,    // {arg} setting in exactly_once_config is invalid (SQLite)
    no_such_attached_schema,   // no attached database named "{1}" ...      (SQLite)
    untrusted_schema,          // refused while attached database "{1}" is untrusted ... (SQLite)
    read_only_database,        // cannot write to a read-only database ...: {1}  (SQLite)
    schema_newer,              // the database's schema is version {1}, newer than ... ({2})  (SQLite)
    schema_version_unreadable, // the database's schema version "{1}" is not a release ...    (SQLite)
    schema_upgrade_blocked,    // ... release {1}'s layout and cannot be upgraded while ...  (SQLite)
    not_called_as_trigger,     // must be called as a trigger               (PostgreSQL)
    trigger_wrong_event,       // must be {1} trigger                       (PostgreSQL)
    trigger_wrong_arguments,   // expects the arguments ({1})               (PostgreSQL)
    trigger_column_missing,    // column "{1}" does not exist in table "{2}" (PostgreSQL)
    trigger_key_column_null,   // key column "{1}" must not be NULL         (PostgreSQL)
    claim_contended,           // the claim kept changing concurrently ... {1} times ...  (PostgreSQL)
    count_
};

struct CatalogueEntry {
    Failure failure;
    ErrorKind kind;
    const char* name;     // the entry's name as written in tests ("ttl_too_long")
    const char* wording;  // with {arg}, {1}, {2}, ...
};

const CatalogueEntry& catalogue_entry(Failure failure) noexcept;

// Five-character SQLSTATE of a kind.
const char* sqlstate_of(ErrorKind kind) noexcept;

// The entry's wording with {arg} and the details filled in.
std::string failure_message(Failure failure, std::string_view argument,
                            std::initializer_list<std::string_view> details = {});

// At most max_bytes of text for quoting user input in a message, cut at a UTF-8 character
// boundary (a message with half a character is invalid text for PostgreSQL's client
// encoding conversion), with "..." appended when cut.
std::string excerpt(std::string_view text, std::size_t max_bytes = 64);

class Error : public std::runtime_error {
public:
    Error(Failure failure, std::string argument, const std::string& message)
        : std::runtime_error(message), failure_(failure), argument_(std::move(argument)) {}

    Failure failure() const noexcept { return failure_; }
    ErrorKind kind() const noexcept { return catalogue_entry(failure_).kind; }
    const std::string& argument() const noexcept { return argument_; }

private:
    Failure failure_;
    std::string argument_;
};

// Throws Error(failure) for `argument` with the catalogue's wording.
[[noreturn]] void fail(Failure failure, std::string_view argument,
                       std::initializer_list<std::string_view> details = {});

}  // namespace exactly_once
