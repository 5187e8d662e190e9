// claim_once / is_claimed / release_claim / purge_expired.
//
// claim_once runs at most three statements through saved SPI plans (eo_claim_exec):
//  (a) INSERT ... ON CONFLICT (k) DO NOTHING               inserted      => true
//      The fresh-key path ends here: one statement. A concurrent inserter (or deleter) of the
//      same key makes it wait (speculative insertion); if that transaction rolled back (or the
//      delete committed) it inserts. It never raises unique_violation.
//  (b) SELECT expires_at > $now WHERE k = $1               live row      => false
//      The duplicate path ends here: two statements, no lock. A row gone meanwhile (released
//      or purged concurrently) sends us back to (a).
//  (c) UPDATE ... SET expires_at = $new WHERE k = $1 AND expires_at <= $now
//                                                           renewed       => true
//      Only for an expired row. UPDATE locks only qualifying rows; in READ COMMITTED a
//      concurrent renewer makes it wait and then re-check the new version (0 rows: back to (a)).
//  After kMaxClaimAttempts rounds raise 40001 (a retryable serialization failure).
// A duplicate (false) therefore takes no lock, assigns no xid and writes no WAL: consumers
// retrying duplicates in any order never wait for or deadlock with each other. (A single
// INSERT ... ON CONFLICT DO UPDATE ... WHERE expired would lock the row even when WHERE is false.)
// Under REPEATABLE READ/SERIALIZABLE, (a) or (c) racing a concurrent claim raises 40001.
//
// Clock: expiry uses the wall clock at the call (eo_now(): core's clock, like clock_timestamp()),
// not the transaction start (now()): a claim made late in a long transaction gets its full TTL,
// a claim that expires while a transaction runs counts as absent at once, and the answer
// agrees with the SQLite front end which also reads the clock at each call.
#include "pg_ext/claims.hpp"

#include "pg_ext/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
}

namespace {

constexpr std::int64_t kMaxTtlMs = std::chrono::duration_cast<std::chrono::milliseconds>(exactly_once::kMaxTtl).count();

// Every name is schema-qualified and every operator is OPERATOR(pg_catalog.x), so the plans
// cannot be redirected by the caller's search_path (the SQL functions pin it as well).
EoStatement claim_insert{"claim", "INSERT INTO exactly_once.claims (k, expires_at) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                         2, {UUIDOID, TIMESTAMPTZOID}, SPI_OK_INSERT};
EoStatement claim_renew{"claim renewal",
                        "UPDATE exactly_once.claims SET expires_at = $2 "
                        "WHERE k OPERATOR(pg_catalog.=) $1 AND expires_at OPERATOR(pg_catalog.<=) $3",
                        3, {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, SPI_OK_UPDATE};
EoStatement claim_live{"claim check",
                       "SELECT expires_at OPERATOR(pg_catalog.>) $2 FROM exactly_once.claims WHERE k OPERATOR(pg_catalog.=) $1",
                       2, {UUIDOID, TIMESTAMPTZOID}, SPI_OK_SELECT};
// Re-stamps a row this transaction has just inserted or renewed (it holds the row lock).
EoStatement claim_restamp{"claim re-stamp", "UPDATE exactly_once.claims SET expires_at = $2 WHERE k OPERATOR(pg_catalog.=) $1",
                          2, {UUIDOID, TIMESTAMPTZOID}, SPI_OK_UPDATE};
constexpr int kMaxClaimAttempts = 5;
// A statement that took longer than this waited for another transaction: the expiry it
// wrote, computed before the wait, is re-stamped from the clock after it.
constexpr TimestampTz kRestampAfterUs = 1000;
EoStatement is_claimed_stmt{"is_claimed",
                            "SELECT 1 FROM exactly_once.claims "
                            "WHERE k OPERATOR(pg_catalog.=) $1 AND expires_at OPERATOR(pg_catalog.>) $2",
                            2, {UUIDOID, TIMESTAMPTZOID}, SPI_OK_SELECT};
EoStatement release_stmt{"release_claim",
                         "DELETE FROM exactly_once.claims WHERE k OPERATOR(pg_catalog.=) $1 "
                         "RETURNING expires_at OPERATOR(pg_catalog.>) $2",
                         2, {UUIDOID, TIMESTAMPTZOID}, SPI_OK_DELETE_RETURNING};
// One batch: lock at most $2 expired rows, skipping rows a concurrent claim holds, delete them.
EoStatement purge_stmt{"purge",
                       "DELETE FROM exactly_once.claims AS c "
                       "WHERE c.k OPERATOR(pg_catalog.=) ANY (ARRAY("
                       "  SELECT d.k FROM exactly_once.claims AS d WHERE d.expires_at OPERATOR(pg_catalog.<=) $1 "
                       "  LIMIT $2 FOR UPDATE SKIP LOCKED)) "
                       "AND c.expires_at OPERATOR(pg_catalog.<=) $1",
                       2, {TIMESTAMPTZOID, INT8OID}, SPI_OK_DELETE};

exactly_once::DedupKey key_from_args(const char* fn, FunctionCallInfo fcinfo) {
    EoText scope, key;
    return eo_key_or_raise(fn, eo_text_arg(fcinfo, 0, &scope), "scope", eo_text_arg(fcinfo, 1, &key), "key");
}

Datum claim_with_ttl_ms(const exactly_once::DedupKey* dk, std::int64_t ttl_ms) {
    const EoTtl ttl{nullptr, ttl_ms * 1000};
    PG_RETURN_BOOL(eo_claim_exec(dk, &ttl));
}

// Sets the row's expiry to ttl after the current clock when `since` is more than
// kRestampAfterUs ago, i.e. when the statement that wrote it had to wait.
void restamp_if_waited(Datum key, const EoTtl* ttl, TimestampTz since) {
    const TimestampTz after = eo_now();
    if (after - since <= kRestampAfterUs) return;
    Datum values[2] = {key, TimestampTzGetDatum(eo_expiry_after(after, ttl))};
    if (eo_execute(&claim_restamp, values) != 1) elog(ERROR, "exactly_once: claim re-stamp found no row");
}

}  // namespace

TimestampTz eo_expiry_after(TimestampTz now, const EoTtl* ttl) {
    if (ttl->interval == nullptr) return now + ttl->ttl_us;
    const TimestampTz expires = DatumGetTimestampTz(
        DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(now), IntervalPGetDatum(ttl->interval)));
    return expires - now < 1000 ? now + 1000 : expires;  // millisecond precision, as in the core
}

// Each statement reads the clock when it starts, and a row written after a wait is re-stamped,
// so that waiting for another transaction neither shortens the TTL nor judges liveness by a
// stale clock (a wait longer than the TTL would otherwise let two callers both get true).
bool eo_claim_exec(const exactly_once::DedupKey* k, const EoTtl* ttl) {
    Datum values[3];
    values[0] = eo_uuid_datum(k->bytes);
    EoSavedUser caller;
    eo_state_begin(&caller);
    for (int attempt = 0; attempt < kMaxClaimAttempts; ++attempt) {
        // (a) a new claim
        TimestampTz now = eo_now();
        values[1] = TimestampTzGetDatum(eo_expiry_after(now, ttl));
        if (eo_execute(&claim_insert, values) > 0) {
            restamp_if_waited(values[0], ttl, now);
            eo_state_end(&caller);
            return true;
        }
        // (b) the row that conflicted: live => false (the duplicate path: two statements, no
        // lock); gone (released or purged since) => again from (a)
        now = eo_now();
        Datum live_values[2] = {values[0], TimestampTzGetDatum(now)};
        if (eo_execute(&claim_live, live_values, nullptr, 1) == 0) continue;
        bool isnull = true;
        const Datum live = eo_result(&isnull);
        if (!isnull && DatumGetBool(live)) {
            eo_state_end(&caller);
            return false;
        }
        // (c) expired: renew it under a row lock on that row only. A concurrent renewer makes
        // the UPDATE wait and re-check the new version (READ COMMITTED): 0 rows => again.
        values[1] = TimestampTzGetDatum(eo_expiry_after(now, ttl));
        values[2] = TimestampTzGetDatum(now);
        if (eo_execute(&claim_renew, values) > 0) {
            restamp_if_waited(values[0], ttl, now);
            eo_state_end(&caller);
            return true;
        }
    }
    char attempts[16];
    snprintf(attempts, sizeof attempts, "%d", kMaxClaimAttempts);
    eo_fail("claim_once", exactly_once::Failure::claim_contended, nullptr, attempts);
}

std::int64_t eo_ttl_from_text_or_raise(const char* fn, const char* text, std::size_t len) {
    std::int64_t ms = 0;
    eo_run(fn, [&] { ms = exactly_once::parse_duration(std::string_view(text, len), "ttl").count(); });
    return ms;
}

std::uint64_t eo_purge_batch(int max_rows) {
    Datum values[2] = {TimestampTzGetDatum(eo_now()), Int64GetDatum(max_rows)};
    return eo_execute(&purge_stmt, values);
}

extern "C" {
PG_FUNCTION_INFO_V1(eo_claim_once);
PG_FUNCTION_INFO_V1(eo_claim_once_interval);
PG_FUNCTION_INFO_V1(eo_claim_once_seconds);
PG_FUNCTION_INFO_V1(eo_claim_once_text);
PG_FUNCTION_INFO_V1(eo_is_claimed);
PG_FUNCTION_INFO_V1(eo_release_claim);
PG_FUNCTION_INFO_V1(eo_purge_expired);
}

// claim_once(scope, key): TTL from exactly_once.default_ttl (parsed when it was set).
extern "C" Datum eo_claim_once(PG_FUNCTION_ARGS) {
    const exactly_once::DedupKey dk = key_from_args("claim_once", fcinfo);
    return claim_with_ttl_ms(&dk, eo_default_ttl_ms);
}

// claim_once(scope, key, ttl interval): calendar-aware (now + interval), must be > 0 and at most
// 36500 days (kMaxTtl, "100 years" of 365 days; interval '100 years' is longer and rejected). The
// core first decides from the fields alone what no calendar can change (classify_interval_ttl),
// so that an interval whose sum with now would overflow is refused by name; the rest is checked
// exactly on the calendar. A positive interval under 1 ms counts as 1 ms, as in the core (TTLs
// have millisecond precision).
extern "C" Datum eo_claim_once_interval(PG_FUNCTION_ARGS) {
    const exactly_once::DedupKey dk = key_from_args("claim_once", fcinfo);
    if (PG_ARGISNULL(2)) eo_fail("claim_once", exactly_once::Failure::argument_null, "ttl");
    Interval* ttl = PG_GETARG_INTERVAL_P(2);
    switch (exactly_once::classify_interval_ttl(ttl->month, ttl->day, ttl->time)) {
        case exactly_once::IntervalTtl::not_positive: eo_fail("claim_once", exactly_once::Failure::ttl_not_positive, "ttl", "");
        case exactly_once::IntervalTtl::too_long: eo_fail("claim_once", exactly_once::Failure::ttl_too_long, "ttl");
        case exactly_once::IntervalTtl::check_calendar: break;
    }
    const TimestampTz now = eo_now();
    const TimestampTz expires = DatumGetTimestampTz(
        DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(now), IntervalPGetDatum(ttl)));
    if (expires <= now) eo_fail("claim_once", exactly_once::Failure::ttl_not_positive, "ttl", "");
    if ((expires - now) / 1000 > kMaxTtlMs) eo_fail("claim_once", exactly_once::Failure::ttl_too_long, "ttl");
    const EoTtl claim_ttl{ttl, 0};
    PG_RETURN_BOOL(eo_claim_exec(&dk, &claim_ttl));
}

// claim_once(scope, key, ttl bigint): seconds (integer arguments cast to bigint implicitly).
extern "C" Datum eo_claim_once_seconds(PG_FUNCTION_ARGS) {
    const exactly_once::DedupKey dk = key_from_args("claim_once", fcinfo);
    if (PG_ARGISNULL(2)) eo_fail("claim_once", exactly_once::Failure::argument_null, "ttl");
    const long long seconds = PG_GETARG_INT64(2);
    std::int64_t ms = 0;
    eo_run("claim_once", [&] { ms = exactly_once::duration_from_seconds(seconds, "ttl").count(); });
    return claim_with_ttl_ms(&dk, ms);
}

// claim_once(scope, key, ttl text): '90s', '15m', '48h', '7d', '1h30m', '3600'.
extern "C" Datum eo_claim_once_text(PG_FUNCTION_ARGS) {
    const exactly_once::DedupKey dk = key_from_args("claim_once", fcinfo);
    if (PG_ARGISNULL(2)) eo_fail("claim_once", exactly_once::Failure::argument_null, "ttl");
    text* t = PG_GETARG_TEXT_PP(2);
    const std::int64_t ms = eo_ttl_from_text_or_raise("claim_once", VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
    return claim_with_ttl_ms(&dk, ms);
}

// is_claimed(scope, key): a live (unexpired) claim exists and is visible to this transaction.
extern "C" Datum eo_is_claimed(PG_FUNCTION_ARGS) {
    const exactly_once::DedupKey dk = key_from_args("is_claimed", fcinfo);
    EoSavedUser caller;
    eo_state_begin(&caller);
    Datum values[2] = {eo_uuid_datum(dk.bytes), TimestampTzGetDatum(eo_now())};
    const bool live = eo_execute(&is_claimed_stmt, values, nullptr, 1) > 0;
    eo_state_end(&caller);
    PG_RETURN_BOOL(live);
}

// release_claim(scope, key): deletes the claim; true when a live claim was released.
extern "C" Datum eo_release_claim(PG_FUNCTION_ARGS) {
    const exactly_once::DedupKey dk = key_from_args("release_claim", fcinfo);
    EoSavedUser caller;
    eo_state_begin(&caller);
    Datum values[2] = {eo_uuid_datum(dk.bytes), TimestampTzGetDatum(eo_now())};
    bool live = false;
    if (eo_execute(&release_stmt, values) > 0) {
        bool isnull = true;
        const Datum d = eo_result(&isnull);
        live = !isnull && DatumGetBool(d);
    }
    eo_state_end(&caller);
    PG_RETURN_BOOL(live);
}

// purge_expired(max_rows int default 10000) -> bigint: deletes at most max_rows expired claims
// in one statement. Rows a concurrent claim is renewing are skipped (SKIP LOCKED), so purge
// never waits for claims, and a claim waits for a purge at most one batch (one transaction).
extern "C" Datum eo_purge_expired(PG_FUNCTION_ARGS) {
    const bool is_null = PG_ARGISNULL(0);
    const int given = is_null ? 0 : PG_GETARG_INT32(0);
    int max_rows = 0;
    eo_run("purge_expired", [&] {
        if (is_null) exactly_once::throw_null_argument(exactly_once::kPurgeBatchArgument);
        max_rows = static_cast<int>(exactly_once::checked_purge_batch(given));
    });
    EoSavedUser caller;
    eo_state_begin(&caller);
    const std::uint64_t n = eo_purge_batch(max_rows);
    eo_state_end(&caller);
    PG_RETURN_INT64(static_cast<int64>(n));
}
