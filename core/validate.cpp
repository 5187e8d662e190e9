#include "core/validate.hpp"

#include <cstddef>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/errors.hpp"

namespace exactly_once {

[[noreturn]] void throw_null_argument(std::string_view argument) {
    fail(Failure::argument_null, argument);
}

void throw_too_large(std::string_view argument, std::size_t bytes, std::size_t max_bytes) {
    fail(Failure::argument_too_large, argument, {std::to_string(bytes), std::to_string(max_bytes)});
}

void validate_key_arg(std::string_view value, std::string_view argument, std::size_t max_bytes) {
    if (value.empty())
        fail(Failure::argument_empty, argument);
    if (value.size() > max_bytes) throw_too_large(argument, value.size(), max_bytes);
}

namespace {

using json = nlohmann::json;


// Checks shared by payload and headers, before any parsing: size, and the bytes that a
// JSON parser would silently skip or stop at, so that what we validate is exactly what
// we store (a NUL would end the text early for C-string consumers, including SQLite's
// own json functions; a byte-order mark is not JSON and other tools reject it).
void check_raw_text(std::string_view text, std::string_view argument, std::size_t max_bytes) {
    if (text.size() > max_bytes)
        throw_too_large(argument, text.size(), max_bytes);
    if (std::memchr(text.data(), '\0', text.size()) != nullptr)
        fail(Failure::json_nul_byte, argument);
    if (text.starts_with("\xEF\xBB\xBF")) fail(Failure::json_byte_order_mark, argument);
}

// SAX handler that accepts any JSON value nested at most kMaxJsonDepth deep: the limit of
// SQLite's json functions, so every stored payload stays readable from SQL. No DOM is
// built, so memory stays flat however large the payload.
class PayloadChecker final : public json::json_sax_t {
public:
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return enter(); }
    bool key(string_t&) override { return true; }
    bool end_object() override { return leave(); }
    bool start_array(std::size_t) override { return enter(); }
    bool end_array() override { return leave(); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

    bool too_deep = false;

private:
    bool enter() {
        if (++depth_ > kMaxJsonDepth) {
            too_deep = true;
            return false;
        }
        return true;
    }
    bool leave() {
        --depth_;
        return true;
    }
    std::size_t depth_ = 0;
};

// SAX handler for headers: exactly one object whose values are all strings, each name once.
class HeadersChecker final : public json::json_sax_t {
public:
    enum class Problem { none, syntax, not_object, not_string, duplicate };

    bool null() override { return value_must_be_string(); }
    bool boolean(bool) override { return value_must_be_string(); }
    bool number_integer(number_integer_t) override { return value_must_be_string(); }
    bool number_unsigned(number_unsigned_t) override { return value_must_be_string(); }
    bool number_float(number_float_t, const string_t&) override { return value_must_be_string(); }
    bool binary(binary_t&) override { return value_must_be_string(); }
    bool string(string_t&) override { return depth_ == 1 || fail(Problem::not_object); }
    bool start_object(std::size_t) override { return ++depth_ == 1 || value_must_be_string(); }
    bool key(string_t& name) override {
        if (!names_.insert(name).second) {
            detail = excerpt(name);
            return fail(Problem::duplicate);
        }
        current_ = name;
        return true;
    }
    bool end_object() override {
        --depth_;
        return true;
    }
    bool start_array(std::size_t) override { return value_must_be_string(); }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        if (problem == Problem::none) problem = Problem::syntax;
        return false;
    }

    Problem problem = Problem::none;
    std::string detail;

private:
    bool value_must_be_string() {
        if (depth_ == 0) return fail(Problem::not_object);
        detail = excerpt(current_);
        return fail(Problem::not_string);
    }
    bool fail(Problem p) {
        problem = p;
        return false;
    }
    int depth_ = 0;
    std::string current_;
    std::set<std::string> names_;
};

// ---- numbers of any size --------------------------------------------------------------
// JSON numbers have arbitrary precision, and both engines store 1e400 or a 400-digit integer
// as given. nlohmann's parser, though, converts every number to a double and treats a
// non-finite one as a parse error. Validation needs only the grammar, never the value, so the
// parser reads the text through NumberClampIterator, which rewrites each number token
// (outside string literals) into one of the same grammar but bounded magnitude: integer and
// fraction digit runs are cut after kKeptDigits digits, exponent digits become '0'. Every
// other byte passes unchanged, so a valid text stays valid, an invalid one stays invalid
// (the cut runs keep their first digits, so "01" stays "01"), and strtod never overflows.
// tests/fuzz/json_validation checks this against SQLite's json_valid.
class NumberScanner {
public:
    enum class Action { keep, zero, drop };

    Action consume(char c) noexcept {
        switch (state_) {
            case State::string:
                if (c == '\\') state_ = State::string_escape;
                else if (c == '"') state_ = State::outside;
                return Action::keep;
            case State::string_escape:
                state_ = State::string;
                return Action::keep;
            case State::integer:
                if (is_digit(c)) return ++run_ > kKeptDigits ? Action::drop : Action::keep;
                if (c == '.') return start_run(State::fraction);
                if (c == 'e' || c == 'E') return start_run(State::exponent_start);
                break;
            case State::fraction:
                if (is_digit(c)) return ++run_ > kKeptDigits ? Action::drop : Action::keep;
                if (c == 'e' || c == 'E') return start_run(State::exponent_start);
                break;
            case State::exponent_start:
                if (c == '+' || c == '-') return start_run(State::exponent);
                if (is_digit(c)) {
                    state_ = State::exponent;
                    return Action::zero;
                }
                break;
            case State::exponent:
                if (is_digit(c)) return Action::zero;
                break;
            case State::outside:
                break;
        }
        // Outside any token we track (or a number just ended at c).
        state_ = State::outside;
        if (c == '"') {
            state_ = State::string;
        } else if (c == '-') {
            run_ = 0;
            state_ = State::integer;
        } else if (is_digit(c)) {
            run_ = 1;
            state_ = State::integer;
        }
        return Action::keep;
    }

private:
    enum class State { outside, string, string_escape, integer, fraction, exponent_start, exponent };
    static constexpr int kKeptDigits = 18;  // below 2^63: an integer part stays an int64
    static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
    Action start_run(State next) noexcept {
        state_ = next;
        run_ = 0;
        return Action::keep;
    }
    State state_ = State::outside;
    int run_ = 0;
};

// An input iterator over the text as NumberScanner rewrites it (nlohmann's iterator input).
class NumberClampIterator {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    NumberClampIterator(const char* at, const char* end) noexcept : at_(at), end_(end) { settle(); }

    const char& operator*() const noexcept { return out_; }
    NumberClampIterator& operator++() noexcept {
        ++at_;
        settle();
        return *this;
    }
    bool operator==(const NumberClampIterator& other) const noexcept { return at_ == other.at_; }
    bool operator!=(const NumberClampIterator& other) const noexcept { return at_ != other.at_; }

private:
    // Moves past dropped bytes to the next byte to hand out.
    void settle() noexcept {
        for (; at_ != end_; ++at_) {
            const NumberScanner::Action action = scanner_.consume(*at_);
            if (action == NumberScanner::Action::drop) continue;
            out_ = action == NumberScanner::Action::zero ? '0' : *at_;
            return;
        }
    }
    const char* at_;
    const char* end_;
    NumberScanner scanner_;
    char out_ = 0;
};

template <class Sax>
bool parse_with_any_numbers(std::string_view text, Sax* sax) {
    const char* begin = text.data();
    const char* end = begin + text.size();
    return json::sax_parse(NumberClampIterator(begin, end), NumberClampIterator(end, end), sax,
                           json::input_format_t::json, /*strict=*/true);
}

}  // namespace

void validate_json_payload(std::string_view json_text, std::string_view argument) {
    check_raw_text(json_text, argument, kMaxPayloadBytes);
    PayloadChecker checker;
    if (!parse_with_any_numbers(json_text, &checker)) {
        if (checker.too_deep)
            fail(Failure::json_too_deep, argument, {std::to_string(kMaxJsonDepth)});
        fail(Failure::json_invalid, argument);
    }
}

void throw_headers_not_object(std::string_view argument) { fail(Failure::headers_not_object, argument); }

void throw_header_not_string(std::string_view name, std::string_view argument) {
    fail(Failure::header_not_string, argument, {excerpt(name)});
}

void validate_json_headers(std::string_view json_text, std::string_view argument) {
    check_raw_text(json_text, argument, kMaxHeadersBytes);
    HeadersChecker checker;
    if (parse_with_any_numbers(json_text, &checker)) return;
    using P = HeadersChecker::Problem;
    switch (checker.problem) {
        case P::duplicate: fail(Failure::header_named_twice, argument, {checker.detail});
        case P::not_string: throw_header_not_string(checker.detail, argument);
        case P::not_object: throw_headers_not_object(argument);
        case P::syntax:
        case P::none: break;
    }
    fail(Failure::json_invalid, argument);
}

}  // namespace exactly_once
