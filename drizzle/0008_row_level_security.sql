-- Row-level security: the second wall behind every query's own team filter.
-- Tenant work runs as the role switchboard_app (SET LOCAL ROLE inside its transaction, see
-- src/db/tenant.ts) with app.team_id set for that transaction only; the policies below let that
-- role see and write only its team's rows, and nothing at all when no team is set. The owner (the
-- role that runs migrations and the app's cross-team work: key lookup by hash, the request-log
-- writer, retention, refresh jobs) keeps an explicit policy of its own, because FORCE makes
-- policies apply to the owner too. The role is created here when the migrating role may
-- (CREATEROLE); otherwise an administrator creates it first (docs/security.md).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchboard_app') THEN
    BEGIN
      CREATE ROLE switchboard_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created meanwhile by a migration of another database on this server
    END;
  END IF;
  BEGIN
    EXECUTE format('GRANT switchboard_app TO %I', current_user);
  EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
    NULL; -- a superuser needs no membership; otherwise the administrator grants it (docs/security.md)
  END;
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO switchboard_app;
--> statement-breakpoint
GRANT SELECT ON teams TO switchboard_app;
--> statement-breakpoint
-- outbox_events.id is a bigserial: a tenant insert draws from its sequence.
GRANT USAGE ON SEQUENCE outbox_events_id_seq TO switchboard_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys, graphql_policies, audit_events, outbox_events, idempotency_keys, integrations, integration_credentials, oauth_states, token_revocations, operation_runs, operation_run_items, request_logs, request_log_rollup TO switchboard_app;
--> statement-breakpoint
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['api_keys', 'graphql_policies', 'audit_events', 'outbox_events', 'idempotency_keys', 'integrations', 'integration_credentials', 'oauth_states', 'token_revocations', 'operation_runs', 'request_logs', 'request_log_rollup'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I AS PERMISSIVE FOR ALL TO switchboard_app USING (team_id = nullif(current_setting(''app.team_id'', true), '''')::uuid) WITH CHECK (team_id = nullif(current_setting(''app.team_id'', true), '''')::uuid)', t || '_tenant', t);
    EXECUTE format('CREATE POLICY %I ON %I AS PERMISSIVE FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
  END LOOP;
END
$$;
--> statement-breakpoint
-- teams: a tenant sees its own row (its key is id, not team_id).
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY teams_tenant ON teams AS PERMISSIVE FOR SELECT TO switchboard_app USING (id = nullif(current_setting('app.team_id', true), '')::uuid);
--> statement-breakpoint
CREATE POLICY teams_owner ON teams AS PERMISSIVE FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
--> statement-breakpoint
-- operation_run_items has no team_id: an item is visible when its run is (the subquery is itself
-- filtered by operation_runs' policy for the tenant role).
ALTER TABLE operation_run_items ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE operation_run_items FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY operation_run_items_tenant ON operation_run_items AS PERMISSIVE FOR ALL TO switchboard_app USING (EXISTS (SELECT 1 FROM operation_runs r WHERE r.id = run_id)) WITH CHECK (EXISTS (SELECT 1 FROM operation_runs r WHERE r.id = run_id));
--> statement-breakpoint
CREATE POLICY operation_run_items_owner ON operation_run_items AS PERMISSIVE FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
