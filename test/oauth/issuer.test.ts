/**
 * RFC 9207 / security.md §1.2 test 6: when the callback carries `iss` and it differs from the
 * issuer stored for the flow, the flow is aborted before the code exchange (400, zero token
 * calls, nothing written). Custom OAuth2 through the app (`config.issuer`); a provider that
 * declares `urls.issuer` in its definition through the flow service with a test catalog.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { fetchHttpClient } from '../../src/connectors/http.ts'
import { OutboundGuard } from '../../src/connectors/outbound/guard.ts'
import { PROVIDERS, ProviderCatalog } from '../../src/connectors/registry.ts'
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../../src/connectors/types.ts'
import { OAuthClient } from '../../src/domain/oauth/oauth-client.ts'
import { OAuthFlowService } from '../../src/domain/oauth/oauth-flow.service.ts'
import { Vault } from '../../src/domain/vault/vault.ts'
import { build, testClock } from '../helper.ts'
import { callbackRequest, fakeEnv, REDIRECT_TO, startFakes, startFlow } from './oauth-helper.ts'

const ISSUER = 'https://idp.example'

t.test('callback iss differing from the flow issuer → 400 before the code exchange', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { teamId, adminKey } = await app.seedTeam('acme')
  const fake = fakes.custom
  const o = fake.server.origin
  const tokenCalls = () => fake.server.count('POST /oauth/token')
  const counts = async () => (await app.database.rows<{ n: string }>(sql`select (select count(*) from integration_credentials) || '/' || (select count(*) from audit_events where action = 'integration.connected') as n`))[0]!.n

  await t.test('custom OAuth2 with config.issuer', async (t) => {
    const created = await app.gql('mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id config } }', {
      auth: adminKey,
      variables: { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, issuer: ISSUER, clientId: 'custom-client', clientSecret: 'custom-secret' } } }
    })
    const id = created.body.data!.createIntegration.id as string
    t.equal(created.body.data!.createIntegration.config.issuer, ISSUER)
    const [{ issuer }] = await (async () => { await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id }); return app.database.rows<{ issuer: string }>(sql`select issuer from oauth_states order by created_at desc, id desc limit 1`) })() as [{ issuer: string }]
    t.equal(issuer, ISSUER, 'issuer stored with the flow')

    const before = await counts()
    for (const iss of ['https://evil.example', `${ISSUER}/`, '']) {
      const flow = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
      const cb = new URL(fake.oauth.approve(flow.providerUrl, { iss }))
      const res = await callbackRequest(app, cb.toString(), flow.cookie)
      t.equal(res.statusCode, 400, `iss=${JSON.stringify(iss)}`)
      t.equal(res.json().error.reason, 'invalid_issuer')
    }
    t.equal(tokenCalls(), 0, 'zero token-endpoint calls')
    t.equal(await counts(), before, 'nothing written')

    const same = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
    const ok = await callbackRequest(app, fake.oauth.approve(same.providerUrl, { iss: ISSUER }), same.cookie)
    t.equal(new URL(String(ok.headers.location)).searchParams.get('connected'), 'custom_oauth2', 'matching iss connects')
    const none = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
    const ok2 = await callbackRequest(app, fake.oauth.approve(none.providerUrl), none.cookie)
    t.equal(new URL(String(ok2.headers.location)).searchParams.get('connected'), 'custom_oauth2', 'no iss in the callback: not checked (server without RFC 9207)')
    t.equal(tokenCalls(), 2)
    const bad = await app.gql('mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }', {
      auth: adminKey, variables: { input: { provider: 'custom_oauth2', name: 'x', config: { authorizeUrl: `${o}/a`, tokenUrl: `${o}/t`, issuer: 'not a url', clientId: 'c' } } }
    })
    t.equal(bad.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'config.issuer must be a URL')
  })

  await t.test('a provider that declares its issuer', async (t) => {
    const declared: ProviderDefinition = {
      id: 'test_idp', name: 'Test IdP', description: 'x', category: 'productivity', logoUrl: 'https://x.example/l.svg', status: 'active', authMode: 'oauth2',
      urls: { authorize: `${o}/authorize`, token: `${o}/oauth/token`, issuer: ISSUER },
      oauth: { ...RFC6749_DEFAULTS, pkce: 'required' },
      operations: []
    }
    const c = app.config
    const catalog = new ProviderCatalog({ ...c.integrations, providerApps: { ...c.integrations.providerApps, test_idp: { clientId: 'custom-client', clientSecret: 'custom-secret' } } }, [...PROVIDERS, declared])
    const guard = new OutboundGuard({ allowPrivate: false, trustedOrigins: catalog.trustedOrigins() })
    t.teardown(() => guard.close())
    const http = fetchHttpClient({ timeoutMs: 5000, guard })
    const flow = new OAuthFlowService({
      db: app.database.db, clock, vault: new Vault(c.encryption.keys), catalog, oauth: new OAuthClient({ http }), tokens: app.app.services.tokens, http,
      log: { info () {}, warn () {}, error () {} } as never, publicUrl: c.integrations.publicUrl, redirectAllowList: c.integrations.redirectAllowList, stateTtlSeconds: 600, secureCookies: true
    })
    const principal = { kind: 'api_key' as const, teamId, apiKeyId: 'test', scopes: ['admin:full'] }
    const run = async (iss?: string) => {
      const started = await flow.start(principal, { provider: 'test_idp', redirectTo: REDIRECT_TO })
      if (!started.ok) throw started.error
      const launched = await flow.launch(new URL(started.value.authUrl).searchParams.get('session')!)
      if (launched.kind !== 'redirect') throw new Error('launch refused')
      const q = Object.fromEntries(new URL(fake.oauth.approve(launched.location, iss === undefined ? {} : { iss })).searchParams)
      return flow.callback('test_idp', q, { [launched.cookie.name]: launched.cookie.value })
    }
    const calls = tokenCalls()
    const mixed = await run('https://other-as.example')
    t.same(mixed, { kind: 'refuse', reason: 'invalid_issuer', message: 'The callback comes from another authorization server' })
    t.equal(tokenCalls(), calls, 'no code exchange')
    const good = await run(ISSUER)
    t.equal(good.kind, 'redirect')
    t.match(good.kind === 'redirect' && good.location, /connected=test_idp/)
    t.equal(tokenCalls(), calls + 1)
  })
})
