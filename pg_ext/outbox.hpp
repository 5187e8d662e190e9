// Outbox internals shared by outbox_emit and the outbox trigger (outbox.cpp).
#pragma once

#include "pg_ext/arguments.hpp"

// What the core already validated as the text the caller sent (the text overloads, as in
// SQLite); the limits are not measured again on the jsonb form, which can be larger.
enum class EoJsonChecked { nothing, payload, payload_and_headers };

// One event. lock_key comes from eo_key_or_raise(topic, key) (which validated both): the khash
// of the key's row in exactly_once.outbox_keys (row lock + key_seq); payload/headers are jsonb.
Datum eo_emit(const char* fn, const exactly_once::DedupKey* lock_key, const EoText* topic, const EoText* key,
              Datum payload, EoJsonChecked checked, bool has_headers, Datum headers);

// jsonb_in(cstr), with its data errors (e.g. "\u0000", 22P05) re-raised with their SQLSTATE as
// "fn: <what> is not valid jsonb: ..." (the catalogue's json_rejected_by_engine).
Datum eo_jsonb_from_text_or_raise(const char* fn, const char* what, char* cstr);
