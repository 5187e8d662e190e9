// The boundary of every SQL function: one call's arguments, decoded from SQLite's dynamic
// types and named as PostgreSQL names them, and the error boundary that reports whatever the
// body throws as "<function>: <message>" (docs/DESIGN.md §4 Bad input, §5).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "core/dedup_key.hpp"
#include "core/duration.hpp"
#include "core/purge.hpp"
#include "sqlite_ext/connection.hpp"
#include "sqlite_ext/sqlite_api.hpp"

namespace exactly_once::sqlite {

// The arguments' names, as the PostgreSQL functions declare them (sql/exactly_once--*.sql),
// so that the same bad input names the same argument in both engines.
namespace argument {
inline constexpr const char* scope = "scope";
inline constexpr const char* key = "key";
inline constexpr const char* ttl = "ttl";
inline constexpr const char* topic = "topic";
inline constexpr const char* payload = "payload";
inline constexpr const char* headers = "headers";
inline constexpr const char* max_rows = "max_rows";
inline constexpr const char* name = "name";    // exactly_once_config (SQLite only)
inline constexpr const char* value = "value";  // exactly_once_config; its errors name the setting
inline constexpr const char* schema = "schema";  // exactly_once_trust_schema (SQLite only)
}  // namespace argument
static_assert(std::string_view(argument::max_rows) == kPurgeBatchArgument, "core names purge's argument too");

// An SQL function's name and its arguments' names in order; the first `required` must be given.
struct Signature {
    const char* name;
    std::array<const char*, 4> arguments{};  // nullptr past the last
    int required = 0;

    constexpr int accepted() const noexcept {
        int n = 0;
        while (n < static_cast<int>(arguments.size()) && arguments[n] != nullptr) ++n;
        return n;
    }
};

class Call;

// One exported function: what SQL sees (signature, SQLite flags) and the body that runs it.
// sqlite_ext/extension.cpp lists them all; the capability files (claims, outbox, config)
// provide the bodies.
struct FunctionSpec {
    Signature signature;
    int flags;
    void (*body)(Call& call);
};

// One argument of a call: SQLite's value and the name its messages use.
struct Arg {
    sqlite3_value* value;
    std::string_view name;

    int type() const noexcept { return sqlite3_value_type(value); }
    bool is_null() const noexcept { return type() == SQLITE_NULL; }
    Arg named(std::string_view other) const noexcept { return {value, other}; }
};

// One call of an exported function, its argument count already checked against the signature.
class Call {
public:
    Call(sqlite3_context* ctx, int argc, sqlite3_value** argv, Connection& conn, const Signature& signature) noexcept
        : ctx_(ctx), argc_(argc), argv_(argv), conn_(conn), signature_(signature) {}
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    sqlite3_context* ctx() const noexcept { return ctx_; }
    Connection& conn() const noexcept { return conn_; }
    // Whether optional argument i was given.
    bool given(int i) const noexcept { return i < argc_; }
    Arg arg(int i) const noexcept { return {argv_[i], signature_.arguments[static_cast<std::size_t>(i)]}; }

private:
    sqlite3_context* ctx_;
    int argc_;
    sqlite3_value** argv_;
    Connection& conn_;
    const Signature& signature_;
};

// What SQLite holds as a registered function's user data.
struct FunctionBinding {
    Connection* conn;  // one reference, dropped by release_binding
    const FunctionSpec* spec;
};
void release_binding(void* binding) noexcept;

// The xFunc of every exported function. Runs the body under the error boundary: every
// exception becomes sqlite3_result_error* with "<function>: <message>" (SQLITE_TOOBIG for an
// argument over its size limit, SQLITE_AUTH for code in an untrusted attached schema, the
// SQLite code of an error SQLite raised). A wrong argument count is reported the same way.
void call_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept;

// ---- decoding ---------------------------------------------------------------------------
// Each throws core's Error naming the argument; none accepts NULL.

// Scope, topic or key: text (UTF-8 bytes), blob (raw bytes) or an integer (its decimal
// text). Text 'abc' and blob x'616263' are the same bytes, hence the same key. A REAL is
// refused: its text form keeps 15 significant digits, so 0.30000000000000004 and 0.3 would
// be one key.
struct Bytes {
    const char* data = nullptr;
    int size = 0;
    bool is_blob = false;
    std::string_view view() const noexcept { return {data, static_cast<std::size_t>(size)}; }
};
Bytes key_arg(Arg arg);

// The claim key of (scope, key), both validated.
DedupKey dedup_key_of(Arg scope, Arg key);

// A duration: integer or real seconds, or text such as '90s', '48h', '1h30m'.
Duration duration_arg(Arg arg);

// JSON text (payload, headers). Integers are accepted as their text form; blobs are not,
// nor REALs (their text form is rounded to 15 digits: the event would not carry the value).
std::string_view json_arg(Arg arg);

// Text only (a setting's or an attached database's name).
std::string_view text_arg(Arg arg);

// purge_expired's max_rows: a positive integer (core/purge).
std::int64_t purge_batch_arg(Arg arg);

}  // namespace exactly_once::sqlite
