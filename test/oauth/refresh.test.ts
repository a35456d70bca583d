import t from 'tap'
import { sql } from 'drizzle-orm'
import { fetchHttpClient } from '../../src/connectors/http.ts'
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
  const otherProcess = new TokenService({
    db: app.database.db, clock, vault: new Vault(c.encryption.keys), catalog: new ProviderCatalog(c.integrations),
    oauth: new OAuthClient({ http: fetchHttpClient({ timeoutMs: 5000 }) }), http: fetchHttpClient({ timeoutMs: 5000 }), log: silent, refreshMarginSeconds: 900
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

  await t.test('background refresh: backoff 1, 2, 4 minutes, then needs_reauth with an audit event and no retry loop', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    await app.database.rows(sql`delete from integration_credentials where integration_id <> ${id}`) // only this token is due
    clock.advance(3600_000 - 10 * 60_000) // expires within the 15 min margin
    fake.server.fail('POST /oauth/token', { status: 503, body: { error: 'temporarily_unavailable' }, headers: { 'retry-after': '5' } })
    const cred = async () => (await app.gql(`query($id: ID!) { integration(id: $id) { status credential { status refreshFailures nextRefreshAt } } }`, { auth: adminKey, variables: { id } })).body.data!.integration
    const before = tokenCalls()
    for (const [n, wait] of [[1, 1], [2, 2], [3, 4]] as const) {
      await app.app.services.tokens.refreshDueTokens()
      const c1 = await cred()
      t.equal(c1.credential.refreshFailures, n, `failure ${n}`)
      t.equal(new Date(c1.credential.nextRefreshAt).getTime() - clock.now().getTime(), wait * 60_000, `next try in ${wait} min`)
      await app.app.services.tokens.refreshDueTokens()
      t.equal(tokenCalls() - before, n, 'not retried before the backoff has passed')
      clock.advance(wait * 60_000)
    }
    await app.app.services.tokens.refreshDueTokens()
    const c4 = await cred()
    t.equal(c4.status, 'NEEDS_REAUTH')
    t.equal(c4.credential.status, 'NEEDS_REAUTH')
    clock.advance(60 * 60_000)
    await app.app.services.tokens.refreshDueTokens()
    await app.app.services.tokens.refreshDueTokens()
    t.equal(tokenCalls() - before, 4, 'no retry loop after needs_reauth')
    const audit = await app.database.rows(sql`select 1 from audit_events where target_id = ${id} and action = 'integration.needs_reauth'`)
    t.equal(audit.length, 1)
    fake.server.clear('POST /oauth/token')
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
