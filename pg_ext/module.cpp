// Module entry: PG_MODULE_MAGIC, GUCs, the boundary helpers, dedup_key() and exactly_once_version().
#include "pg_ext/pg_common.hpp"

#include <climits>
#include <cstdlib>

extern "C" {
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/guc.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

void _PG_init(void);

int eo_max_key_bytes = static_cast<int>(exactly_once::kDefaultMaxKeyBytes);
bool eo_logical_messages = false;
int eo_purge_interval_s = 0;
char* eo_purge_database = nullptr;
int eo_purge_batch_size = static_cast<int>(exactly_once::kDefaultPurgeBatch);
bool eo_notify = true;
static char* eo_default_ttl_string = nullptr;
}

std::int64_t eo_default_ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(exactly_once::kDefaultTtl).count();

// ---------------------------------------------------------------- boundary helpers

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
    EoError err;
    eo_guard(&err, [&] {
        const std::string_view d1 = detail1 ? detail1 : "", d2 = detail2 ? detail2 : "";
        if (detail2) exactly_once::fail(failure, argument ? argument : "", {d1, d2});
        if (detail1) exactly_once::fail(failure, argument ? argument : "", {d1});
        exactly_once::fail(failure, argument ? argument : "");
    });
    eo_raise(fn, &err);
}

// ---------------------------------------------------------------- running as the state owner

// Owner of schema exactly_once, cached per backend; any change to a pg_namespace row
// (ALTER SCHEMA ... OWNER TO, DROP/CREATE EXTENSION) forgets it.
static Oid eo_state_owner_cache = InvalidOid;

static void eo_forget_state_owner(Datum, int, uint32) { eo_state_owner_cache = InvalidOid; }

static Oid eo_state_owner() {
    if (OidIsValid(eo_state_owner_cache)) return eo_state_owner_cache;
    const Oid nsp = get_namespace_oid("exactly_once", true);
    if (!OidIsValid(nsp))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_SCHEMA),
                        errmsg("exactly_once: schema \"exactly_once\" does not exist (is the extension installed?)")));
    HeapTuple tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
    if (!HeapTupleIsValid(tup)) elog(ERROR, "exactly_once: cache lookup failed for schema %u", nsp);
    const Oid owner = reinterpret_cast<Form_pg_namespace>(GETSTRUCT(tup))->nspowner;
    ReleaseSysCache(tup);
    eo_state_owner_cache = owner;
    return owner;
}

void eo_become_state_owner(EoSavedUser* saved) {
    const Oid owner = eo_state_owner();
    GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
    SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void eo_restore_user(const EoSavedUser* saved) { SetUserIdAndSecContext(saved->userid, saved->sec_context); }

// ---------------------------------------------------------------- GUC exactly_once.default_ttl

// Check hook: parse once with the core (inside the guard), hand the milliseconds to the assign
// hook through `extra` (malloc'd, as guc.c requires).
static bool eo_check_default_ttl(char** newval, void** extra, GucSource) {
    EoError err;
    std::int64_t ms = 0;
    const char* text = *newval ? *newval : "";
    bool ok = eo_guard(&err, [&] {
        ms = exactly_once::parse_duration(std::string_view(text, std::strlen(text)), "exactly_once.default_ttl").count();
    });
    if (!ok) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("%s", err.message);
        return false;
    }
    auto* p = static_cast<std::int64_t*>(std::malloc(sizeof(std::int64_t)));
    if (!p) return false;
    *p = ms;
    *extra = p;
    return true;
}

static void eo_assign_default_ttl(const char*, void* extra) {
    if (extra) eo_default_ttl_ms = *static_cast<std::int64_t*>(extra);
}

extern "C" void _PG_init(void) {
    DefineCustomStringVariable("exactly_once.default_ttl",
                               "TTL of claims made without an explicit ttl (e.g. '24h', '90s', '1h30m').", nullptr,
                               &eo_default_ttl_string, "24h", PGC_USERSET, 0, eo_check_default_ttl,
                               eo_assign_default_ttl, nullptr);
    // Superuser-only and at most the core's 64 KiB: it can only lower the limit of the claim and
    // outbox functions; dedup_key (IMMUTABLE) always applies the fixed 64 KiB limit.
    DefineCustomIntVariable("exactly_once.max_key_bytes",
                            "Largest scope, topic or key accepted by claim and outbox functions, in bytes "
                            "(dedup_key always allows 64 kB).",
                            nullptr, &eo_max_key_bytes, static_cast<int>(exactly_once::kDefaultMaxKeyBytes), 1,
                            static_cast<int>(exactly_once::kDefaultMaxKeyBytes), PGC_SUSET, GUC_UNIT_BYTE, nullptr,
                            nullptr, nullptr);
    DefineCustomBoolVariable("exactly_once.logical_messages",
                             "Also write every outbox event as a transactional logical decoding message "
                             "(prefix 'exactly_once') for CDC readers such as Debezium.",
                             nullptr, &eo_logical_messages, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("exactly_once.purge_interval",
                            "Seconds between purges by the background worker; 0 disables it. The worker only "
                            "exists when exactly_once is in shared_preload_libraries and this is > 0 at start.",
                            nullptr, &eo_purge_interval_s, 0, 0, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S, nullptr,
                            nullptr, nullptr);
    DefineCustomStringVariable("exactly_once.purge_database", "Database the purge worker purges (read at every round).", nullptr,
                               &eo_purge_database, "postgres", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("exactly_once.purge_batch_size",
                            "Rows deleted per purge transaction by the background worker.", nullptr,
                            &eo_purge_batch_size, static_cast<int>(exactly_once::kDefaultPurgeBatch), 1, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("exactly_once.notify",
                             "NOTIFY exactly_once_outbox when a transaction that emitted commits.", nullptr,
                             &eo_notify, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("exactly_once");
    CacheRegisterSyscacheCallback(NAMESPACEOID, eo_forget_state_owner, (Datum)0);

    if (process_shared_preload_libraries_in_progress && eo_purge_interval_s > 0) {
        BackgroundWorker worker;
        std::memset(&worker, 0, sizeof worker);
        // The launcher connects to no database; each round it starts a short-lived worker bound to
        // exactly_once.purge_database (purge_worker.cpp).
        worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
        worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
        worker.bgw_restart_time = 10;
        strlcpy(worker.bgw_library_name, "exactly_once", BGW_MAXLEN);
        strlcpy(worker.bgw_function_name, "eo_purge_launcher_main", BGW_MAXLEN);
        strlcpy(worker.bgw_name, "exactly_once purge launcher", BGW_MAXLEN);
        strlcpy(worker.bgw_type, "exactly_once purge launcher", BGW_MAXLEN);
        RegisterBackgroundWorker(&worker);
    }
}

// ---------------------------------------------------------------- key validation

exactly_once::DedupKey eo_key_or_raise(const char* fn, const EoText* scope, const char* scope_arg, const EoText* key,
                                       const char* key_arg, std::size_t max_bytes) {
    EoError err;
    exactly_once::DedupKey dk;
    if (!eo_guard(&err, [&] {
            if (!scope) exactly_once::throw_null_argument(scope_arg);
            if (!key) exactly_once::throw_null_argument(key_arg);
            const std::string_view s(scope->data, scope->len), k(key->data, key->len);
            exactly_once::validate_key_arg(s, scope_arg, max_bytes);
            exactly_once::validate_key_arg(k, key_arg, max_bytes);
            dk = exactly_once::compute_dedup_key(s, k);
        }))
        eo_raise(fn, &err);
    return dk;
}

// ---------------------------------------------------------------- shared helpers

const EoText* eo_text_arg(FunctionCallInfo fcinfo, int n, EoText* out) {
    if (PG_ARGISNULL(n)) return nullptr;
    text* t = PG_GETARG_TEXT_PP(n);
    *out = EoText{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
    return out;
}

Datum eo_uuid_datum(const std::array<std::uint8_t, 16>& bytes) {
    auto* u = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
    std::memcpy(u->data, bytes.data(), UUID_LEN);
    return UUIDPGetDatum(u);
}

SPIPlanPtr eo_saved_plan(SPIPlanPtr* slot, const char* sql, int nargs, Oid* types) {
    if (*slot == nullptr) {
        SPIPlanPtr p = SPI_prepare(sql, nargs, types);
        if (p == nullptr) elog(ERROR, "exactly_once: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        if (SPI_keepplan(p) != 0) elog(ERROR, "exactly_once: SPI_keepplan failed");
        *slot = p;
    }
    return *slot;
}

// ---------------------------------------------------------------- SQL functions

extern "C" {
PG_FUNCTION_INFO_V1(eo_dedup_key);
PG_FUNCTION_INFO_V1(eo_version);
}

// dedup_key(scope text, key text) -> uuid. IMMUTABLE; NULL raises 22004 (not STRICT on purpose).
// Its result depends on the arguments only: the size limit is the fixed core 64 KiB, never the
// exactly_once.max_key_bytes setting.
extern "C" Datum eo_dedup_key(PG_FUNCTION_ARGS) {
    EoText scope, key;
    const exactly_once::DedupKey dk =
        eo_key_or_raise("dedup_key", eo_text_arg(fcinfo, 0, &scope), "scope", eo_text_arg(fcinfo, 1, &key), "key",
                        exactly_once::kDefaultMaxKeyBytes);
    return eo_uuid_datum(dk.bytes);
}

extern "C" Datum eo_version(PG_FUNCTION_ARGS) { PG_RETURN_TEXT_P(cstring_to_text(exactly_once::kVersion)); }
