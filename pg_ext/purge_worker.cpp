// Background purge. Registered by _PG_init when exactly_once is in shared_preload_libraries and
// exactly_once.purge_interval > 0 at server start.
//
// Two processes:
//  * the launcher (static worker, connected to no database) wakes every purge_interval
//    seconds, looks exactly_once.purge_database up in pg_database and, when it exists and
//    accepts connections, starts a short-lived purge worker bound to it and waits for it. A
//    missing database is logged once (again only after it reappeared and vanished), never a
//    FATAL restart loop. Because no process stays connected between rounds, DROP DATABASE of
//    the purge database is only ever delayed by one round (PostgreSQL waits up to 5 s for other
//    sessions to leave), never blocked. (If the database is dropped in the few milliseconds
//    between the lookup and the worker's connection, that one worker logs "database ... does
//    not exist" and exits; it is never restarted.)
//  * the purge worker (dynamic, never restarted) deletes expired claims in batches of
//    exactly_once.purge_batch_size, one transaction per batch (a concurrent claim never waits
//    for more than one batch), then exits.
//
// Security: the worker starts as the bootstrap superuser. It only touches exactly_once.claims
// when the extension exactly_once exists in the database AND that relation is a member of it
// (a role with CREATE on the database could otherwise plant its own exactly_once.claims with a
// DELETE trigger and have it run as superuser). The batch then runs as the owner of that table
// (the extension's owner, or the dedicated state owner of the least-privilege setup: never a
// superuser running a non-superuser owner's trigger) under SECURITY_RESTRICTED_OPERATION with
// search_path pinned, like autovacuum and maintenance commands run a table owner's code.
// This file holds no C++ objects: everything here may longjmp.
#include "pg_ext/claims.hpp"
#include "pg_ext/settings.hpp"
#include "pg_ext/spi.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PGDLLEXPORT void eo_purge_launcher_main(Datum arg);
PGDLLEXPORT void eo_purge_worker_main(Datum arg);
}

namespace {

// ------------------------------------------------------------------ the purge worker

// Owner of relation relid, or InvalidOid.
Oid relation_owner(Oid relid) {
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup)) return InvalidOid;
    const Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relowner;
    ReleaseSysCache(tup);
    return owner;
}

// The claims table of the installed extension, locked against DROP/RENAME for this transaction,
// and its owner (whose triggers, if any, are the code that can run); InvalidOid when the extension is absent or exactly_once.claims is
// not its member.
Oid extension_claims_relid(Oid* owner) {
    const Oid ext_oid = get_extension_oid("exactly_once", true);
    if (!OidIsValid(ext_oid)) return InvalidOid;
    const Oid nsp = get_namespace_oid("exactly_once", true);
    if (!OidIsValid(nsp)) return InvalidOid;
    const Oid relid = get_relname_relid("claims", nsp);
    if (!OidIsValid(relid)) return InvalidOid;
    LockRelationOid(relid, RowExclusiveLock);
    // Re-check under the lock: it still exists, is still named exactly_once.claims, and belongs
    // to the extension.
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) || get_relname_relid("claims", nsp) != relid ||
        getExtensionOfObject(RelationRelationId, relid) != ext_oid) {
        UnlockRelationOid(relid, RowExclusiveLock);
        return InvalidOid;
    }
    *owner = relation_owner(relid);
    return OidIsValid(*owner) ? relid : InvalidOid;
}

// One batch in its own transaction; returns rows deleted, or -1 when there is nothing of ours.
long purge_one_batch(int batch) {
    long n = -1;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "exactly_once: purge expired claims");
    Oid owner = InvalidOid;
    const Oid relid = extension_claims_relid(&owner);
    if (OidIsValid(relid)) {
        Oid save_userid = InvalidOid;
        int save_sec_context = 0;
        GetUserIdAndSecContext(&save_userid, &save_sec_context);
        SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
        const int save_nestlevel = NewGUCNestLevel();
        (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                                0, false);
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "exactly_once purge worker: SPI_connect failed");
        n = static_cast<long>(eo_purge_batch(batch));
        SPI_finish();
        AtEOXact_GUC(false, save_nestlevel);
        SetUserIdAndSecContext(save_userid, save_sec_context);
    }
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_stat(true);
    pgstat_report_activity(STATE_IDLE, nullptr);
    return n;
}

// ------------------------------------------------------------------ the launcher

enum class DbState { missing, no_connections, ok };

// Looks the database up in the shared catalog pg_database (the launcher is bound to no database).
Oid scan_database(const char* name, bool* allowconn) {
    Oid dboid = InvalidOid;
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tup;
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto* db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
        if (strcmp(NameStr(db->datname), name) == 0) {
            dboid = db->oid;
            *allowconn = db->datallowconn;
            break;
        }
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    return dboid;
}

DbState find_database(const char* name, Oid* dboid) {
    DbState state = DbState::missing;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    bool allowconn = false;
    Oid oid = scan_database(name, &allowconn);
    if (OidIsValid(oid)) {
        // A DROP DATABASE in progress holds AccessExclusiveLock on the database: wait for it to
        // end and look again, so the worker is not started into a database being dropped (it
        // would FATAL on connecting).
        LockSharedObject(DatabaseRelationId, oid, 0, AccessShareLock);
        InvalidateCatalogSnapshot();
        const Oid again = scan_database(name, &allowconn);
        if (again == oid) {
            *dboid = oid;
            state = allowconn ? DbState::ok : DbState::no_connections;
        }
    }
    CommitTransactionCommand();
    return state;
}

// Starts one purge worker for dboid and waits until it has exited. False when no worker slot
// was free.
bool run_purge_round(Oid dboid) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(worker.bgw_library_name, "exactly_once", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "eo_purge_worker_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "exactly_once purge worker", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "exactly_once purge", BGW_MAXLEN);
    worker.bgw_main_arg = ObjectIdGetDatum(dboid);
    worker.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle* handle = nullptr;
    if (!RegisterDynamicBackgroundWorker(&worker, &handle)) return false;
    pid_t pid = 0;
    if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
        (void)WaitForBackgroundWorkerShutdown(handle);
    pfree(handle);
    return true;
}


// Settings a database or role default (ALTER DATABASE/ROLE ... SET) could give the worker's
// session and that would make every round fail or stall: read-only or serializable
// transactions, timeouts. Overridden for the worker alone (PGC_S_OVERRIDE wins over every
// default), so purging depends on no user-settable default.
void override_session_defaults() {
    static const char* const kSettings[][2] = {
        {"default_transaction_read_only", "off"},
        {"default_transaction_isolation", "read committed"},
        {"default_transaction_deferrable", "off"},
        {"statement_timeout", "0"},
        {"lock_timeout", "0"},
        {"idle_in_transaction_session_timeout", "0"},
        {"idle_session_timeout", "0"},
        {"session_replication_role", "origin"},
    };
    for (const auto& kv : kSettings) SetConfigOption(kv[0], kv[1], PGC_SUSET, PGC_S_OVERRIDE);
}

}  // namespace

extern "C" void eo_purge_worker_main(Datum arg) {
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
    override_session_defaults();
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
    proc_exit(0);
}

extern "C" void eo_purge_launcher_main(Datum) {
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);  // shared catalogs only
    elog(LOG, "exactly_once purge launcher started (database \"%s\", every %d s)", eo_purge_database,
         eo_purge_interval_s);

    DbState last_state = DbState::ok;
    bool slots_warned = false;
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

        const char* dbname = eo_purge_database ? eo_purge_database : "";
        Oid dboid = InvalidOid;
        const DbState state = find_database(dbname, &dboid);
        if (state != last_state) {
            if (state == DbState::missing)
                ereport(LOG, (errmsg("exactly_once purge launcher: database \"%s\" does not exist; "
                                     "nothing is purged until it is created",
                                     dbname)));
            else if (state == DbState::no_connections)
                ereport(LOG, (errmsg("exactly_once purge launcher: database \"%s\" does not allow connections; "
                                     "nothing is purged there",
                                     dbname)));
            last_state = state;
        }
        if (state != DbState::ok) continue;
        if (!run_purge_round(dboid)) {
            if (!slots_warned)
                ereport(LOG, (errmsg("exactly_once purge launcher: no free background worker slot; "
                                     "will retry every interval (raise max_worker_processes)")));
            slots_warned = true;
        } else {
            slots_warned = false;
        }
    }
}
