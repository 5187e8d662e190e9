// Payload and header validation against SQLite's JSON functions as the reference: json_valid
// for the grammar, json_type/json_each for "one object of string values, each name once".
// Our validators must accept exactly what the reference accepts, except for these deliberate,
// documented rules of ours (README "Limits"), which the oracle applies itself:
//   * a NUL byte or a leading byte-order mark is refused (SQLite would stop at / skip them);
//   * strings must be valid UTF-8 and \u escapes valid UTF-16 (no lone surrogate): SQLite's
//     json_valid does not check either, PostgreSQL's jsonb refuses both;
//   * nesting deeper than 1000 levels is refused (SQLite allows 2000).
// The size limits (16 MiB, 64 KiB) are far above what the fuzzer generates.
#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/errors.hpp"
#include "core/validate.hpp"

namespace {

sqlite3* reference_db() {
    static sqlite3* db = [] {
        sqlite3* d = nullptr;
        if (sqlite3_open(":memory:", &d) != SQLITE_OK) std::abort();
        return d;
    }();
    return db;
}

// The first integer of `sql` run with the text bound to every parameter.
long long query_int(const char* sql, std::string_view text) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(reference_db(), sql, -1, &st, nullptr) != SQLITE_OK) std::abort();
    for (int i = 1; i <= sqlite3_bind_parameter_count(st); ++i)
        if (sqlite3_bind_text(st, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC) != SQLITE_OK)
            std::abort();
    const int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) std::abort();
    const long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

// Strict UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        unsigned cp = 0, min = 0;
        if (b < 0x80) { ++i; continue; }
        if ((b & 0xE0) == 0xC0) { n = 1; cp = b & 0x1F; min = 0x80; }
        else if ((b & 0xF0) == 0xE0) { n = 2; cp = b & 0x0F; min = 0x800; }
        else if ((b & 0xF8) == 0xF0) { n = 3; cp = b & 0x07; min = 0x10000; }
        else return false;
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size()) return false;
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

// For text json_valid accepted: the deepest nesting, and whether every \u escape pairs its
// surrogates. (Valid JSON, so a plain scan with string tracking is exact.)
struct Shape {
    int depth = 0;
    bool surrogates_ok = true;
};

unsigned hex4(std::string_view s, std::size_t at) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
        const char c = s[at + k];
        v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

Shape shape_of(std::string_view s) {
    Shape out;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '"') {
                in_string = false;
            } else if (c == '\\') {
                if (s[i + 1] == 'u') {
                    const unsigned u = hex4(s, i + 2);
                    if (u >= 0xDC00 && u <= 0xDFFF) out.surrogates_ok = false;  // low without high
                    if (u >= 0xD800 && u <= 0xDBFF) {
                        const bool paired = i + 11 < s.size() && s[i + 6] == '\\' && s[i + 7] == 'u' &&
                                            hex4(s, i + 8) >= 0xDC00 && hex4(s, i + 8) <= 0xDFFF;
                        if (!paired) out.surrogates_ok = false;
                        if (paired) i += 6;
                    }
                    i += 5;
                } else {
                    ++i;
                }
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > out.depth) out.depth = depth;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return out;
}

template <class F>
bool accepts(F&& validate) {
    try {
        validate();
        return true;
    } catch (const exactly_once::Error&) {
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const bool ours_payload = accepts([&] { exactly_once::validate_json_payload(text); });
    const bool ours_headers = accepts([&] { exactly_once::validate_json_headers(text); });

    bool want_payload = false, want_headers = false;
    const bool raw_ok = std::memchr(text.data(), '\0', text.size()) == nullptr && !text.starts_with("\xEF\xBB\xBF") &&
                        valid_utf8(text);
    if (raw_ok && query_int("SELECT json_valid(?1)", text) == 1) {
        const Shape shape = shape_of(text);
        want_payload = shape.surrogates_ok && shape.depth <= 1000;
        want_headers = want_payload && query_int("SELECT json_type(?1) = 'object'", text) == 1 &&
                       query_int("SELECT count(*) = 0 FROM json_each(?1) WHERE type <> 'text'", text) == 1 &&
                       query_int("SELECT count(key) = count(DISTINCT key) FROM json_each(?1)", text) == 1;
    }
    if (ours_payload != want_payload) std::abort();
    if (ours_headers != want_headers) std::abort();
    return 0;
}
