-- exactly_once 0.3.0: full install script (upgrades: exactly_once--0.1.0--0.2.0.sql, then
-- exactly_once--0.2.0--0.3.0.sql).
-- Upgrades ship as exactly_once--<old>--<new>.sql next to this file (CMake installs every
-- sql/exactly_once--*.sql) and run with ALTER EXTENSION exactly_once UPDATE.

\echo Use "CREATE EXTENSION exactly_once" to load this file. \quit

-- ------------------------------------------------------------------ state (schema exactly_once)
-- Not usable by PUBLIC: the schema grants nothing, the tables grant nothing. The functions that
-- read or write this state run their statements as the owner of schema exactly_once, so a
-- role that calls them needs EXECUTE on them (granted to nobody by default, see the end of this
-- script) and no grant here: it cannot write the tables directly (README, "PostgreSQL:
-- privileges").
CREATE SCHEMA exactly_once;
REVOKE ALL ON SCHEMA exactly_once FROM PUBLIC;

-- One row per live (or expired, not yet purged) claim. k = dedup_key(scope, key).
CREATE TABLE exactly_once.claims (
    k          uuid        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
-- BRIN: nearly free to maintain on the insert path (expires_at grows with insertion order
-- when TTLs are alike) and lets purge_expired skip page ranges that hold only live claims.
CREATE INDEX claims_expires_at_brin ON exactly_once.claims USING brin (expires_at);
REVOKE ALL ON exactly_once.claims FROM PUBLIC;

-- Per-(topic, key) ordering: one row per key ever emitted, khash = dedup_key(topic, key).
-- outbox_emit upserts it before drawing the outbox seq: the row lock serialises same-key
-- emitters until commit (seq order == commit order per key), and last_key_seq numbers the
-- key's events 1, 2, 3, ... without gaps (outbox.key_seq).
CREATE TABLE exactly_once.outbox_keys (
    khash        uuid   PRIMARY KEY,
    last_key_seq bigint NOT NULL
);
REVOKE ALL ON exactly_once.outbox_keys FROM PUBLIC;

-- The transactional outbox. Relays read rows WHERE delivered_at IS NULL ORDER BY seq (never
-- "seq > last seen"): per (topic, key) seq order is commit order, and key_seq is the gapless
-- per-(topic, key) sequence number (1, 2, 3, ... in commit order).
CREATE TABLE exactly_once.outbox (
    id              uuid        PRIMARY KEY,              -- UUIDv7 event id
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    topic           text        NOT NULL,
    key             text        NOT NULL,
    key_seq         bigint      NOT NULL,
    payload         jsonb       NOT NULL,
    headers         jsonb,
    created_at      timestamptz NOT NULL,
    -- relay bookkeeping (capability 4)
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    lease_owner     text,
    lease_until     timestamptz,
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX outbox_pending ON exactly_once.outbox (seq) WHERE delivered_at IS NULL;
REVOKE ALL ON exactly_once.outbox FROM PUBLIC;

-- pg_dump keeps the state (claims and undelivered events are data, not configuration).
SELECT pg_catalog.pg_extension_config_dump('exactly_once.claims', '');
SELECT pg_catalog.pg_extension_config_dump('exactly_once.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('exactly_once.outbox_keys', '');
SELECT pg_catalog.pg_extension_config_dump('exactly_once.outbox_seq_seq', '');

-- ------------------------------------------------------------------ functions (@extschema@)
-- All are C functions that never resolve a name through search_path: every statement they run
-- names exactly_once.<table> and OPERATOR(pg_catalog.x), with parameters typed by OID, so a
-- hostile search_path (or pg_temp) cannot redirect them (tested in eo_setup). They therefore
-- carry no SET search_path clause: that clause makes PostgreSQL save and restore the GUC on
-- every call, which cost claim_once a quarter of its throughput (0.70-0.74x of a bare insert
-- with it, 0.93-0.99x without, 100 claims per transaction). The trigger functions need a SET
-- clause for their output settings anyway, so they pin search_path too.
-- SECURITY INVOKER as declared, but the C code switches to the owner of schema exactly_once
-- for its own fixed statements only (SECURITY_LOCAL_USERID_CHANGE, no GUC saved or restored):
-- EXECUTE on a function is the right to make exactly that change of state.

CREATE FUNCTION exactly_once_version() RETURNS text
    AS 'MODULE_PATHNAME', 'eo_version'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Not STRICT: NULL arguments raise 22004 instead of returning NULL.
CREATE FUNCTION dedup_key(scope text, key text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_dedup_key'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION claim_once(scope text, key text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eo_claim_once'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION claim_once(scope text, key text, ttl interval) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eo_claim_once_interval'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- ttl in seconds: one bigint overload (an integer or smallint argument casts to it implicitly,
-- so claim_once('s', 'k', 3600) and claim_once('s', 'k', 3600::bigint) both resolve here).
CREATE FUNCTION claim_once(scope text, key text, ttl bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eo_claim_once_seconds'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION claim_once(scope text, key text, ttl text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eo_claim_once_text'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION is_claimed(scope text, key text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eo_is_claimed'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION release_claim(scope text, key text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'eo_release_claim'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION purge_expired(max_rows integer DEFAULT 10000) RETURNS bigint
    AS 'MODULE_PATHNAME', 'eo_purge_expired'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION outbox_emit(topic text, key text, payload jsonb) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_outbox_emit_jsonb'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION outbox_emit(topic text, key text, payload jsonb, headers jsonb) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_outbox_emit_jsonb'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION outbox_emit(topic text, key text, payload text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_outbox_emit_text'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION outbox_emit(topic text, key text, payload text, headers jsonb) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_outbox_emit_text'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- 0.3.0: what outbox_emit('t', 'k', '{...}', '{...}') resolves to; the headers text is checked
-- as in SQLite, so a header named twice is refused instead of merged by jsonb.
CREATE FUNCTION outbox_emit(topic text, key text, payload text, headers text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_outbox_emit_all_text'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Trigger helpers: exactly_once_dedup_trigger(scope, column [, ttl]) for BEFORE INSERT ... FOR
-- EACH ROW; exactly_once_outbox_trigger(topic, key_column) for AFTER INSERT OR UPDATE ... FOR EACH ROW.
-- The key is the column's text form, computed under the fixed output settings below (applied
-- for the call, like search_path) so that the same value gives the same key whatever the
-- session's TimeZone, DateStyle, extra_float_digits, IntervalStyle, bytea_output or lc_monetary.
CREATE FUNCTION exactly_once_dedup_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'eo_dedup_trigger'
    LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp
    SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' SET extra_float_digits = 3
    SET IntervalStyle = 'postgres' SET bytea_output = 'hex' SET lc_monetary = 'C';
CREATE FUNCTION exactly_once_outbox_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'eo_outbox_trigger'
    LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp
    SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' SET extra_float_digits = 3
    SET IntervalStyle = 'postgres' SET bytea_output = 'hex' SET lc_monetary = 'C';

-- Who may change or read the state: nobody but the owner until the DBA grants EXECUTE
-- (GRANT EXECUTE ON FUNCTION claim_once(text, text), ... TO app). dedup_key and
-- exactly_once_version touch no state and stay public. The trigger functions need EXECUTE
-- only to CREATE TRIGGER; the trigger then acts for whoever writes the table.
REVOKE EXECUTE ON FUNCTION
    claim_once(text, text), claim_once(text, text, interval), claim_once(text, text, bigint),
    claim_once(text, text, text), is_claimed(text, text), release_claim(text, text),
    purge_expired(integer), outbox_emit(text, text, jsonb), outbox_emit(text, text, jsonb, jsonb),
    outbox_emit(text, text, text), outbox_emit(text, text, text, jsonb), outbox_emit(text, text, text, text),
    exactly_once_dedup_trigger(), exactly_once_outbox_trigger()
    FROM PUBLIC;
