// outbox_emit: one row in exactly_once.outbox, in the caller's transaction.
//
// Commit order per (topic, key): before taking its seq, outbox_emit takes a transaction-level
// lock on hash(topic, key) (an advisory lock tag of its own, so it never collides with the
// user's pg_advisory_* keys). Emitters of the same key therefore serialise: the second waits
// until the first commits or aborts and only then draws its seq, so for one (topic, key)
// seq order == commit order. Across keys seq order may differ from commit order; relays read
// pending rows (delivered_at IS NULL, partial index) ordered by seq, never "seq > last seen",
// so an event that commits late with a lower seq is still found on the next read.
//
// Bounded lock use: per-key locks live in the shared lock table until commit, so a bulk
// transaction emitting to thousands of keys would exhaust it ("out of shared memory"). Every
// emitting transaction therefore also holds SHARE locks on a per-topic tag and an outbox-wide
// tag; after exactly_once.outbox_key_locks distinct keys a transaction escalates to EXCLUSIVE
// on the topic's tag instead of locking more keys (keeping new emitters of the topic out until
// it commits, which orders it against all of them at once), and after as many topics to
// EXCLUSIVE on the outbox-wide tag; see lock_topic_key() for when it waits.
//
// Wake-up: NOTIFY exactly_once_outbox (empty payload) at every emit; PostgreSQL folds identical
// notifications of one transaction into one and delivers it at commit only. (PostgreSQL
// serialises the commits of notifying transactions; exactly_once.notify = off trades the
// wake-up for commit throughput, relays then poll.)
// CDC: with exactly_once.logical_messages = on, the event is also written as a transactional
// logical decoding message with prefix 'exactly_once' (what pg_logical_emit_message does).
#include "pg_ext/pg_common.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"
}

namespace {

constexpr const char* kNotifyChannel = "exactly_once_outbox";
constexpr const char* kMessagePrefix = "exactly_once";
// locktag_field4 of the per-key lock; user advisory locks use 1 (bigint) and 2 (int4 pair).
constexpr uint16 kLockTagOutboxKey = 0x454f;  // "EO"
constexpr uint16 kLockTagOutboxTopic = 0x4554;  // "ET": the per-topic tag (fields 2, 3 = hash(topic))
constexpr uint16 kLockTagOutboxAll = 0x4541;    // "EA": the outbox-wide tag (fields 2, 3 = 0)

const char* const kInsertSql =
    "INSERT INTO exactly_once.outbox (id, topic, key, payload, headers, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
SPIPlanPtr insert_plan = nullptr;

// One generator per backend: ids strictly increase within the backend; getrandom() supplies
// the random bits, so forked backends never share a sequence.
exactly_once::Uuid7Generator& generator() {
    static exactly_once::Uuid7Generator gen;
    return gen;
}

// Per-transaction counts of the key and topic locks taken (reset when the top-level transaction
// changes; a rolled-back subtransaction can only make them over-count, which is harmless).
LocalTransactionId counted_lxid = InvalidLocalTransactionId;
int keys_locked = 0;
int topics_locked = 0;

void set_key_tag(LOCKTAG* tag, const exactly_once::DedupKey* h, uint16 kind) {
    uint32 hi = 0, lo = 0;
    std::memcpy(&hi, h->bytes.data(), 4);
    std::memcpy(&lo, h->bytes.data() + 4, 4);
    SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, hi, lo, kind);
}

// Lock hierarchy, all transaction-scoped: outbox-wide tag > topic tag > (topic, key) tag.
// Normal emit: SHARE outbox, SHARE topic, EXCLUSIVE key.
// Escalation (soft limit = exactly_once.outbox_key_locks): once the transaction holds that
// many key locks it tries EXCLUSIVE on the topic *without waiting*; once it holds that many
// topic locks it tries EXCLUSIVE on the outbox tag. When the try fails (another transaction
// is emitting to the topic), it simply goes on with finer locks, so concurrent bulk emitters
// never deadlock on a lock upgrade. Only past 16x the limit does it wait for the exclusive
// lock (bounding the lock table; two such giants on one topic may then deadlock, and
// PostgreSQL aborts one). Every event is covered either by its key lock or by an exclusive
// lock above it, and every emitter holds the SHARE locks above its key lock, so two emits of
// one (topic, key) always conflict: seq order stays commit order per key.
LockAcquireResult try_or_wait_exclusive(LOCKTAG* tag, int held, int soft) {
    const bool wait = held >= soft * 16;
    return LockAcquire(tag, ExclusiveLock, /*sessionLock=*/false, /*dontWait=*/!wait);
}

void lock_topic_key(const EoText* topic, const exactly_once::DedupKey* lock_key) {
    if (MyProc->lxid != counted_lxid) {
        counted_lxid = MyProc->lxid;
        keys_locked = 0;
        topics_locked = 0;
    }
    const int soft = eo_outbox_key_locks;
    LOCKTAG all;
    SET_LOCKTAG_ADVISORY(all, MyDatabaseId, 0, 0, kLockTagOutboxAll);
    if (topics_locked >= soft && try_or_wait_exclusive(&all, topics_locked, soft) != LOCKACQUIRE_NOT_AVAIL) return;
    (void)LockAcquire(&all, ShareLock, false, false);  // a local lookup after the first emit

    const exactly_once::DedupKey topic_hash = exactly_once::compute_dedup_key(
        "exactly_once.outbox.topic", std::string_view(topic->data, topic->len));
    LOCKTAG topic_tag;
    set_key_tag(&topic_tag, &topic_hash, kLockTagOutboxTopic);
    if (keys_locked >= soft) {
        const LockAcquireResult r = try_or_wait_exclusive(&topic_tag, keys_locked, soft);
        if (r == LOCKACQUIRE_OK) ++topics_locked;
        if (r != LOCKACQUIRE_NOT_AVAIL) return;
    }
    if (LockAcquire(&topic_tag, ShareLock, false, false) != LOCKACQUIRE_ALREADY_HELD) ++topics_locked;

    LOCKTAG key_tag;
    set_key_tag(&key_tag, lock_key, kLockTagOutboxKey);
    if (LockAcquire(&key_tag, ExclusiveLock, false, false) != LOCKACQUIRE_ALREADY_HELD) ++keys_locked;
}

void check_headers(const char* fn, Jsonb* h) {
    if (JB_ROOT_IS_SCALAR(h) || !JB_ROOT_IS_OBJECT(h))
        eo_raise_msg(fn, "22P02", "headers must be a JSON object of strings");
    JsonbIterator* it = JsonbIteratorInit(&h->root);
    JsonbValue v;
    JsonbIteratorToken tok;
    while ((tok = JsonbIteratorNext(&it, &v, /*skipNested=*/true)) != WJB_DONE) {
        if (tok == WJB_VALUE && v.type != jbvString)
            eo_raise_msg(fn, "22P02", "headers must be a JSON object of strings");
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

}  // namespace

Datum eo_emit(const char* fn, const exactly_once::DedupKey* lock_key, const EoText* topic, const EoText* key,
              Datum payload, bool has_headers, Datum headers) {

    Jsonb* pj = DatumGetJsonbP(payload);
    if (VARSIZE(pj) - VARHDRSZ > exactly_once::kMaxPayloadBytes) {
        char msg[200];
        snprintf(msg, sizeof msg, "payload is %zu bytes, over the limit of %zu bytes",
                 static_cast<std::size_t>(VARSIZE(pj) - VARHDRSZ), exactly_once::kMaxPayloadBytes);
        eo_raise_msg(fn, "54000", msg);
    }
    Jsonb* hj = nullptr;
    if (has_headers) {
        hj = DatumGetJsonbP(headers);
        if (VARSIZE(hj) - VARHDRSZ > exactly_once::kMaxPayloadBytes)
            eo_raise_msg(fn, "54000", "headers are over the size limit");
        check_headers(fn, hj);
    }

    // Same-key emitters wait here until the previous one ends; the seq is drawn after.
    lock_topic_key(topic, lock_key);

    const TimestampTz now = GetCurrentTimestamp();
    EoError err;
    exactly_once::Uuid id{};
    if (!eo_guard(&err, [&] { id = generator().next(eo_unix_ms(now)); })) eo_raise(fn, &err);
    auto* idp = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
    std::memcpy(idp->data, id.data(), UUID_LEN);

    Datum values[6];
    char nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
    Oid types[6] = {UUIDOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TIMESTAMPTZOID};
    values[0] = UUIDPGetDatum(idp);
    values[1] = PointerGetDatum(cstring_to_text_with_len(topic->data, static_cast<int>(topic->len)));
    values[2] = PointerGetDatum(cstring_to_text_with_len(key->data, static_cast<int>(key->len)));
    values[3] = JsonbPGetDatum(pj);
    values[4] = hj ? JsonbPGetDatum(hj) : (Datum)0;
    if (!hj) nulls[4] = 'n';
    values[5] = TimestampTzGetDatum(now);

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "exactly_once: SPI_connect failed");
    if (insert_plan == nullptr) {
        SPIPlanPtr p = SPI_prepare(kInsertSql, 6, types);
        if (p == nullptr) elog(ERROR, "exactly_once: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        if (SPI_keepplan(p) != 0) elog(ERROR, "exactly_once: SPI_keepplan failed");
        insert_plan = p;
    }
    const int rc = SPI_execute_plan(insert_plan, values, nulls, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "exactly_once: outbox insert failed: %s", SPI_result_code_string(rc));
    SPI_finish();

    if (eo_notify) Async_Notify(kNotifyChannel, "");

    if (eo_logical_messages) {
        StringInfoData buf;
        initStringInfo(&buf);
        appendStringInfoString(&buf, "{\"id\":\"");
        appendStringInfoString(&buf, DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(idp))));
        appendStringInfoChar(&buf, '"');
        append_json_text(&buf, "topic", topic, true);
        append_json_text(&buf, "key", key, true);
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
}

namespace {
struct EmitArgs {
    EoText topic, key;
    bool has_topic, has_key;
};

EmitArgs emit_args(FunctionCallInfo fcinfo) {
    EmitArgs a{};
    a.has_topic = !PG_ARGISNULL(0);
    a.has_key = !PG_ARGISNULL(1);
    if (a.has_topic) {
        text* t = PG_GETARG_TEXT_PP(0);
        a.topic = EoText{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
    }
    if (a.has_key) {
        text* t = PG_GETARG_TEXT_PP(1);
        a.key = EoText{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
    }
    return a;
}

bool headers_arg(const char* fn, FunctionCallInfo fcinfo, Datum* out) {
    if (PG_NARGS() < 4) return false;
    if (PG_ARGISNULL(3)) eo_raise_msg(fn, "22004", "headers must not be NULL");
    *out = PG_GETARG_DATUM(3);
    return true;
}
}  // namespace

// outbox_emit(topic text, key text, payload jsonb [, headers jsonb]) -> uuid
extern "C" Datum eo_outbox_emit_jsonb(PG_FUNCTION_ARGS) {
    const EmitArgs a = emit_args(fcinfo);
    // Validate topic/key before payload so the first bad argument is the one reported.
    const exactly_once::DedupKey lock_key = eo_key_or_raise("outbox_emit", a.has_topic ? &a.topic : nullptr, "topic", a.has_key ? &a.key : nullptr, "key");
    if (PG_ARGISNULL(2)) eo_raise_msg("outbox_emit", "22004", "payload must not be NULL");
    Datum payload = PG_GETARG_DATUM(2);
    Datum headers = (Datum)0;
    const bool has_headers = headers_arg("outbox_emit", fcinfo, &headers);
    return eo_emit("outbox_emit", &lock_key, &a.topic, &a.key, payload, has_headers, headers);
}

// outbox_emit(topic text, key text, payload text [, headers jsonb]) -> uuid; payload must be JSON.
extern "C" Datum eo_outbox_emit_text(PG_FUNCTION_ARGS) {
    const EmitArgs a = emit_args(fcinfo);
    const exactly_once::DedupKey lock_key = eo_key_or_raise("outbox_emit", a.has_topic ? &a.topic : nullptr, "topic", a.has_key ? &a.key : nullptr, "key");
    if (PG_ARGISNULL(2)) eo_raise_msg("outbox_emit", "22004", "payload must not be NULL");
    text* pt = PG_GETARG_TEXT_PP(2);
    const char* pdata = VARDATA_ANY(pt);
    const std::size_t plen = VARSIZE_ANY_EXHDR(pt);
    EoError err;
    if (!eo_guard(&err, [&] { exactly_once::validate_json_payload(std::string_view(pdata, plen), "payload"); }))
        eo_raise("outbox_emit", &err);
    Datum payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(pt)));
    Datum headers = (Datum)0;
    const bool has_headers = headers_arg("outbox_emit", fcinfo, &headers);
    return eo_emit("outbox_emit", &lock_key, &a.topic, &a.key, payload, has_headers, headers);
}
