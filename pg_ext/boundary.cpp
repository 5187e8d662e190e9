// The C++/PostgreSQL error boundary (boundary.hpp).
#include "pg_ext/boundary.hpp"

void eo_set_error(EoError* err, const char* sqlstate, const char* message) noexcept {
    std::size_t i = 0;
    for (; i < 5 && sqlstate[i]; ++i) err->sqlstate[i] = sqlstate[i];
    for (; i < 5; ++i) err->sqlstate[i] = '0';
    err->sqlstate[5] = '\0';
    std::size_t n = std::strlen(message);
    if (n >= sizeof err->message) {
        // Cut at a character boundary: back up over UTF-8 continuation bytes (10xxxxxx) so the
        // message never ends in half a character (the server would reject it as invalid).
        n = sizeof err->message - 1;
        while (n > 0 && (static_cast<unsigned char>(message[n]) & 0xC0) == 0x80) --n;
    }
    std::memcpy(err->message, message, n);
    err->message[n] = '\0';
}

extern "C" void eo_raise_msg(const char* fn, const char* s, const char* message) {
    ereport(ERROR, (errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])), errmsg("%s: %s", fn, message)));
    pg_unreachable();
}

extern "C" void eo_raise(const char* fn, const EoError* err) { eo_raise_msg(fn, err->sqlstate, err->message); }

void eo_fail(const char* fn, exactly_once::Failure failure, const char* argument, const char* detail1,
             const char* detail2) {
    eo_run(fn, [&] {
        const std::string_view arg = argument ? argument : "";
        if (detail2) exactly_once::fail(failure, arg, {detail1 ? detail1 : "", detail2});
        if (detail1) exactly_once::fail(failure, arg, {detail1});
        exactly_once::fail(failure, arg);
    });
    pg_unreachable();
}
