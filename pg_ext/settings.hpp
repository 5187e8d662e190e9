// The exactly_once.* settings (GUCs): defined once at load (eo_define_settings, from _PG_init),
// read by the capabilities through these variables.
#pragma once

#include "pg_ext/prelude.hpp"

extern "C" {
extern int eo_max_key_bytes;     // exactly_once.max_key_bytes
extern bool eo_logical_messages; // exactly_once.logical_messages
extern int eo_purge_interval_s;  // exactly_once.purge_interval (seconds, 0 = off)
extern char* eo_purge_database;  // exactly_once.purge_database
extern int eo_purge_batch_size;  // exactly_once.purge_batch_size
extern bool eo_notify;           // exactly_once.notify
}
// exactly_once.default_ttl, parsed once by the core in the GUC check hook.
extern std::int64_t eo_default_ttl_ms;

void eo_define_settings();
