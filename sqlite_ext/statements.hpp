// Named statements. Every SQL statement the extension runs is one StatementSpec constant,
// written next to the code that runs it (claims.cpp, outbox.cpp, config.cpp, schema.cpp);
// the Connection caches one prepared copy per spec, found by the spec's address, so adding a
// statement is adding a constant. Table names are written {claims}, {outbox}, ... and
// replaced at compile time from kSchemaNames (sqlite_ext/schema_names.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "sqlite_ext/schema_names.hpp"

namespace exactly_once::sqlite {

struct StatementSpec {
    enum Use {
        repeated,  // run by calls again and again: cached while the connection lives
        rare,      // schema creation and upgrade: prepared for each use, never cached
    };
    const char* name;  // says what the statement does, for readers and debuggers
    const char* sql;   // names already expanded: use sql<"..."> below
    Use use = repeated;
};

namespace detail {

// A string literal as a template argument.
template <std::size_t N>
struct SqlLiteral {
    char text[N]{};
    consteval SqlLiteral(const char (&s)[N]) {
        for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
    }
    constexpr std::string_view view() const { return {text, N - 1}; }
};

// Writes `sql` with each {placeholder} replaced to `out` (when not null); returns the length.
constexpr std::size_t expand_names(std::string_view sql, char* out) {
    std::size_t n = 0;
    const auto put = [&](char c) {
        if (out != nullptr) out[n] = c;
        ++n;
    };
    for (std::size_t i = 0; i < sql.size();) {
        if (sql[i] != '{') {
            put(sql[i++]);
            continue;
        }
        // A plain loop, not string_view::find: under UBSan, GCC 12 cannot evaluate find's
        // null-pointer check at compile time.
        std::size_t close = i + 1;
        while (close < sql.size() && sql[close] != '}') ++close;
        if (close == sql.size()) throw "sqlite_ext/statements.hpp: unclosed { in SQL";
        for (char c : schema_name(sql.substr(i + 1, close - i - 1))) put(c);
        i = close + 1;
    }
    return n;
}

template <SqlLiteral S>
struct ExpandedSql {
    static constexpr std::size_t size = expand_names(S.view(), nullptr);
    static constexpr std::array<char, size + 1> text = [] {
        std::array<char, size + 1> out{};
        expand_names(S.view(), out.data());
        return out;
    }();
};

}  // namespace detail

// The SQL text S with its {placeholders} replaced by our names, as a NUL-terminated constant.
template <detail::SqlLiteral S>
inline constexpr const char* sql = detail::ExpandedSql<S>::text.data();

}  // namespace exactly_once::sqlite
