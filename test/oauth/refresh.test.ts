import t from 'tap'
import { sql } from 'drizzle-orm'
import { fetchHttpClient } from '../../src/connectors/http.ts'
import { OutboundGuard } from '../../src/connectors/outbound/guard.ts'
import { ProviderCatalog } from '../../src/connectors/registry.ts'
import { OAuthClient } from '../../src/domain/oauth/oauth-client.ts'
import { TokenService } from '../../src/domain/oauth/token.service.ts'
import { Vault } from '../../src/domain/vault/vault.ts'
import { build, testClock, type TestApp } from '../helper.ts'
import type { FakeProvider } from '../fakes/base.ts'
import { connect, fakeEnv, startFakes } from './oauth-helper.ts'

const silent = { info () {}, warn () {}, error () {} }

async function customIntegration (app: TestApp, fake: FakeProvider, key: string): Promise<string> {
  const o = fake.server.origin
  const created = await app.gql(`mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }`, {
    auth: key,
    variables: { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, revokeUrl: `${o}/oauth/revoke`, clientId: 'custom-client', clientSecret: 'custom-secret' } } }
  })
  const id = created.body.data!.createIntegration.id as string
  await connect(app, fake, key, { provider: 'custom_oauth2', integrationId: id })
  return id
}

t.test('refresh: single flight, rotation, backoff, needs_reauth, revocation retries', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { teamId, adminKey } = await app.seedTeam('acme')
  const fake = fakes.custom
  const tokenCalls = () => fake.server.count('POST /oauth/token')

  // A second, independent service instance on the same database: another process as far as
  // in-memory coalescing is concerned; only the row lock can keep them from refreshing twice.
  const c = app.config
  const guard = new OutboundGuard({ allowPrivate: c.outbound.allowPrivate })
  t.teardown(() => guard.close())
  const otherProcess = new TokenService({
    db: app.database.db, clock, vault: new Vault(c.encryption.keys), catalog: new ProviderCatalog(c.integrations),
    oauth: new OAuthClient({ http: fetchHttpClient({ timeoutMs: 5000, guard }) }), http: fetchHttpClient({ timeoutMs: 5000, guard }), log: silent, refreshMarginSeconds: 900
  })

  await t.test('50 concurrent calls with an expired token across two instances → one token-endpoint call', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    const before = tokenCalls()
    clock.advance(3600_000) // the 1 h token has expired
    fake.server.delays['POST /oauth/token'] = 150
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? app.app.services.tokens : otherProcess).accessToken(teamId, id)))
    delete fake.server.delays['POST /oauth/token']
    t.equal(tokenCalls() - before, 1, 'exactly one refresh')
    t.ok(results.every((r) => r.ok), 'every caller got a token')
    const tokens = new Set(results.map((r) => r.ok && r.value.accessToken))
    t.equal(tokens.size, 1, 'all share the refreshed token')
    t.ok(fake.oauth.accessTokens.has([...tokens][0] as string), 'the token the provider just issued')
    t.equal(fake.oauth.reuseDetected, false)
  })

  await t.test('rotating refresh tokens: the old one is never presented again', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    for (let i = 0; i < 5; i++) {
      const r = await app.gql(`mutation($id: ID!) { refreshIntegrationToken(id: $id) { status refreshFailures } }`, { auth: adminKey, variables: { id } })
      t.equal(r.body.data!.refreshIntegrationToken.status, 'VALID')
      clock.advance(3600_000)
      const both = await Promise.all([app.app.services.tokens.accessToken(teamId, id), otherProcess.accessToken(teamId, id)])
      t.ok(both.every((x) => x.ok))
    }
    t.equal(fake.oauth.reuseDetected, false, 'no rotated refresh token reused')
    const presented = fake.server.requests.filter((x) => x.req.body.grant_type === 'refresh_token').map((x) => x.req.body.refresh_token)
    t.equal(new Set(presented).size, presented.length, 'each refresh token presented once')
  })

  await t.test('backoff 1, 2, 4, 8 minutes (background and on demand), needs_reauth when the 4th retry fails too, then no retry loop', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    await app.database.rows(sql`delete from integration_credentials where integration_id <> ${id}`) // only this token is due
    clock.advance(3600_000 - 2 * 60_000) // expires within the 15 min margin, still valid for 2 min (expired from the 3rd failure on)
    fake.server.fail('POST /oauth/token', { status: 503, body: { error: 'temporarily_unavailable' }, headers: { 'retry-after': '5' } })
    const cred = async () => (await app.gql(`query($id: ID!) { integration(id: $id) { status credential { status refreshFailures nextRefreshAt } } }`, { auth: adminKey, variables: { id } })).body.data!.integration
    const REFRESH = `mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }`
    const before = tokenCalls()
    const schedule = [1, 2, 4, 8] as const
    for (const [i, wait] of schedule.entries()) {
      const n = i + 1
      await app.app.services.tokens.refreshDueTokens()
      const c1 = await cred()
      t.equal(c1.credential.refreshFailures, n, `failure ${n}`)
      t.equal(c1.status, 'CONNECTED', `failure ${n}: still connected`)
      t.equal(new Date(c1.credential.nextRefreshAt).getTime() - clock.now().getTime(), wait * 60_000, `next try in ${wait} min`)
      // Inside the window nothing calls the token endpoint: not the job, not an on-demand call, not the mutation.
      await app.app.services.tokens.refreshDueTokens()
      const onDemand = await app.app.services.tokens.accessToken(teamId, id)
      const forced = await app.gql(REFRESH, { auth: adminKey, variables: { id } })
      t.equal(tokenCalls() - before, n, 'not retried before the backoff has passed')
      if (n <= 2) {
        t.ok(onDemand.ok, 'on demand: a token still valid (only inside the margin) is served as is')
      } else {
        t.equal(!onDemand.ok && onDemand.error.code, 'UPSTREAM_UNAVAILABLE', 'on demand with an expired token: retryable backoff error')
        t.equal(!onDemand.ok && onDemand.error.details?.retryAfterSeconds, wait * 60)
      }
      t.equal(forced.body.errors?.[0]?.extensions.code, 'UPSTREAM_UNAVAILABLE', 'refreshIntegrationToken inside the window')
      t.equal(forced.body.errors?.[0]?.extensions.retryable, true)
      t.equal(forced.headers['retry-after'], String(wait * 60), 'Retry-After = the rest of the backoff')
      clock.advance(wait * 60_000)
    }
    await app.app.services.tokens.refreshDueTokens()
    const c5 = await cred()
    t.equal(tokenCalls() - before, 5, 'initial attempt + 4 retries')
    t.equal(c5.status, 'NEEDS_REAUTH', 'the 5th consecutive failure (4th retry) → needs_reauth')
    t.equal(c5.credential.status, 'NEEDS_REAUTH')
    t.equal(c5.credential.refreshFailures, 5)
    clock.advance(60 * 60_000)
    await app.app.services.tokens.refreshDueTokens()
    await app.app.services.tokens.refreshDueTokens()
    const after = await app.app.services.tokens.accessToken(teamId, id)
    t.equal(!after.ok && after.error.code, 'INVALID_CREDENTIALS')
    t.equal(tokenCalls() - before, 5, 'no retry loop after needs_reauth')
    const audit = await app.database.rows(sql`select 1 from audit_events where target_id = ${id} and action = 'integration.needs_reauth'`)
    t.equal(audit.length, 1)
    fake.server.clear('POST /oauth/token')
  })

  await t.test('a success inside the schedule resets the failure count', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    clock.advance(3600_000) // expired
    fake.server.fail('POST /oauth/token', { status: 500, body: { error: 'server_error' } }, 2)
    const first = await app.app.services.tokens.accessToken(teamId, id)
    t.equal(!first.ok && first.error.code, 'CONNECTION_FAILED', 'first failure is retryable')
    clock.advance(60_000)
    await app.app.services.tokens.accessToken(teamId, id)
    clock.advance(2 * 60_000)
    const ok = await app.app.services.tokens.accessToken(teamId, id)
    t.ok(ok.ok, 'third attempt succeeds')
    const c = await app.gql(`query($id: ID!) { integration(id: $id) { status credential { refreshFailures nextRefreshAt status } } }`, { auth: adminKey, variables: { id } })
    t.same(c.body.data!.integration, { status: 'CONNECTED', credential: { refreshFailures: 0, nextRefreshAt: null, status: 'VALID' } })
  })

  await t.test('invalid_grant → needs_reauth at once; on-demand calls then fail INVALID_CREDENTIALS without calling the provider', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    fake.oauth.revokeAll()
    clock.advance(3600_000)
    const r = await app.app.services.tokens.accessToken(teamId, id)
    t.equal(r.ok, false)
    t.equal(!r.ok && r.error.code, 'INVALID_CREDENTIALS')
    const calls = tokenCalls()
    const again = await app.app.services.tokens.accessToken(teamId, id)
    t.equal(!again.ok && again.error.code, 'INVALID_CREDENTIALS')
    t.equal(tokenCalls(), calls, 'no further token call')
    const st = await app.gql(`query($id: ID!) { integration(id: $id) { status } }`, { auth: adminKey, variables: { id } })
    t.equal(st.body.data!.integration.status, 'NEEDS_REAUTH')
  })

  await t.test('disconnect with a failing revoke endpoint: tokens gone at once, revoke retried in the background', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    fake.server.fail('POST /oauth/revoke', { status: 503, body: { error: 'temporarily_unavailable' }, headers: { 'retry-after': '30' } })
    const res = await app.gql(`mutation($id: ID!) { disconnectIntegration(id: $id) { status credential { status } } }`, { auth: adminKey, variables: { id } })
    t.same(res.body.data!.disconnectIntegration, { status: 'DISCONNECTED', credential: { status: 'REVOKED' } })
    const [creds] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from integration_credentials where integration_id = ${id}`)
    t.equal(creds!.n, 0, 'local tokens deleted at once')
    const [owed] = await app.database.rows<{ attempts: number, outcome: string | null, token: string | null }>(sql`select attempts, outcome, token from token_revocations where integration_id = ${id}`)
    t.equal(owed!.attempts, 1)
    t.equal(owed!.outcome, null)
    t.ok(owed!.token?.startsWith('sb1.'), 'owed token kept encrypted until revoked')
    t.same(await app.app.services.tokens.retryDueRevocations(), {}, 'not due yet')
    fake.server.clear('POST /oauth/revoke')
    clock.advance(2 * 60_000)
    t.same(await app.app.services.tokens.retryDueRevocations(), { revoked: 1 })
    t.equal(fake.server.count('POST /oauth/revoke'), 2)
    const audit = await app.database.rows<{ action: string }>(sql`select action from audit_events where target_id = ${id} order by id`)
    t.same(audit.map((a) => a.action).slice(-2), ['integration.disconnected', 'integration.token_revoked'])
    const [done] = await app.database.rows<{ token: string | null }>(sql`select token from token_revocations where integration_id = ${id}`)
    t.equal(done!.token, null, 'token dropped after revocation')
  })

  await t.test('importOAuthToken + credential status (never a token)', async (t) => {
    const r = await app.gql(`mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id status accountId credential { status scopes expiresAt } } }`, {
      auth: adminKey, variables: { input: { provider: 'slack', accessToken: 'xoxb-imported', expiresIn: 600, scopes: ['chat:write'], accountId: 'T999' } }
    })
    const i = r.body.data!.importOAuthToken
    t.equal(i.status, 'CONNECTED')
    t.equal(i.credential.status, 'EXPIRING', 'within the 15 min margin')
    t.same(i.credential.scopes, ['chat:write'])
    t.notOk(JSON.stringify(r.body).includes('xoxb-imported'))
    const ro = await app.keyWith(teamId, ['integrations:read'])
    const hidden = await app.gql(`query($id: ID!) { integration(id: $id) { id credential { status } } }`, { auth: ro.key, variables: { id: i.id } })
    t.equal(hidden.body.errors![0]!.extensions.code, 'FORBIDDEN', 'credential needs tokens:read')
    const forbidden = await app.gql(`mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id } }`, { auth: ro.key, variables: { input: { provider: 'slack', accessToken: 'x' } } })
    t.equal(forbidden.status, 403)
  })
})
