// Running our statements: as the owner of schema exactly_once (so callers need EXECUTE on the
// functions and no grant on the tables; README "PostgreSQL: privileges"), through plans
// prepared once per backend. Like fmgr_security_definer: SECURITY_LOCAL_USERID_CHANGE, and an
// ERROR in between is undone by (sub)transaction abort, which restores the saved user and
// closes SPI. No GUC is saved or restored, so the switch costs two assignments and a cached
// owner lookup.
#pragma once

#include "pg_ext/prelude.hpp"

extern "C" {
#include "executor/spi.h"
}

// One statement: its SQL, its parameter types, the SPI result it must give. Declared once per
// statement next to the code that runs it; prepared at first use, kept (SPI_keepplan), and
// revalidated by the plan cache if our tables are dropped and recreated.
struct EoStatement {
    const char* what;  // names the statement in "exactly_once: <what> failed" errors
    const char* sql;
    int nargs;
    Oid types[8];
    int expect;  // SPI_OK_INSERT, SPI_OK_SELECT, ...
    SPIPlanPtr plan = nullptr;
};

struct EoSavedUser {
    Oid userid;
    int sec_context;
};

// A call's work on the state: become the state owner and connect SPI; then end it.
void eo_state_begin(EoSavedUser* caller);
void eo_state_end(const EoSavedUser* caller);

// Runs st (inside eo_state_begin/end) and checks its result code; returns SPI_processed.
// nulls as SPI_execute_plan takes them (nullptr: none); max_rows 0 = all.
std::uint64_t eo_execute(EoStatement* st, Datum* values, const char* nulls = nullptr, long max_rows = 0);

// Column 1 of result row 0 (after eo_execute returned at least one row).
Datum eo_result(bool* isnull);
