#include "core/schema_trust.hpp"

#include "core/errors.hpp"

namespace exactly_once {
namespace {

bool is_identifier_byte(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c >= 0x80;
}

unsigned char ascii_lower(unsigned char c) noexcept { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

}  // namespace

bool equal_ascii_ci(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(static_cast<unsigned char>(a[i])) != ascii_lower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

bool names_identifier(std::string_view sql, std::string_view name) noexcept {
    if (name.empty() || sql.size() < name.size()) return false;
    // Every maximal run of identifier bytes is one candidate token; quotes, brackets,
    // backticks, spaces, parentheses and operators all end a run.
    std::size_t i = 0;
    while (i < sql.size()) {
        if (!is_identifier_byte(static_cast<unsigned char>(sql[i]))) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < sql.size() && is_identifier_byte(static_cast<unsigned char>(sql[end]))) ++end;
        if (equal_ascii_ci(sql.substr(i, end - i), name)) return true;
        i = end;
    }
    return false;
}

std::string_view state_writer_named_in(std::string_view sql) noexcept {
    for (std::string_view fn : kStateWritingFunctions)
        if (names_identifier(sql, fn)) return fn;
    return {};
}

std::string untrusted_schema_message(std::string_view writer, std::string_view database,
                                     std::string_view object_type, std::string_view object_name) {
    const std::string db = excerpt(database);
    std::string quoted_db;  // as an SQL string literal
    for (char c : db) {
        quoted_db += c;
        if (c == '\'') quoted_db += '\'';
    }
    return failure_message(Failure::untrusted_schema, "",
                           {db, excerpt(object_type), excerpt(object_name), writer, quoted_db});
}

}  // namespace exactly_once
