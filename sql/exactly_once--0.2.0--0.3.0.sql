-- exactly_once 0.2.0 -> 0.3.0 (ALTER EXTENSION exactly_once UPDATE).
-- 0.3.0 adds outbox_emit(topic text, key text, payload text, headers text), the overload an
-- untyped literal call resolves to, whose headers text the core checks as SQLite does (a name
-- given twice is refused). NULL headers now mean "no headers" in every overload. Tables and
-- rows are unchanged. The roles that may call outbox_emit(text, text, text, jsonb) get the new
-- overload too: their calls with untyped headers resolve to it from now on.

\echo Use "ALTER EXTENSION exactly_once UPDATE" to load this file. \quit

CREATE FUNCTION outbox_emit(topic text, key text, payload text, headers text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eo_outbox_emit_all_text'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE EXECUTE ON FUNCTION outbox_emit(text, text, text, text) FROM PUBLIC;

DO $upgrade$
DECLARE
    old_fn pg_catalog.regprocedure := 'outbox_emit(text, text, text, jsonb)'::pg_catalog.regprocedure;
    new_fn pg_catalog.regprocedure := 'outbox_emit(text, text, text, text)'::pg_catalog.regprocedure;
    g record;
BEGIN
    -- The old overload's explicit grants, PUBLIC's included, copied to the new one.
    FOR g IN SELECT a.grantee, a.is_grantable
               FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid OPERATOR(pg_catalog.=) old_fn AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
        IF g.grantee OPERATOR(pg_catalog.=) 0 THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', new_fn);
        ELSE
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I%s', new_fn,
                                      (SELECT rolname FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) g.grantee),
                                      CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END IF;
    END LOOP;
END
$upgrade$;
