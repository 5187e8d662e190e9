// Background purge worker. Registered by _PG_init when exactly_once is in
// shared_preload_libraries and exactly_once.purge_interval > 0 at server start. Every
// purge_interval seconds it connects to exactly_once.purge_database and deletes expired claims
// in batches of exactly_once.purge_batch_size, one transaction per batch, so a concurrent claim
// never waits for more than one batch. Databases without the extension are left alone.
// This file holds no C++ objects: everything here may longjmp.
#include "pg_ext/pg_common.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void eo_purge_worker_main(Datum arg);
}

namespace {

// One batch in its own transaction; returns rows deleted, or -1 when the extension is absent.
long purge_one_batch(int batch) {
    long n = -1;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "exactly_once purge worker: SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "exactly_once: purge expired claims");
    const int rc = SPI_execute("SELECT pg_catalog.to_regclass('exactly_once.claims') IS NOT NULL", true, 1);
    bool present = false;
    if (rc == SPI_OK_SELECT && SPI_processed == 1) {
        bool isnull = true;
        const Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        present = !isnull && DatumGetBool(d);
    }
    if (present) n = static_cast<long>(eo_purge_batch(batch));
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_stat(true);
    pgstat_report_activity(STATE_IDLE, nullptr);
    return n;
}

}  // namespace

extern "C" void eo_purge_worker_main(Datum) {
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(eo_purge_database, nullptr, 0);
    elog(LOG, "exactly_once purge worker started (database \"%s\", every %d s)", eo_purge_database,
         eo_purge_interval_s);

    for (;;) {
        const long timeout_ms = eo_purge_interval_s > 0 ? static_cast<long>(eo_purge_interval_s) * 1000L : 60000L;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        if (eo_purge_interval_s <= 0) continue;  // paused by a reload

        long total = 0;
        for (;;) {
            const int batch = eo_purge_batch_size;
            const long n = purge_one_batch(batch);
            if (n <= 0) break;
            total += n;
            if (n < batch) break;
            CHECK_FOR_INTERRUPTS();
        }
        if (total > 0) elog(DEBUG1, "exactly_once purge worker: removed %ld expired claims", total);
    }
}
