// The outbox: decode, run, encode (docs/DESIGN.md §4 Outbox). A call that fails writes
// nothing: all arguments are validated before the one INSERT runs.
#include "sqlite_ext/outbox.hpp"

#include <optional>
#include <string>

#include "core/expiry.hpp"
#include "core/uuid7.hpp"
#include "core/validate.hpp"
#include "sqlite_ext/schema.hpp"
#include "sqlite_ext/statements.hpp"

namespace exactly_once::sqlite::outbox {
namespace {

// ?1 id, ?2 topic, ?3 key, ?4 payload, ?5 headers, ?6 created_at
constexpr StatementSpec kInsertEvent{
    "insert_event",
    sql<"INSERT INTO main.{outbox}(id, topic, key, payload, headers, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)">};

void bind_bytes(Statement& st, int i, const Bytes& b) {
    if (b.is_blob)
        st.bind_blob(i, b.data, b.size);
    else
        st.bind_text(i, b.data, b.size);
}

}  // namespace

void outbox_emit(Call& call) {
    Connection& conn = call.conn();
    const CallDepth depth(conn);
    const Bytes topic = key_arg(call.arg(0));
    const Bytes key = key_arg(call.arg(1));
    const std::string_view payload = json_arg(call.arg(2));
    validate_json_payload(payload, call.arg(2).name);
    std::optional<std::string_view> headers;
    if (call.given(3) && !call.arg(3).is_null()) {
        headers = json_arg(call.arg(3));
        validate_json_headers(*headers, call.arg(3).name);
    }
    conn.check_attached_schemas();
    // created_at and the id's time are when the call was made; no liveness hangs on them.
    const UnixMillis now = conn.now_ms();
    const std::string id = to_uuid_text(conn.next_event_id(now));

    // Our INSERT would move sqlite3_last_insert_rowid(); the caller's value is theirs.
    sqlite3* db = conn.db();
    struct RowidGuard {
        sqlite3* db;
        sqlite3_int64 saved;
        ~RowidGuard() { sqlite3_set_last_insert_rowid(db, saved); }
    } rowid_guard{db, sqlite3_last_insert_rowid(db)};

    with_schema(conn, [&] {
        Statement st = conn.statement(kInsertEvent);
        st.bind_text(1, id.data(), static_cast<int>(id.size()));
        bind_bytes(st, 2, topic);
        bind_bytes(st, 3, key);
        st.bind_text(4, payload.data(), static_cast<int>(payload.size()));
        if (headers)
            st.bind_text(5, headers->data(), static_cast<int>(headers->size()));
        else
            st.bind_null(5);
        st.bind_int64(6, now);
        st.run();
    });
    sqlite3_result_text(call.ctx(), id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
}

}  // namespace exactly_once::sqlite::outbox
