#include "sqlite_ext/arguments.hpp"

#include <new>
#include <string>

#include "core/errors.hpp"
#include "core/validate.hpp"

namespace exactly_once::sqlite {
namespace {

// ---- error reporting -------------------------------------------------------------------

void set_error(sqlite3_context* ctx, const char* fn, std::string_view message, int code) noexcept {
    try {
        std::string full;
        full.reserve(std::char_traits<char>::length(fn) + 2 + message.size());
        full.append(fn).append(": ").append(message);
        sqlite3_result_error(ctx, full.data(), static_cast<int>(full.size()));
    } catch (...) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    // After sqlite3_result_error the message stays; only the code changes.
    if (code != SQLITE_ERROR) sqlite3_result_error_code(ctx, code);
}

// The SQLite result code of a catalogue entry's kind (the message says the rest).
int sqlite_code_of(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::too_large: return SQLITE_TOOBIG;
        case ErrorKind::not_permitted: return SQLITE_AUTH;
        case ErrorKind::read_only: return SQLITE_READONLY;
        default: return SQLITE_ERROR;
    }
}

// Called from inside a catch handler: classifies the exception in flight.
void report_current_exception(sqlite3_context* ctx, const char* fn) noexcept {
    try {
        throw;
    } catch (const Error& e) {
        set_error(ctx, fn, e.what(), sqlite_code_of(e.kind()));
    } catch (const SqliteError& e) {
        const int primary = e.code() & 0xff;
        if (primary == SQLITE_NOMEM) {
            sqlite3_result_error_nomem(ctx);
        } else if (primary == SQLITE_READONLY) {
            // SQLite's words after ours, with its (extended) code: the state lives in main.
            try {
                set_error(ctx, fn, failure_message(Failure::read_only_database, "", {e.what()}), e.code());
            } catch (...) {
                sqlite3_result_error_nomem(ctx);
            }
        } else {
            set_error(ctx, fn, e.what(), e.code());
        }
    } catch (const std::bad_alloc&) {
        sqlite3_result_error_nomem(ctx);
    } catch (const std::exception& e) {
        set_error(ctx, fn, e.what(), SQLITE_ERROR);
    } catch (...) {
        set_error(ctx, fn, "unexpected internal error", SQLITE_ERROR);
    }
}

void expect_args(const Signature& signature, int argc) {
    const int min = signature.required;
    const int max = signature.accepted();
    if (argc >= min && argc <= max) return;
    const auto count = [](int n) { return std::to_string(n) + (n == 1 ? " argument" : " arguments"); };
    const std::string expected =
        min == max ? count(min) : std::to_string(min) + " or " + std::to_string(max) + " arguments";
    fail(Failure::wrong_argument_count, "", {expected, std::to_string(argc)});
}

std::string_view text_of(sqlite3_value* value) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
    if (text == nullptr) throw std::bad_alloc();
    return {text, static_cast<std::size_t>(sqlite3_value_bytes(value))};
}

}  // namespace

void release_binding(void* binding) noexcept {
    auto* b = static_cast<FunctionBinding*>(binding);
    Connection::release(b->conn);
    delete b;
}

void call_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    const auto& binding = *static_cast<const FunctionBinding*>(sqlite3_user_data(ctx));
    const Signature& signature = binding.spec->signature;
    try {
        // Registered with nArg = -1: the count is checked here so that a wrong count also
        // reads "<function>: expected ...", like every other error.
        expect_args(signature, argc);
        Call call(ctx, argc, argv, *binding.conn, signature);
        binding.spec->body(call);
    } catch (...) {
        report_current_exception(ctx, signature.name);
    }
}

// ---- decoding ---------------------------------------------------------------------------

Bytes key_arg(Arg arg) {
    Bytes b;
    switch (arg.type()) {
        case SQLITE_NULL:
            throw_null_argument(arg.name);
        case SQLITE_BLOB:
            b.data = static_cast<const char*>(sqlite3_value_blob(arg.value));
            b.size = sqlite3_value_bytes(arg.value);
            b.is_blob = true;
            if (b.data == nullptr && b.size > 0) throw std::bad_alloc();
            break;
        case SQLITE_FLOAT:
            fail(Failure::argument_wrong_type, arg.name, {"text, blob or integer"});
        default: {
            const std::string_view text = text_of(arg.value);
            b.data = text.data();
            b.size = static_cast<int>(text.size());
            break;
        }
    }
    validate_key_arg(b.view(), arg.name);
    return b;
}

DedupKey dedup_key_of(Arg scope, Arg key) {
    const Bytes s = key_arg(scope);
    const Bytes k = key_arg(key);
    return compute_dedup_key(s.view(), k.view());
}

Duration duration_arg(Arg arg) {
    switch (arg.type()) {
        case SQLITE_NULL:
            throw_null_argument(arg.name);
        case SQLITE_INTEGER:
            return duration_from_seconds(static_cast<long long>(sqlite3_value_int64(arg.value)), arg.name);
        case SQLITE_FLOAT:
            return duration_from_seconds(sqlite3_value_double(arg.value), arg.name);
        case SQLITE_TEXT:
            return parse_duration(text_of(arg.value), arg.name);
        default:
            fail(Failure::argument_wrong_type, arg.name, {"seconds or a duration such as '48h', not a blob"});
    }
}

std::string_view json_arg(Arg arg) {
    switch (arg.type()) {
        case SQLITE_NULL:
            throw_null_argument(arg.name);
        case SQLITE_BLOB:
            fail(Failure::argument_wrong_type, arg.name, {"JSON text, not a blob"});
        case SQLITE_FLOAT:
            fail(Failure::argument_wrong_type, arg.name, {"JSON text, not a REAL"});
        default:
            return text_of(arg.value);
    }
}

std::string_view text_arg(Arg arg) {
    if (arg.is_null()) throw_null_argument(arg.name);
    if (arg.type() != SQLITE_TEXT) fail(Failure::argument_wrong_type, arg.name, {"text"});
    return text_of(arg.value);
}

std::int64_t purge_batch_arg(Arg arg) {
    if (arg.is_null()) throw_null_argument(arg.name);
    if (sqlite3_value_numeric_type(arg.value) != SQLITE_INTEGER) throw_purge_batch_not_integer();
    return checked_purge_batch(sqlite3_value_int64(arg.value));
}

}  // namespace exactly_once::sqlite
