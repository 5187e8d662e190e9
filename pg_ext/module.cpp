// The module: PG_MODULE_MAGIC, _PG_init (settings, the purge worker), dedup_key() and
// exactly_once_version(). The capabilities are claims.cpp, outbox.cpp, triggers.cpp and
// purge_worker.cpp; the boundary, SPI and settings helpers have their own files.
#include "pg_ext/arguments.hpp"
#include "pg_ext/settings.hpp"

extern "C" {
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

extern "C" void _PG_init(void) {
    eo_define_settings();

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
