// The exactly_once.* settings: their variables, their definitions, the default_ttl hooks.
#include "pg_ext/settings.hpp"

#include <climits>
#include <cstdlib>

#include "pg_ext/boundary.hpp"

extern "C" {
#include "utils/guc.h"

int eo_max_key_bytes = static_cast<int>(exactly_once::kDefaultMaxKeyBytes);
bool eo_logical_messages = false;
int eo_purge_interval_s = 0;
char* eo_purge_database = nullptr;
int eo_purge_batch_size = static_cast<int>(exactly_once::kDefaultPurgeBatch);
bool eo_notify = true;
static char* eo_default_ttl_string = nullptr;
}

std::int64_t eo_default_ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(exactly_once::kDefaultTtl).count();

namespace {

// Check hook: parse once with the core (inside the guard), hand the milliseconds to the assign
// hook through `extra` (malloc'd, as guc.c requires). A bad value is reported by GUC's own
// error, with the core's message as its detail, so eo_run (which raises) is not used here.
bool check_default_ttl(char** newval, void** extra, GucSource) {
    EoError err;
    std::int64_t ms = 0;
    const char* text = *newval ? *newval : "";
    const bool ok = eo_guard(&err, [&] {
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

void assign_default_ttl(const char*, void* extra) {
    if (extra) eo_default_ttl_ms = *static_cast<std::int64_t*>(extra);
}

}  // namespace

void eo_define_settings() {
    DefineCustomStringVariable("exactly_once.default_ttl",
                               "TTL of claims made without an explicit ttl (e.g. '24h', '90s', '1h30m').", nullptr,
                               &eo_default_ttl_string, "24h", PGC_USERSET, 0, check_default_ttl, assign_default_ttl,
                               nullptr);
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
    DefineCustomStringVariable("exactly_once.purge_database", "Database the purge worker purges (read at every round).",
                               nullptr, &eo_purge_database, "postgres", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("exactly_once.purge_batch_size", "Rows deleted per purge transaction by the background worker.",
                            nullptr, &eo_purge_batch_size, static_cast<int>(exactly_once::kDefaultPurgeBatch), 1,
                            INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("exactly_once.notify", "NOTIFY exactly_once_outbox when a transaction that emitted commits.",
                             nullptr, &eo_notify, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("exactly_once");
}
