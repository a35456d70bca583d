/**
 * Our security checklist, §1.10 (crash safety), what the other tests do not show:
 * - test 1: a fault after the mutation and its audit row were written but before COMMIT (a
 *   deferred trigger that fails at commit time) leaves neither behind, and the caller gets no
 *   secret for the key that was never stored;
 * - test 6: a refresh answered `invalid_grant` marks the integration needs_reauth and emits its
 *   audit event once; asking again makes no further call to the token endpoint.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { startCustomOAuth2 } from '../fakes/custom-oauth2.ts'
import { build } from '../helper.ts'

const CREATE_KEY = 'mutation($name: String!) { createApiKey(input: { name: $name, scopes: ["keys:read"] }) { secret apiKey { id } } }'

t.test('a fault between the write and COMMIT keeps neither the change nor its audit row', async (t) => {
  const app = await build(t)
  const { adminKey } = await app.seedTeam('fault')
  // Fires at COMMIT, after both inserts of the transaction have run.
  await app.database.rows(sql.raw(`create function fail_at_commit() returns trigger language plpgsql as $$
    begin raise exception 'injected fault at commit'; end $$`))
  await app.database.rows(sql.raw(`create constraint trigger fail_at_commit after insert on audit_events deferrable initially deferred
    for each row when (new.metadata->>'name' = 'fail-at-commit') execute function fail_at_commit()`))
  const count = async (name: string) => (await app.database.rows<{ keys: number, audits: number }>(sql`
    select (select count(*)::int from api_keys where name = ${name}) as keys,
           (select count(*)::int from audit_events where action = 'api_key.created' and metadata->>'name' = ${name}) as audits`))[0]!

  const control = await app.gql(CREATE_KEY, { auth: adminKey, variables: { name: 'committed' } })
  t.equal(control.status, 200, 'without the fault the key is created')
  t.same(await count('committed'), { keys: 1, audits: 1 }, 'key and audit row both there')

  const faulted = await app.gql(CREATE_KEY, { auth: adminKey, variables: { name: 'fail-at-commit' } })
  t.equal(faulted.body.errors?.[0]?.extensions.code, 'INTERNAL_SERVER_ERROR', 'the caller is told it failed')
  t.equal(faulted.body.data?.createApiKey ?? null, null, 'no secret handed out for a key that does not exist')
  t.notMatch(JSON.stringify(faulted.body), /injected fault|audit_events/, 'the cause stays in the log')
  t.same(await count('fail-at-commit'), { keys: 0, audits: 0 }, 'neither the key nor its audit row persisted')
})

t.test('invalid_grant on refresh: needs_reauth, one audit event, no retry loop', async (t) => {
  const fake = await startCustomOAuth2()
  t.teardown(() => fake.close())
  const app = await build(t, { env: { OUTBOUND_ALLOW_PRIVATE: 'true' } })
  const { adminKey } = await app.seedTeam('reauth')
  const o = fake.server.origin
  const created = await app.gql('mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }', {
    auth: adminKey,
    variables: { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, clientId: 'custom-client', clientSecret: 'custom-secret' } } }
  })
  const id = created.body.data!.createIntegration.id as string
  // A refresh token the provider does not know (revoked there): its answer is invalid_grant.
  const imported = await app.gql('mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id status } }', {
    auth: adminKey, variables: { input: { provider: 'custom_oauth2', integrationId: id, accessToken: 'at-imported', refreshToken: 'rt-revoked-at-the-provider', expiresIn: 3600, accountId: 'acct-1' } }
  })
  t.equal(imported.body.data?.importOAuthToken.status, 'CONNECTED')

  const REFRESH = 'mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }'
  const first = await app.gql(REFRESH, { auth: adminKey, variables: { id } })
  t.equal(first.body.errors?.[0]?.extensions.code, 'INVALID_CREDENTIALS')
  t.equal(first.body.errors?.[0]?.extensions.reason, 'invalid_grant')
  t.equal(fake.server.count('POST /oauth/token'), 1, 'one call to the token endpoint')
  const [row] = await app.database.rows<{ status: string }>(sql`select status from integrations where id = ${id}`)
  t.equal(row!.status, 'needs_reauth')
  for (let i = 0; i < 3; i++) {
    const again = await app.gql(REFRESH, { auth: adminKey, variables: { id } })
    t.equal(again.body.errors?.[0]?.extensions.code, 'INVALID_CREDENTIALS', `attempt ${i + 2} refused locally`)
  }
  await app.app.services.tokens.refreshDueTokens()
  t.equal(fake.server.count('POST /oauth/token'), 1, 'no further token call: not from the mutation, not from the background job')
  const events = await app.database.rows<{ action: string }>(sql`select action from audit_events where target_id = ${id} and action = 'integration.needs_reauth'`)
  t.equal(events.length, 1, 'the needs_reauth event is emitted once')
})
