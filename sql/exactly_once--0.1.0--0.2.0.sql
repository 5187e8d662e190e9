-- exactly_once 0.1.0 -> 0.2.0 (ALTER EXTENSION exactly_once UPDATE).
-- 0.2.0: the functions run their statements as the owner of schema exactly_once (the C module),
-- and EXECUTE on the functions that read or write the state is no longer granted to PUBLIC.
-- Roles that could use a function under 0.1.0 (EXECUTE plus every table privilege the function
-- needed, through the 0.1.0 grants) get EXECUTE on it, so they keep working; no role gets a
-- function it could not have used before. Existing table grants are left as they are (revoke
-- them to move a role to the least-privilege setup; README "PostgreSQL: privileges").

\echo Use "ALTER EXTENSION exactly_once UPDATE" to load this file. \quit

DO $upgrade$
DECLARE
    f record;
    r record;
    need text;
    entitled boolean;
BEGIN
    FOR f IN SELECT * FROM (VALUES
        ('claim_once(text, text)',                '{claims:SELECT,claims:INSERT,claims:UPDATE}'::text[]),
        ('claim_once(text, text, interval)',      '{claims:SELECT,claims:INSERT,claims:UPDATE}'),
        ('claim_once(text, text, bigint)',        '{claims:SELECT,claims:INSERT,claims:UPDATE}'),
        ('claim_once(text, text, text)',          '{claims:SELECT,claims:INSERT,claims:UPDATE}'),
        ('exactly_once_dedup_trigger()',          '{claims:SELECT,claims:INSERT,claims:UPDATE}'),
        ('is_claimed(text, text)',                '{claims:SELECT}'),
        ('release_claim(text, text)',             '{claims:SELECT,claims:DELETE}'),
        ('purge_expired(integer)',                '{claims:SELECT,claims:UPDATE,claims:DELETE}'),
        ('outbox_emit(text, text, jsonb)',        '{outbox:INSERT,outbox_keys:SELECT,outbox_keys:INSERT,outbox_keys:UPDATE}'),
        ('outbox_emit(text, text, jsonb, jsonb)', '{outbox:INSERT,outbox_keys:SELECT,outbox_keys:INSERT,outbox_keys:UPDATE}'),
        ('outbox_emit(text, text, text)',         '{outbox:INSERT,outbox_keys:SELECT,outbox_keys:INSERT,outbox_keys:UPDATE}'),
        ('outbox_emit(text, text, text, jsonb)',  '{outbox:INSERT,outbox_keys:SELECT,outbox_keys:INSERT,outbox_keys:UPDATE}'),
        ('exactly_once_outbox_trigger()',         '{outbox:INSERT,outbox_keys:SELECT,outbox_keys:INSERT,outbox_keys:UPDATE}')
    ) AS v(sig, needs) LOOP
        f.sig := '@extschema@.' || f.sig;
        -- Every ordinary role, then PUBLIC itself (the role name 'public' in has_*_privilege).
        -- PUBLIC last: its EXECUTE counts for every role until it is revoked.
        FOR r IN SELECT * FROM (
                   SELECT rolname::text, 1 AS ord FROM pg_catalog.pg_roles
                    WHERE NOT rolsuper AND rolname OPERATOR(pg_catalog.!~) '^pg_'
                      AND oid OPERATOR(pg_catalog.<>) (SELECT nspowner FROM pg_catalog.pg_namespace
                                                       WHERE nspname OPERATOR(pg_catalog.=) 'exactly_once')
                   UNION ALL
                   SELECT 'public', 2) AS roles
                 ORDER BY ord LOOP
            entitled := pg_catalog.has_function_privilege(r.rolname, f.sig, 'EXECUTE')
                        AND pg_catalog.has_schema_privilege(r.rolname, 'exactly_once', 'USAGE');
            FOREACH need IN ARRAY f.needs LOOP
                EXIT WHEN NOT entitled;
                entitled := pg_catalog.has_table_privilege(r.rolname, 'exactly_once.' || pg_catalog.split_part(need, ':', 1),
                                                           pg_catalog.split_part(need, ':', 2));
            END LOOP;
            IF r.rolname OPERATOR(pg_catalog.=) 'public' THEN
                IF NOT entitled THEN
                    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f.sig::pg_catalog.regprocedure);
                END IF;
            ELSIF entitled THEN
                EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', f.sig::pg_catalog.regprocedure, r.rolname);
            END IF;
        END LOOP;
    END LOOP;
END
$upgrade$;
