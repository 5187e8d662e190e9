// The outbox: decode, run, encode (docs/DESIGN.md §4 Outbox). A call that fails writes
// nothing: all arguments are validated first, and its two statements (the key's next
// key_seq, the event) are one unit (Savepoint).
#include "sqlite_ext/outbox.hpp"

#include <optional>
#include <string>

#include "core/dedup_key.hpp"
#include "core/expiry.hpp"
#include "core/uuid7.hpp"
#include "core/validate.hpp"
#include "sqlite_ext/schema.hpp"
#include "sqlite_ext/statements.hpp"

namespace exactly_once::sqlite::outbox {
namespace {

// key_seq. Per (topic, key), {outbox_keys} keeps the last number drawn under the key's
// dedup_key; each emit advances it and the event takes the new value in the same unit. SQLite
// serialises writers, so the numbers follow commit order without gaps, and they survive the
// deletion of the events (a relay deleting delivered rows), so none is drawn twice. Measured
// against the alternatives (bench/sqlite): max(key_seq) + 1 through a UNIQUE (topic, key,
// key_seq) index needs a high-water mark kept by an AFTER DELETE trigger, which made emits
// slower and a relay's deletes four times slower; RETURNING is slower than the sub-select
// and needs SQLite 3.35.

// ?1 dedup_key(topic, key)
constexpr StatementSpec kNextKeySeq{
    "next_key_seq",
    sql<"INSERT INTO main.{outbox_keys}(khash, last_key_seq) VALUES(?1, 1)"
        " ON CONFLICT(khash) DO UPDATE SET last_key_seq = last_key_seq + 1">};

// ?1 id, ?2 topic, ?3 key, ?4 payload, ?5 headers, ?6 created_at, ?7 dedup_key(topic, key)
constexpr StatementSpec kInsertEvent{
    "insert_event",
    sql<"INSERT INTO main.{outbox}(id, topic, key, key_seq, payload, headers, created_at)"
        " VALUES(?1, ?2, ?3, (SELECT last_key_seq FROM main.{outbox_keys} WHERE khash = ?7), ?4, ?5, ?6)">};

void bind_bytes_as_text(Statement& st, int i, const Bytes& b) {
    // A blob's bytes as TEXT: topic and key are text in the outbox contract, and the same
    // bytes are the same stream, as they are the same claim (dedup_key).
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

    const DedupKey stream = compute_dedup_key(topic.view(), key.view());
    with_schema(conn, [&] {
        Savepoint unit(conn);
        {
            Statement next = conn.statement(kNextKeySeq);
            next.bind_blob(1, stream.bytes.data(), static_cast<int>(stream.bytes.size()));
            next.run();
        }
        {
            Statement st = conn.statement(kInsertEvent);
            st.bind_text(1, id.data(), static_cast<int>(id.size()));
            bind_bytes_as_text(st, 2, topic);
            bind_bytes_as_text(st, 3, key);
            st.bind_text(4, payload.data(), static_cast<int>(payload.size()));
            if (headers)
                st.bind_text(5, headers->data(), static_cast<int>(headers->size()));
            else
                st.bind_null(5);
            st.bind_int64(6, now);
            st.bind_blob(7, stream.bytes.data(), static_cast<int>(stream.bytes.size()));
            st.run();
        }
        unit.release();
    });
    sqlite3_result_text(call.ctx(), id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
}

}  // namespace exactly_once::sqlite::outbox
