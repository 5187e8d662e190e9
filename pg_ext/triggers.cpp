// Generic trigger functions.
//
//   CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW
//     EXECUTE FUNCTION exactly_once_dedup_trigger('orders', 'request_id' [, '48h']);
// skips the row (returns NULL) when NEW.request_id was already claimed in scope 'orders';
// otherwise claims it and lets the row through. The key is the column's text form.
//
//   CREATE TRIGGER t AFTER INSERT OR UPDATE ON orders FOR EACH ROW
//     EXECUTE FUNCTION exactly_once_outbox_trigger('order-events', 'id');
// emits row_to_json(NEW) to topic 'order-events' keyed by NEW.id.
#include "pg_ext/claims.hpp"
#include "pg_ext/outbox.hpp"
#include "pg_ext/spi.hpp"

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"
}

namespace {

TriggerData* trigger_data_or_raise(const char* fn, FunctionCallInfo fcinfo) {
    if (!CALLED_AS_TRIGGER(fcinfo)) eo_fail(fn, exactly_once::Failure::not_called_as_trigger, nullptr);
    return reinterpret_cast<TriggerData*>(fcinfo->context);
}

// Text form of the named column of tuple; raises when the column is missing or NULL.
char* column_text_or_raise(const char* fn, TriggerData* td, HeapTuple tuple, const char* column) {
    TupleDesc desc = RelationGetDescr(td->tg_relation);
    const int attno = SPI_fnumber(desc, column);
    if (attno == SPI_ERROR_NOATTRIBUTE || attno <= 0)
        eo_fail(fn, exactly_once::Failure::trigger_column_missing, nullptr, column,
                RelationGetRelationName(td->tg_relation));
    char* value = SPI_getvalue(tuple, desc, attno);
    if (value == nullptr) eo_fail(fn, exactly_once::Failure::trigger_key_column_null, nullptr, column);
    return value;
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(eo_dedup_trigger);
PG_FUNCTION_INFO_V1(eo_outbox_trigger);
}

extern "C" Datum eo_dedup_trigger(PG_FUNCTION_ARGS) {
    const char* fn = "exactly_once_dedup_trigger";
    TriggerData* td = trigger_data_or_raise(fn, fcinfo);
    if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !TRIGGER_FIRED_BY_INSERT(td->tg_event))
        eo_fail(fn, exactly_once::Failure::trigger_wrong_event, nullptr, "a BEFORE INSERT ... FOR EACH ROW");
    const Trigger* tg = td->tg_trigger;
    if (tg->tgnargs < 2 || tg->tgnargs > 3)
        eo_fail(fn, exactly_once::Failure::trigger_wrong_arguments, nullptr, "scope, column [, ttl]");
    const char* scope = tg->tgargs[0];
    const char* column = tg->tgargs[1];
    const char* key = column_text_or_raise(fn, td, td->tg_trigtuple, column);

    const EoText s{scope, std::strlen(scope)}, k{key, std::strlen(key)};
    const exactly_once::DedupKey dk = eo_key_or_raise(fn, &s, "scope", &k, column);
    std::int64_t ttl_ms = eo_default_ttl_ms;
    if (tg->tgnargs == 3) ttl_ms = eo_ttl_from_text_or_raise(fn, tg->tgargs[2], std::strlen(tg->tgargs[2]));

    const EoTtl ttl{nullptr, ttl_ms * 1000};
    if (!eo_claim_exec(&dk, &ttl)) return PointerGetDatum(nullptr);  // already claimed: skip
    return PointerGetDatum(td->tg_trigtuple);
}

extern "C" Datum eo_outbox_trigger(PG_FUNCTION_ARGS) {
    const char* fn = "exactly_once_outbox_trigger";
    TriggerData* td = trigger_data_or_raise(fn, fcinfo);
    if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
        eo_fail(fn, exactly_once::Failure::trigger_wrong_event, nullptr, "an AFTER INSERT OR UPDATE ... FOR EACH ROW");
    const Trigger* tg = td->tg_trigger;
    if (tg->tgnargs != 2) eo_fail(fn, exactly_once::Failure::trigger_wrong_arguments, nullptr, "topic, key_column");
    HeapTuple row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
    const char* topic = tg->tgargs[0];
    const char* column = tg->tgargs[1];
    const char* key = column_text_or_raise(fn, td, row, column);

    const EoText t{topic, std::strlen(topic)}, k{key, std::strlen(key)};
    const exactly_once::DedupKey lock_key = eo_key_or_raise(fn, &t, "topic", &k, column);

    TupleDesc desc = RelationGetDescr(td->tg_relation);
    Datum record = heap_copy_tuple_as_datum(row, desc);
    Datum json = DirectFunctionCall1(row_to_json, record);
    // row_to_json accepts what jsonb cannot hold (a json column with "\u0000"): named error.
    Datum payload = eo_jsonb_from_text_or_raise(fn, "payload (row_to_json of the row)",
                                                text_to_cstring(DatumGetTextPP(json)));
    (void)eo_emit(fn, &lock_key, &t, &k, payload, EoJsonChecked::nothing, false, (Datum)0);
    return PointerGetDatum(nullptr);
}
