/* Entry point of the exactly_once SQLite extension.
 *
 * Loadable:  .load ./exactly_once          (SQLite derives sqlite3_exactlyonce_init)
 * Static:    link exactly_once_sqlite_static (built with -DSQLITE_CORE) and call
 *              sqlite3_auto_extension((void (*)(void))sqlite3_exactlyonce_init);
 *            before opening connections, or call it directly on one connection.
 */
#ifndef EXACTLY_ONCE_SQLITE_H
#define EXACTLY_ONCE_SQLITE_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

int sqlite3_exactlyonce_init(sqlite3* db, char** pzErrMsg, const sqlite3_api_routines* pApi);

#ifdef __cplusplus
}
#endif

#endif
