/**
 * Error cases through GraphQL for startOAuth, refreshIntegrationToken, disconnectIntegration and
 * importOAuthToken (the happy paths and the shared security cases live in connect-flow,
 * refresh and integrations tests). Each asserts the code from the closed set, the HTTP status
 * and that nothing was written or sent where nothing should be.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { build, testClock } from '../helper.ts'
import { connect, fakeEnv, REDIRECT_TO, START, startFakes } from './oauth-helper.ts'

const REFRESH = 'mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }'
const DISCONNECT = 'mutation($id: ID!) { disconnectIntegration(id: $id) { id status } }'
const IMPORT = 'mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id status } }'
const CREATE = 'mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }'

t.test('OAuth mutations: error cases', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { adminKey } = await app.seedTeam('acme')
  const states = async () => (await app.database.rows<{ n: number }>(sql`select count(*)::int as n from oauth_states`))[0]!.n
  const code = (r: { body: { errors?: Array<{ extensions: { code: string } }> } }) => r.body.errors?.[0]?.extensions.code
  const rest = (await app.gql(CREATE, { auth: adminKey, variables: { input: { provider: 'rest_api', name: 'api', config: { baseUrl: 'https://api.example' }, credentials: { apiKey: 'k' } } } })).body.data!.createIntegration.id as string
  const o = fakes.custom.server.origin
  const custom = (await app.gql(CREATE, { auth: adminKey, variables: { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, revokeUrl: `${o}/oauth/revoke`, clientId: 'custom-client', clientSecret: 'custom-secret' } } } })).body.data!.createIntegration.id as string

  await t.test('startOAuth', async (t) => {
    const before = await states()
    const cases: Array<[string, Record<string, unknown>, string, string?]> = [
      ['unknown provider', { provider: 'nope' }, 'BAD_USER_INPUT', 'provider'],
      ['coming-soon provider', { provider: 'etsy' }, 'BAD_USER_INPUT', 'provider'],
      ['provider without OAuth', { provider: 'rest_api' }, 'BAD_USER_INPUT', 'provider'],
      ['provider without a configured OAuth app', { provider: 'custom_oauth2' }, 'BAD_USER_INPUT', 'integrationId'],
      ['redirect not allowed', { provider: 'slack', redirectTo: 'https://evil.example/cb' }, 'BAD_USER_INPUT', 'redirectTo'],
      ['integration of another provider', { provider: 'slack', integrationId: rest }, 'BAD_USER_INPUT', 'integrationId'],
      ['integration that does not exist', { provider: 'slack', integrationId: '00000000-0000-7000-8000-000000000000' }, 'NOT_FOUND'],
      ['malformed integration id', { provider: 'slack', integrationId: 'not-a-uuid' }, 'NOT_FOUND'],
      ['Shopify without a shop', { provider: 'shopify' }, 'BAD_USER_INPUT', 'shop'],
      ['Shopify with a non-myshopify shop', { provider: 'shopify', shop: 'evil.example.com' }, 'BAD_USER_INPUT', 'shop']
    ]
    for (const [name, input, expected, field] of cases) {
      const r = await app.gql(START, { auth: adminKey, variables: { input: { redirectTo: REDIRECT_TO, ...input } } })
      t.equal(code(r), expected, name)
      t.equal(r.status, expected === 'NOT_FOUND' ? 404 : 400, `${name}: status`)
      if (field !== undefined) t.equal(r.body.errors![0]!.extensions.field, field, `${name}: names the field`)
      t.equal(r.body.data, null)
    }
    t.equal(await states(), before, 'no state stored for a refused start')
    const noArgs = await app.gql('mutation { startOAuth(input: { provider: "slack" }) { state } }', { auth: adminKey })
    t.equal(code(noArgs), 'BAD_USER_INPUT', 'redirectTo is required')
  })

  await t.test('refreshIntegrationToken', async (t) => {
    const notOAuth = await app.gql(REFRESH, { auth: adminKey, variables: { id: rest } })
    t.equal(code(notOAuth), 'BAD_USER_INPUT', 'integration not OAuth')
    const pending = await app.gql(REFRESH, { auth: adminKey, variables: { id: custom } })
    t.equal(code(pending), 'INVALID_CREDENTIALS', 'never connected: no token to refresh')
    t.equal(pending.status, 401)

    const noRt = await app.gql(IMPORT, { auth: adminKey, variables: { input: { provider: 'slack', accessToken: 'xoxb-no-refresh', accountId: 'T-noRT' } } })
    const noRtId = noRt.body.data!.importOAuthToken.id as string
    const r0 = await app.gql(REFRESH, { auth: adminKey, variables: { id: noRtId } })
    t.equal(code(r0), 'BAD_USER_INPUT', 'the provider issued no refresh token')

    await connect(app, fakes.custom, adminKey, { provider: 'custom_oauth2', integrationId: custom })
    fakes.custom.oauth.revokeAll() // the user revoked the app at the provider
    const calls = fakes.custom.server.count('POST /oauth/token')
    const r = await app.gql(REFRESH, { auth: adminKey, variables: { id: custom } })
    t.equal(code(r), 'INVALID_CREDENTIALS', 'invalid_grant → INVALID_CREDENTIALS')
    t.equal(r.body.errors![0]!.extensions.reason, 'invalid_grant')
    t.match(r.body.errors![0]!.message, /reconnect/)
    t.equal(r.status, 401)
    const st = await app.gql('query($id: ID!) { integration(id: $id) { status credential { status } } }', { auth: adminKey, variables: { id: custom } })
    t.same(st.body.data!.integration, { status: 'NEEDS_REAUTH', credential: { status: 'NEEDS_REAUTH' } })
    const again = await app.gql(REFRESH, { auth: adminKey, variables: { id: custom } })
    t.equal(code(again), 'INVALID_CREDENTIALS')
    t.equal(fakes.custom.server.count('POST /oauth/token'), calls + 1, 'no second token call after needs_reauth')

  })

  await t.test('disconnectIntegration', async (t) => {
    const r = await connect(app, fakes.dropbox, adminKey, { provider: 'dropbox' })
    const id = r.integrationId!
    const first = await app.gql(DISCONNECT, { auth: adminKey, variables: { id } })
    t.equal(first.body.data!.disconnectIntegration.status, 'DISCONNECTED')
    const revokes = fakes.dropbox.server.count(fakes.dropbox.revokeRoute!)
    const audits = await app.database.rows(sql`select 1 from audit_events where target_id = ${id}`)
    const second = await app.gql(DISCONNECT, { auth: adminKey, variables: { id } })
    t.equal(code(second), 'BAD_USER_INPUT', 'already disconnected')
    t.equal(second.body.errors![0]!.extensions.reason, 'already_disconnected')
    t.equal(second.status, 400)
    t.equal(fakes.dropbox.server.count(fakes.dropbox.revokeRoute!), revokes, 'no second revoke call')
    t.equal((await app.database.rows(sql`select 1 from audit_events where target_id = ${id}`)).length, audits.length, 'no second audit event')
    const missing = await app.gql(DISCONNECT, { auth: adminKey, variables: { id: 'nope' } })
    t.equal(code(missing), 'NOT_FOUND', 'malformed id')
    const del = await app.gql('mutation($id: ID!) { deleteIntegration(id: $id) }', { auth: adminKey, variables: { id } })
    t.equal(del.body.data!.deleteIntegration, id, 'a disconnected integration can still be deleted')
  })

  await t.test('importOAuthToken', async (t) => {
    const count = async () => (await app.database.rows<{ n: number }>(sql`select count(*)::int as n from integration_credentials`))[0]!.n
    const before = await count()
    const past = new Date(clock.now().getTime() - 60_000).toISOString()
    const cases: Array<[string, Record<string, unknown>, string, string?]> = [
      ['expiry in the past', { provider: 'slack', accessToken: 'xoxb-a', expiresAt: past, accountId: 'T1' }, 'BAD_USER_INPUT', 'expiresAt'],
      ['non-positive expiresIn', { provider: 'slack', accessToken: 'xoxb-a', expiresIn: 0, accountId: 'T1' }, 'BAD_USER_INPUT', 'expiresIn'],
      ['expiresAt and expiresIn together', { provider: 'slack', accessToken: 'xoxb-a', expiresIn: 60, expiresAt: new Date(clock.now().getTime() + 60_000).toISOString() }, 'BAD_USER_INPUT', 'expiresAt'],
      ['empty token', { provider: 'slack', accessToken: '  ' }, 'BAD_USER_INPUT', 'accessToken'],
      ['unknown provider', { provider: 'nope', accessToken: 'x' }, 'BAD_USER_INPUT', 'provider'],
      ['coming-soon provider', { provider: 'etsy', accessToken: 'x' }, 'BAD_USER_INPUT', 'provider'],
      ['not an OAuth provider', { provider: 'rest_api', accessToken: 'x' }, 'BAD_USER_INPUT', 'provider'],
      ['integration of another provider', { provider: 'slack', accessToken: 'x', integrationId: rest }, 'BAD_USER_INPUT', 'integrationId'],
      ['integration that does not exist', { provider: 'slack', accessToken: 'x', integrationId: '00000000-0000-7000-8000-000000000000' }, 'NOT_FOUND'],
      ['bad DateTime', { provider: 'slack', accessToken: 'x', expiresAt: 'yesterday' }, 'BAD_USER_INPUT']
    ]
    for (const [name, input, expected, field] of cases) {
      const r = await app.gql(IMPORT, { auth: adminKey, variables: { input } })
      t.equal(code(r), expected, name)
      if (field !== undefined) t.equal(r.body.errors![0]!.extensions.field, field, `${name}: names the field`)
      t.notOk(JSON.stringify(r.body).includes('xoxb-a'), `${name}: token not echoed`)
    }
    t.equal(await count(), before, 'nothing stored')
    const dup1 = await app.gql(IMPORT, { auth: adminKey, variables: { input: { provider: 'slack', accessToken: 'xoxb-1', accountId: 'T-dup' } } })
    const other = await app.gql(IMPORT, { auth: adminKey, variables: { input: { provider: 'slack', accessToken: 'xoxb-2', accountId: 'T-other' } } })
    const clash = await app.gql(IMPORT, { auth: adminKey, variables: { input: { provider: 'slack', accessToken: 'xoxb-3', accountId: 'T-dup', integrationId: other.body.data!.importOAuthToken.id } } })
    t.ok(dup1.body.data?.importOAuthToken.id)
    t.equal(code(clash), 'BAD_USER_INPUT', 'an account already connected by another integration')
  })
})
