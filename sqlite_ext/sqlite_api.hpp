// One include for the SQLite API in both builds of the extension:
// - loadable module (default): calls go through the sqlite3_api table that the host passes
//   to sqlite3_exactlyonce_init (sqlite3ext.h turns sqlite3_xxx into sqlite3_api->xxx);
// - static library (-DSQLITE_CORE): calls go straight to the linked libsqlite3.
#pragma once

#include <sqlite3ext.h>

SQLITE_EXTENSION_INIT3  // extern declaration of sqlite3_api (empty with SQLITE_CORE)
