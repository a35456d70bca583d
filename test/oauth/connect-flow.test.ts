import t from 'tap'
import { sql } from 'drizzle-orm'
import { loggerOptions } from '../../src/logger.ts'
import { build } from '../helper.ts'
import { connect, fakeEnv, REDIRECT_TO, startFakes } from './oauth-helper.ts'

const INTEGRATION = `query($id: ID!) { integration(id: $id) { id status accountId accountName accountMetadata provider { id isConnected } credential { status scopes expiresAt } } }`
const DISCONNECT = `mutation($id: ID!) { disconnectIntegration(id: $id) { id status credential { status } } }`

t.test('full connect flow, token storage and disconnect for every OAuth provider with a connector', async (t) => {
  const fakes = await startFakes(t)
  const logs: string[] = []
  const { Writable } = await import('node:stream')
  const pino = (await import('pino')).default
  const stream = new Writable({ write (chunk, _e, cb) { logs.push(String(chunk)); cb() } })
  const app = await build(t, { env: { ...fakeEnv(fakes), LOG_LEVEL: 'debug' }, app: { loggerInstance: pino(loggerOptions({ logLevel: 'debug' }), stream) as never } })
  const { teamId, adminKey } = await app.seedTeam('acme')

  const cases = [
    { provider: 'shopify', fake: fakes.shopify, input: { shop: 'ada-shop' }, account: 'ada-shop.myshopify.com', pkce: false },
    { provider: 'google_drive', fake: fakes.google_drive, input: {}, account: '0123', pkce: true },
    { provider: 'dropbox', fake: fakes.dropbox, input: {}, account: 'dbid:AAA', pkce: true },
    { provider: 'figma', fake: fakes.figma, input: {}, account: '77', pkce: true },
    { provider: 'notion', fake: fakes.notion, input: {}, account: 'ws-1', pkce: false },
    { provider: 'slack', fake: fakes.slack, input: {}, account: 'T123', pkce: false }
  ]
  const issued: string[] = []
  for (const c of cases) {
    await t.test(c.provider, async (t) => {
      const r = await connect(app, c.fake, adminKey, { provider: c.provider, ...c.input })
      t.equal(r.res.statusCode, 302, 'redirects back')
      t.equal(r.res.headers['referrer-policy'], 'no-referrer')
      t.equal(`${r.location!.origin}${r.location!.pathname}`, REDIRECT_TO)
      t.equal(r.location!.searchParams.get('connected'), c.provider)
      t.equal(c.fake.server.count(c.fake.tokenRoute), 1, 'one code exchange')
      const authorize = new URL(r.authUrl)
      t.equal(authorize.searchParams.has('code_challenge'), c.pkce, 'PKCE as the provider supports it')
      if (c.pkce) t.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
      const exchange = c.fake.server.requests.find((x) => x.route === c.fake.tokenRoute)!.req
      t.equal(exchange.body.code_verifier !== undefined, c.pkce, 'verifier sent only in the token request body')
      const res = await app.gql(INTEGRATION, { auth: adminKey, variables: { id: r.integrationId } })
      const i = res.body.data!.integration
      t.equal(i.status, 'CONNECTED')
      t.equal(i.accountId, c.account)
      t.equal(i.provider.isConnected, true)
      t.equal(i.credential.status, 'VALID')
      t.notOk(JSON.stringify(res.body).match(/at_[0-9a-f]{32}|rt_[0-9a-f]{32}/), 'no token in GraphQL')
      issued.push(...c.fake.oauth.accessTokens, ...c.fake.oauth.refreshTokens.keys())
      const audit = await app.database.rows<{ action: string }>(sql`select action from audit_events where team_id = ${teamId} and target_id = ${r.integrationId!}`)
      t.ok(audit.some((a) => a.action === 'integration.connected'), 'audit event')
    })
  }

  await t.test('tokens are absent from a database dump and from the logs', async (t) => {
    const dump = await app.database.rows<{ x: string }>(sql`
      select string_agg(t::text, '\n') as x from (
        select to_jsonb(i)::text as t from integrations i union all select to_jsonb(c)::text from integration_credentials c
        union all select to_jsonb(s)::text from oauth_states s union all select to_jsonb(a)::text from audit_events a) q`)
    t.ok(issued.length >= 10)
    for (const token of issued) {
      t.notOk(dump[0]!.x.includes(token), 'token not in the database text')
      t.notOk(logs.join('').includes(token), 'token not in the logs')
    }
    t.notOk(logs.join('').includes('xoxp-user-token'))
    t.match(dump[0]!.x, /sb1\.\d+\./, 'vault envelopes with a key version')
    t.notOk(logs.join('').match(/code_[0-9a-f]{24}/), 'no authorization code in the logs')
  })

  await t.test('disconnect deletes tokens and revokes at the provider the provider\'s way', async (t) => {
    const list = await app.gql('{ integrations(first: 20) { nodes { id provider { id } } } }', { auth: adminKey })
    for (const node of list.body.data!.integrations.nodes) {
      const fake = (fakes as unknown as Record<string, typeof fakes.slack>)[node.provider.id]!
      const res = await app.gql(DISCONNECT, { auth: adminKey, variables: { id: node.id } })
      t.equal(res.body.data!.disconnectIntegration.status, 'DISCONNECTED', node.provider.id)
      t.equal(res.body.data!.disconnectIntegration.credential.status, 'REVOKED')
      if (fake.revokeRoute !== null) t.equal(fake.server.count(fake.revokeRoute), 1, `${node.provider.id} revoke called`)
      t.equal(fake.oauth.revoked.length, fake.revokeRoute === null ? 0 : 1)
    }
    const [left] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from integration_credentials`)
    t.equal(left!.n, 0, 'no tokens left')
    const revokes = await app.database.rows<{ outcome: string, token: string | null }>(sql`select outcome, token from token_revocations`)
    t.ok(revokes.every((r) => r.outcome === 'revoked' && r.token === null))
  })
})

t.test('custom OAuth2 against a plain RFC 6749/7636/7009 server', async (t) => {
  const fakes = await startFakes(t)
  const app = await build(t, { env: fakeEnv(fakes) })
  const { adminKey } = await app.seedTeam('acme')
  const o = fakes.custom.server.origin
  const created = await app.gql(`mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id status hasClientSecret config } }`, {
    auth: adminKey,
    variables: { input: { provider: 'custom_oauth2', name: 'My IdP', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, revokeUrl: `${o}/oauth/revoke`, userinfoUrl: `${o}/userinfo`, clientId: 'custom-client', clientSecret: 'custom-secret', scopes: ['read', 'write'] } } }
  })
  const integration = created.body.data!.createIntegration
  t.equal(integration.status, 'PENDING')
  t.equal(integration.hasClientSecret, true)
  t.notOk(JSON.stringify(integration.config).includes('custom-secret'), 'client secret never returned')
  const r = await connect(app, fakes.custom, adminKey, { provider: 'custom_oauth2', integrationId: integration.id })
  t.equal(r.location!.searchParams.get('connected'), 'custom_oauth2')
  t.equal(r.integrationId, integration.id)
  const authorize = new URL(r.authUrl)
  t.equal(authorize.searchParams.get('scope'), 'read write')
  t.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
  const got = await app.gql(`query($id: ID!) { integration(id: $id) { status accountId accountName credential { status scopes } } }`, { auth: adminKey, variables: { id: integration.id } })
  t.same(got.body.data!.integration, { status: 'CONNECTED', accountId: 'user-42', accountName: 'Ada', credential: { status: 'VALID', scopes: ['read', 'write'] } })
  const refreshed = await app.gql(`mutation($id: ID!) { refreshIntegrationToken(id: $id) { status lastRefreshedAt } }`, { auth: adminKey, variables: { id: integration.id } })
  t.equal(refreshed.body.data!.refreshIntegrationToken.status, 'VALID')
  t.equal(fakes.custom.server.count('POST /oauth/token'), 2, 'exchange + refresh')
  const tested = await app.gql(`mutation($id: ID!) { testIntegration(id: $id) { success message latencyMs } }`, { auth: adminKey, variables: { id: integration.id } })
  t.equal(tested.body.data!.testIntegration.success, true)
  t.match(tested.body.data!.testIntegration.message, /Ada/)
  const del = await app.gql(`mutation($id: ID!) { deleteIntegration(id: $id) }`, { auth: adminKey, variables: { id: integration.id } })
  t.equal(del.body.data!.deleteIntegration, integration.id)
  t.equal(fakes.custom.server.count('POST /oauth/revoke'), 1, 'RFC 7009 revoke with client auth')
  const revokeReq = fakes.custom.server.requests.find((x) => x.route === 'POST /oauth/revoke')!.req
  t.equal(revokeReq.body.token_type_hint, 'refresh_token')
})
