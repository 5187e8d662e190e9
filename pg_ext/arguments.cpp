// Decoding arguments and reading the clock (arguments.hpp).
#include "pg_ext/arguments.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/uuid.h"
}

const EoText* eo_text_arg(FunctionCallInfo fcinfo, int n, EoText* out) {
    if (PG_ARGISNULL(n)) return nullptr;
    text* t = PG_GETARG_TEXT_PP(n);
    *out = EoText{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
    return out;
}

exactly_once::DedupKey eo_key_or_raise(const char* fn, const EoText* scope, const char* scope_arg, const EoText* key,
                                       const char* key_arg, std::size_t max_bytes) {
    exactly_once::DedupKey dk;
    eo_run(fn, [&] {
        if (!scope) exactly_once::throw_null_argument(scope_arg);
        if (!key) exactly_once::throw_null_argument(key_arg);
        const std::string_view s(scope->data, scope->len), k(key->data, key->len);
        exactly_once::validate_key_arg(s, scope_arg, max_bytes);
        exactly_once::validate_key_arg(k, key_arg, max_bytes);
        dk = exactly_once::compute_dedup_key(s, k);
    });
    return dk;
}

Datum eo_uuid_datum(const std::array<std::uint8_t, 16>& bytes) {
    auto* u = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
    std::memcpy(u->data, bytes.data(), UUID_LEN);
    return UUIDPGetDatum(u);
}

TimestampTz eo_now() {
    static const exactly_once::SystemClock clock;
    return clock.now_us() - kUnixEpochToPgEpochMs * 1000;
}
