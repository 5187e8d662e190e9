// outbox_emit: one row in exactly_once.outbox, in the caller's transaction.
//
// Commit order per (topic, key): before drawing its seq, outbox_emit upserts the key's row in
// exactly_once.outbox_keys (khash = dedup_key(topic, key)):
//   INSERT ... VALUES ($1, 1) ON CONFLICT (khash) DO UPDATE SET last_key_seq = o.last_key_seq + 1
//   RETURNING last_key_seq
// The row lock it takes lasts until commit, so emitters of the same key serialise: the second
// waits until the first commits or aborts and only then draws its seq, so for one (topic, key)
// seq order == commit order. The returned number is the event's key_seq: 1, 2, 3, ... per
// (topic, key) without gaps (a rolled-back emit rolls its increment back too), so a consumer
// can detect a missing event. Row locks live in the tuples, not in the shared lock table: a
// transaction may emit to any number of distinct keys, and transactions that share no
// (topic, key) never wait for each other. Across keys seq order may differ from commit order;
// relays read pending rows (delivered_at IS NULL, partial index) ordered by seq (or per key by
// key_seq), never "seq > last seen", so an event that commits late with a lower seq is still
// found on the next read. Under REPEATABLE READ/SERIALIZABLE a same-key race raises 40001.
//
// Wake-up: NOTIFY exactly_once_outbox (empty payload) at every emit; PostgreSQL folds identical
// notifications of one transaction into one and delivers it at commit only. (PostgreSQL
// serialises the commits of notifying transactions; exactly_once.notify = off trades the
// wake-up for commit throughput, relays then poll.)
// CDC: with exactly_once.logical_messages = on, the event is also written as a transactional
// logical decoding message with prefix 'exactly_once' (what pg_logical_emit_message does).
#include "pg_ext/outbox.hpp"

#include "pg_ext/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/uuid.h"
}

namespace {

constexpr const char* kNotifyChannel = "exactly_once_outbox";
constexpr const char* kMessagePrefix = "exactly_once";
EoStatement next_key_seq{"outbox key sequence",
                         "INSERT INTO exactly_once.outbox_keys AS o (khash, last_key_seq) VALUES ($1, 1) "
                         "ON CONFLICT (khash) DO UPDATE SET last_key_seq = o.last_key_seq OPERATOR(pg_catalog.+) 1 "
                         "RETURNING last_key_seq",
                         1, {UUIDOID}, SPI_OK_INSERT_RETURNING};
EoStatement insert_event{"outbox insert",
                         "INSERT INTO exactly_once.outbox (id, topic, key, key_seq, payload, headers, created_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         7, {UUIDOID, TEXTOID, TEXTOID, INT8OID, JSONBOID, JSONBOID, TIMESTAMPTZOID}, SPI_OK_INSERT};

// One generator per backend: ids strictly increase within the backend; getrandom() supplies
// the random bits, so forked backends never share a sequence.
exactly_once::Uuid7Generator& generator() {
    static exactly_once::Uuid7Generator gen;
    return gen;
}

// The headers rule of core (validate.hpp) on a jsonb the engine has parsed already: one object
// of string values (jsonb has merged duplicate names). Same messages as the text validator.
void check_headers(const char* fn, Jsonb* h) {
    if (JB_ROOT_IS_SCALAR(h) || !JB_ROOT_IS_OBJECT(h)) eo_run(fn, [] { exactly_once::throw_headers_not_object(); });
    JsonbIterator* it = JsonbIteratorInit(&h->root);
    JsonbValue v;
    JsonbIteratorToken tok;
    const char* name = nullptr;
    std::size_t name_len = 0;
    while ((tok = JsonbIteratorNext(&it, &v, /*skipNested=*/true)) != WJB_DONE) {
        if (tok == WJB_KEY) {
            name = v.val.string.val;
            name_len = static_cast<std::size_t>(v.val.string.len);
        } else if (tok == WJB_VALUE && v.type != jbvString) {
            eo_run(fn, [&] { exactly_once::throw_header_not_string(std::string_view(name, name_len)); });
        }
    }
}

void append_json_text(StringInfo buf, const char* key, const EoText* t, bool comma) {
    if (comma) appendStringInfoChar(buf, ',');
    escape_json(buf, key);
    appendStringInfoChar(buf, ':');
    char* s = pnstrdup(t->data, t->len);
    escape_json(buf, s);
    pfree(s);
}

// The core's size limit on a jsonb the engine built (the jsonb overloads, the trigger's row).
void check_jsonb_size(const char* fn, const Jsonb* j, const char* argument, std::size_t max_bytes) {
    const std::size_t bytes = VARSIZE(j) - VARHDRSZ;
    if (bytes > max_bytes) eo_run(fn, [&] { exactly_once::throw_too_large(argument, bytes, max_bytes); });
}

}  // namespace

Datum eo_emit(const char* fn, const exactly_once::DedupKey* lock_key, const EoText* topic, const EoText* key,
              Datum payload, EoJsonChecked checked, bool has_headers, Datum headers) {
    Jsonb* pj = DatumGetJsonbP(payload);
    if (checked == EoJsonChecked::nothing) check_jsonb_size(fn, pj, "payload", exactly_once::kMaxPayloadBytes);
    Jsonb* hj = nullptr;
    if (has_headers) {
        hj = DatumGetJsonbP(headers);
        if (checked != EoJsonChecked::payload_and_headers) {
            check_jsonb_size(fn, hj, "headers", exactly_once::kMaxHeadersBytes);
            check_headers(fn, hj);
        }
    }

    EoSavedUser caller;
    eo_state_begin(&caller);
    // Same-key emitters wait here (row lock on the key's outbox_keys row) until the previous one
    // ends; the seq is drawn after, by the outbox insert.
    Datum key_values[1] = {eo_uuid_datum(lock_key->bytes)};
    bool isnull = true;
    if (eo_execute(&next_key_seq, key_values) != 1) elog(ERROR, "exactly_once: outbox key sequence returned no row");
    const int64 key_seq = DatumGetInt64(eo_result(&isnull));
    if (isnull) elog(ERROR, "exactly_once: outbox key sequence is NULL");

    const TimestampTz now = eo_now();
    exactly_once::Uuid id{};
    eo_run(fn, [&] { id = generator().next(eo_unix_ms(now)); });
    // SPI_palloc: in the caller's context, so the id outlives SPI_finish (it is the result).
    auto* idp = static_cast<pg_uuid_t*>(SPI_palloc(sizeof(pg_uuid_t)));
    std::memcpy(idp->data, id.data(), UUID_LEN);

    Datum values[7];
    char nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
    values[0] = UUIDPGetDatum(idp);
    values[1] = PointerGetDatum(cstring_to_text_with_len(topic->data, static_cast<int>(topic->len)));
    values[2] = PointerGetDatum(cstring_to_text_with_len(key->data, static_cast<int>(key->len)));
    values[3] = Int64GetDatum(key_seq);
    values[4] = JsonbPGetDatum(pj);
    values[5] = hj ? JsonbPGetDatum(hj) : (Datum)0;
    if (!hj) nulls[5] = 'n';
    values[6] = TimestampTzGetDatum(now);

    (void)eo_execute(&insert_event, values, nulls);
    eo_state_end(&caller);

    if (eo_notify) Async_Notify(kNotifyChannel, "");

    if (eo_logical_messages) {
        StringInfoData buf;
        initStringInfo(&buf);
        appendStringInfoString(&buf, "{\"id\":\"");
        appendStringInfoString(&buf, DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(idp))));
        appendStringInfoChar(&buf, '"');
        append_json_text(&buf, "topic", topic, true);
        append_json_text(&buf, "key", key, true);
        appendStringInfo(&buf, ",\"key_seq\":" INT64_FORMAT, key_seq);
        appendStringInfoString(&buf, ",\"payload\":");
        (void)JsonbToCString(&buf, &pj->root, VARSIZE(pj));
        appendStringInfoString(&buf, ",\"headers\":");
        if (hj)
            (void)JsonbToCString(&buf, &hj->root, VARSIZE(hj));
        else
            appendStringInfoString(&buf, "null");
        appendStringInfoChar(&buf, '}');
        (void)LogLogicalMessage(kMessagePrefix, buf.data, buf.len, /*transactional=*/true);
        pfree(buf.data);
    }
    PG_RETURN_UUID_P(idp);
}

extern "C" {
PG_FUNCTION_INFO_V1(eo_outbox_emit_jsonb);
PG_FUNCTION_INFO_V1(eo_outbox_emit_text);
PG_FUNCTION_INFO_V1(eo_outbox_emit_all_text);
}

// No C++ object lives in this frame: PG_TRY/longjmp is safe here. Errors that are not data
// errors (out of memory, cancel) are re-thrown untouched.
Datum eo_jsonb_from_text_or_raise(const char* fn, const char* what, char* cstr) {
    MemoryContext oldcxt = CurrentMemoryContext;
    Datum result = (Datum)0;
    PG_TRY();
    {
        result = DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr));
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcxt);
        ErrorData* edata = CopyErrorData();
        if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION) {
            FreeErrorData(edata);
            PG_RE_THROW();
        }
        FlushErrorState();
        // The catalogue's wording with the engine's own SQLSTATE and detail: the core words
        // it (eo_guard, as eo_run would), PostgreSQL's error supplies the rest.
        EoError err;
        (void)eo_guard(&err, [&] {
            exactly_once::fail(exactly_once::Failure::json_rejected_by_engine, what, {edata->message});
        });
        ereport(ERROR, (errcode(edata->sqlerrcode), errmsg("%s: %s", fn, err.message),
                        edata->detail ? errdetail("%s", edata->detail) : 0));
    }
    PG_END_TRY();
    return result;
}

namespace {

// A JSON text argument, validated by the core as SQLite validates it, then as jsonb.
Datum json_text_arg(const char* fn, FunctionCallInfo fcinfo, int n, const char* argument) {
    text* t = PG_GETARG_TEXT_PP(n);
    const char* data = VARDATA_ANY(t);
    const std::size_t len = VARSIZE_ANY_EXHDR(t);
    const bool headers = std::strcmp(argument, "headers") == 0;
    eo_run(fn, [&] {
        if (headers)
            exactly_once::validate_json_headers(std::string_view(data, len), argument);
        else
            exactly_once::validate_json_payload(std::string_view(data, len), argument);
    });
    return eo_jsonb_from_text_or_raise(fn, argument, text_to_cstring(t));
}

// Every overload: outbox_emit(topic text, key text, payload jsonb|text [, headers jsonb|text]).
// A text payload or headers is checked by the core on the text the caller sent, as in SQLite
// (the 16 MiB limit, and a header named twice, which jsonb would merge silently); a jsonb one
// on what the engine parsed. NULL headers mean none, as in SQLite (the column is nullable).
Datum emit_call(FunctionCallInfo fcinfo, bool payload_is_text, bool headers_are_text) {
    const char* fn = "outbox_emit";
    EoText topic, key;
    // Validate topic/key before payload so the first bad argument is the one reported.
    const exactly_once::DedupKey lock_key =
        eo_key_or_raise(fn, eo_text_arg(fcinfo, 0, &topic), "topic", eo_text_arg(fcinfo, 1, &key), "key");
    if (PG_ARGISNULL(2)) eo_fail(fn, exactly_once::Failure::argument_null, "payload");
    const Datum payload = payload_is_text ? json_text_arg(fn, fcinfo, 2, "payload") : PG_GETARG_DATUM(2);
    const bool has_headers = PG_NARGS() > 3 && !PG_ARGISNULL(3);
    Datum headers = (Datum)0;
    if (has_headers) headers = headers_are_text ? json_text_arg(fn, fcinfo, 3, "headers") : PG_GETARG_DATUM(3);
    const EoJsonChecked checked = !payload_is_text   ? EoJsonChecked::nothing
                                  : headers_are_text ? EoJsonChecked::payload_and_headers
                                                     : EoJsonChecked::payload;
    return eo_emit(fn, &lock_key, &topic, &key, payload, checked, has_headers, headers);
}

}  // namespace

// The symbols the install scripts name (kept: a database still on an older script calls them).
// (topic, key, payload jsonb [, headers jsonb])
extern "C" Datum eo_outbox_emit_jsonb(PG_FUNCTION_ARGS) { return emit_call(fcinfo, false, false); }
// (topic, key, payload text [, headers jsonb])
extern "C" Datum eo_outbox_emit_text(PG_FUNCTION_ARGS) { return emit_call(fcinfo, true, false); }
// (topic, key, payload text, headers text), 0.3.0: what untyped literals resolve to
extern "C" Datum eo_outbox_emit_all_text(PG_FUNCTION_ARGS) { return emit_call(fcinfo, true, true); }
