// Running our statements as the state owner through saved plans (spi.hpp).
#include "pg_ext/spi.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/syscache.h"
}

namespace {

// Owner of schema exactly_once, cached per backend; any change to a pg_namespace row
// (ALTER SCHEMA ... OWNER TO, DROP/CREATE EXTENSION) forgets it.
Oid state_owner_cache = InvalidOid;
bool watching = false;

void forget_state_owner(Datum, int, uint32) { state_owner_cache = InvalidOid; }

Oid state_owner() {
    if (!watching) {
        CacheRegisterSyscacheCallback(NAMESPACEOID, forget_state_owner, (Datum)0);
        watching = true;
    }
    if (OidIsValid(state_owner_cache)) return state_owner_cache;
    const Oid nsp = get_namespace_oid("exactly_once", true);
    if (!OidIsValid(nsp))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_SCHEMA),
                        errmsg("exactly_once: schema \"exactly_once\" does not exist (is the extension installed?)")));
    HeapTuple tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
    if (!HeapTupleIsValid(tup)) elog(ERROR, "exactly_once: cache lookup failed for schema %u", nsp);
    const Oid owner = reinterpret_cast<Form_pg_namespace>(GETSTRUCT(tup))->nspowner;
    ReleaseSysCache(tup);
    state_owner_cache = owner;
    return owner;
}

}  // namespace

void eo_state_begin(EoSavedUser* caller) {
    const Oid owner = state_owner();
    GetUserIdAndSecContext(&caller->userid, &caller->sec_context);
    SetUserIdAndSecContext(owner, caller->sec_context | SECURITY_LOCAL_USERID_CHANGE);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "exactly_once: SPI_connect failed");
}

void eo_state_end(const EoSavedUser* caller) {
    SPI_finish();
    SetUserIdAndSecContext(caller->userid, caller->sec_context);
}

std::uint64_t eo_execute(EoStatement* st, Datum* values, const char* nulls, long max_rows) {
    if (st->plan == nullptr) {
        SPIPlanPtr p = SPI_prepare(st->sql, st->nargs, st->types);
        if (p == nullptr) elog(ERROR, "exactly_once: preparing %s failed: %s", st->what, SPI_result_code_string(SPI_result));
        if (SPI_keepplan(p) != 0) elog(ERROR, "exactly_once: keeping the plan of %s failed", st->what);
        st->plan = p;
    }
    const int rc = SPI_execute_plan(st->plan, values, nulls, false, max_rows);
    if (rc != st->expect) elog(ERROR, "exactly_once: %s failed: %s", st->what, SPI_result_code_string(rc));
    return SPI_processed;
}

Datum eo_result(bool* isnull) { return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull); }
