-- Audit issue 10, PostgreSQL side: each block is the correct behaviour of one defect.
CREATE FUNCTION pg_temp.eo_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Defect 3: the text overload measures the 16 MiB limit on the text sent, not on its jsonb
-- form. 3 Mi one-digit elements: 6 MiB of text, about 37 MB as jsonb.
CREATE TEMP TABLE big AS
    SELECT '[' || string_agg('1', ',') || ']' AS doc FROM generate_series(1, 3 * 1024 * 1024);
SELECT octet_length(doc) AS text_bytes, pg_column_size(doc::jsonb) > 16 * 1024 * 1024 AS jsonb_over_16mib FROM big;
SELECT pg_temp.eo_try($$SELECT outbox_emit('audit-big', 'k', (SELECT doc FROM big))$$) AS six_mib_text;
SELECT jsonb_array_length(payload) AS stored_elements FROM exactly_once.outbox WHERE topic = 'audit-big';
-- Over 16 MiB of text: refused, naming the text's size (16 MiB + 3 bytes).
SELECT pg_temp.eo_try($$SELECT outbox_emit('audit-big', 'k2', '[' || repeat(' ', 16 * 1024 * 1024) || '1]')$$) AS over_16mib_text;
-- The jsonb overload still measures the jsonb value.
SELECT pg_temp.eo_try($$SELECT outbox_emit('audit-big', 'k3', (SELECT doc FROM big)::jsonb)$$) AS same_as_jsonb;
SELECT count(*) AS big_events FROM exactly_once.outbox WHERE topic = 'audit-big';
DROP TABLE big;

-- Defect 4 (core fix by the duration helper): TTL numbers longer than 18 characters.
SELECT ttl, pg_temp.eo_try(format('SELECT claim_once(%L, %L, %L::text)', 'audit-ttl', ttl, ttl)) AS result
  FROM (VALUES ('0000000000000000001s'), ('1.000000000000000000h'), ('11111.1110936051901')) AS v(ttl);
SELECT count(*) AS ttl_claims FROM exactly_once.claims WHERE k IN
    (dedup_key('audit-ttl', '0000000000000000001s'), dedup_key('audit-ttl', '1.000000000000000000h'),
     dedup_key('audit-ttl', '11111.1110936051901'));

-- Defect 5: intervals whose sum with the clock would overflow are refused by name (22023).
SELECT ttl, pg_temp.eo_try(format('SELECT claim_once(%L, %L, %L::interval)', 'audit-iv', ttl, ttl)) AS result
  FROM (VALUES ('2147483647 days'), ('-177999999 years'), ('-2147483648 days'), ('177999999 years'),
               ('178956970 years -2147483648 days'), ('9223372036854775807 microseconds'),
               ('-9223372036854775808 microseconds'), ('1 month -40 days'), ('1 month -31 days'),
               ('100 years'), ('36500 days 00:00:01'), ('36500 days'), ('1 month'), ('1 month -27 days')) AS v(ttl);
SELECT count(*) AS interval_claims FROM exactly_once.claims WHERE k IN
    (dedup_key('audit-iv', '36500 days'), dedup_key('audit-iv', '1 month'), dedup_key('audit-iv', '1 month -27 days'));

-- Defect 6 (core fix by the validate helper): numbers beyond double range are JSON.
SELECT pg_temp.eo_try($$SELECT outbox_emit('audit-num', 'k', '{"amount":1e400}')$$) AS text_1e400;
SELECT count(*) AS events, bool_and(payload->'amount' = '1e400'::jsonb) AS same_number
  FROM exactly_once.outbox WHERE topic = 'audit-num';

-- Defect 7: the outbox trigger names itself for a row jsonb cannot hold; SQLSTATE kept.
CREATE TABLE audit_docs (id int PRIMARY KEY, doc json);
CREATE TRIGGER audit_docs_outbox AFTER INSERT OR UPDATE ON audit_docs FOR EACH ROW
    EXECUTE FUNCTION exactly_once_outbox_trigger('audit-docs', 'id');
SELECT pg_temp.eo_try($$INSERT INTO audit_docs VALUES (1, '{"a":"\u0000"}')$$) AS nul_in_json;
SELECT pg_temp.eo_try($$INSERT INTO audit_docs VALUES (2, '{"a":"fine"}')$$) AS ordinary_row;
SELECT id FROM audit_docs ORDER BY id;
SELECT key FROM exactly_once.outbox WHERE topic = 'audit-docs';
DROP TABLE audit_docs;

DELETE FROM exactly_once.outbox;
DELETE FROM exactly_once.outbox_keys;
DELETE FROM exactly_once.claims;
