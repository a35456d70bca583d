import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { build, type TestApp } from '../helper.ts'

const PROVIDERS = '{ providers { id status category isConnected } }'
const LIST = 'query($filter: IntegrationFilter, $first: Int, $after: String) { integrations(filter: $filter, first: $first, after: $after) { nodes { id name } pageInfo { hasNextPage endCursor } totalCount } }'
const GET = 'query($id: ID!) { integration(id: $id) { id name status config hasCredentials } }'
const CREATE = 'mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id name status config hasCredentials } }'
const UPDATE = 'mutation($id: ID!, $input: UpdateIntegrationInput!) { updateIntegration(id: $id, input: $input) { id name config } }'
const DELETE = 'mutation($id: ID!) { deleteIntegration(id: $id) }'
const TEST = 'mutation($id: ID!) { testIntegration(id: $id) { success message latencyMs } }'
const START = 'mutation($input: StartOAuthInput!) { startOAuth(input: $input) { state } }'
const REFRESH = 'mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }'
const DISCONNECT = 'mutation($id: ID!) { disconnectIntegration(id: $id) { id } }'
const IMPORT = 'mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id } }'

/** Everything these operations could write, as one string. */
async function fingerprint (app: TestApp): Promise<string> {
  const rows = await app.database.rows<{ f: string }>(sql`select md5(
    coalesce((select string_agg(to_jsonb(i)::text, '|' order by id) from integrations i), '') ||
    coalesce((select string_agg(to_jsonb(c)::text, '|' order by integration_id) from integration_credentials c), '') ||
    coalesce((select string_agg(to_jsonb(s)::text, '|' order by id) from oauth_states s), '') ||
    coalesce((select string_agg(to_jsonb(a)::text, '|' order by id) from audit_events a), '')) as f`)
  return rows[0]!.f
}

const restInput = (name = 'api') => ({ provider: 'rest_api', name, config: { baseUrl: 'http://127.0.0.1:9/api' }, credentials: { apiKey: 'sk_live_SECRET123' } })

t.test('integrations', async (t) => {
  // restInput's base URL is on 127.0.0.1: a team-supplied private address needs OUTBOUND_ALLOW_PRIVATE.
  const app = await build(t, { env: { OAUTH_REDIRECT_ALLOWLIST: 'https://app.example', SLACK_CLIENT_ID: 'c', SLACK_CLIENT_SECRET: 's', OUTBOUND_ALLOW_PRIVATE: 'true' } })
  const { teamId, adminKey } = await app.seedTeam('acme')
  const other = await app.seedTeam('other')
  const otherIntegration = (await app.gql(CREATE, { auth: other.adminKey, variables: { input: restInput('theirs') } })).body.data!.createIntegration.id as string

  await t.test('providers: catalog with every seed provider, filters, isConnected', async (t) => {
    const all = (await app.gql(PROVIDERS, { auth: adminKey })).body.data!.providers as Array<{ id: string, status: string, category: string, isConnected: boolean }>
    for (const id of ['shopify', 'etsy', 'woocommerce', 'figma', 'canva', 'instagram', 'facebook', 'google_drive', 'dropbox', 'notion', 'slack', 'hubspot', 'salesforce', 'microsoft', 'zapier', 'custom_oauth2', 'rest_api', 'graphql_api', 'webhook']) {
      t.ok(all.some((p) => p.id === id), id)
    }
    t.same(all.filter((p) => p.status === 'ACTIVE').map((p) => p.id).sort(), ['custom_oauth2', 'dropbox', 'figma', 'google_drive', 'graphql_api', 'notion', 'rest_api', 'shopify', 'slack', 'webhook'])
    const storage = (await app.gql('{ providers(category: STORAGE) { id } }', { auth: adminKey })).body.data!.providers
    t.same(storage.map((p: { id: string }) => p.id).sort(), ['dropbox', 'google_drive'])
    const soon = (await app.gql('{ providers(status: COMING_SOON, search: "sales") { id } }', { auth: adminKey })).body.data!.providers
    t.same(soon, [{ id: 'salesforce' }])
    await app.gql(CREATE, { auth: adminKey, variables: { input: restInput('first') } })
    const after = (await app.gql('{ providers(search: "REST") { id isConnected } }', { auth: adminKey })).body.data!.providers
    t.same(after, [{ id: 'rest_api', isConnected: true }])
  })

  await t.test('create/get/list/update/delete/test: happy paths, secrets never returned', async (t) => {
    const created = await app.gql(CREATE, { auth: adminKey, variables: { input: restInput('Billing API') } })
    const i = created.body.data!.createIntegration
    t.equal(i.status, 'CONNECTED')
    t.equal(i.hasCredentials, true)
    t.notOk(JSON.stringify(created.body).includes('SECRET123'))
    const [row] = await app.database.rows<{ credentials: string }>(sql`select credentials from integrations where id = ${i.id}`)
    t.notOk(row!.credentials.includes('SECRET123'), 'credentials encrypted at rest')
    const got = await app.gql(GET, { auth: adminKey, variables: { id: i.id } })
    t.equal(got.body.data!.integration.name, 'Billing API')
    const updated = await app.gql(UPDATE, { auth: adminKey, variables: { id: i.id, input: { name: 'Billing', config: { testPath: '/health' } } } })
    t.same(updated.body.data!.updateIntegration.config, { baseUrl: 'http://127.0.0.1:9/api', testPath: '/health' })
    const page1 = await app.gql(LIST, { auth: adminKey, variables: { first: 1 } })
    t.equal(page1.body.data!.integrations.nodes.length, 1)
    t.equal(page1.body.data!.integrations.pageInfo.hasNextPage, true)
    const page2 = await app.gql(LIST, { auth: adminKey, variables: { first: 1, after: page1.body.data!.integrations.pageInfo.endCursor } })
    t.not(page2.body.data!.integrations.nodes[0].id, page1.body.data!.integrations.nodes[0].id)
    const filtered = await app.gql(LIST, { auth: adminKey, variables: { filter: { search: 'bill', status: 'CONNECTED' } } })
    t.same(filtered.body.data!.integrations.nodes.map((n: { id: string }) => n.id), [i.id])
    const tested = await app.gql(TEST, { auth: adminKey, variables: { id: i.id } })
    t.equal(tested.body.data!.testIntegration.success, false, 'nothing listens on port 9')
    t.type(tested.body.data!.testIntegration.latencyMs, 'number')
    const del = await app.gql(DELETE, { auth: adminKey, variables: { id: i.id } })
    t.equal(del.body.data!.deleteIntegration, i.id)
    t.equal((await app.gql(GET, { auth: adminKey, variables: { id: i.id } })).body.errors![0]!.extensions.code, 'NOT_FOUND')
    const audit = await app.database.rows<{ action: string }>(sql`select action from audit_events where target_id = ${i.id} order by id`)
    t.same(audit.map((a) => a.action), ['integration.created', 'integration.updated', 'integration.deleted'])
  })

  await t.test('error cases', async (t) => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['unknown provider', { provider: 'nope', name: 'x' }],
      ['coming soon', { provider: 'etsy', name: 'x' }],
      ['empty name', { ...restInput(), name: ' ' }],
      ['missing credentials', { provider: 'rest_api', name: 'x', config: { baseUrl: 'https://x.example' } }],
      ['bad URL', { ...restInput(), config: { baseUrl: 'ftp://x' } }],
      ['custom oauth without tokenUrl', { provider: 'custom_oauth2', name: 'x', config: { authorizeUrl: 'https://a.example/auth', clientId: 'c' } }]
    ]
    for (const [name, input] of cases) {
      const r = await app.gql(CREATE, { auth: adminKey, variables: { input } })
      t.equal(r.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', name)
      t.equal(r.status, 400, name)
    }
    t.equal((await app.gql(LIST, { auth: adminKey, variables: { first: 1000 } })).body.errors![0]!.extensions.code, 'BAD_USER_INPUT', 'page size capped')
    const r = await app.gql(CREATE, { auth: adminKey, variables: { input: { ...restInput('mine'), teamId: other.teamId } } })
    t.equal(r.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'teamId is not an input field')
  })

  const mine = (await app.gql(CREATE, { auth: adminKey, variables: { input: restInput('mine') } })).body.data!.createIntegration.id as string
  const ops: Array<{ name: string, query: string, scope: string, vars: (id: string) => Record<string, unknown> }> = [
    { name: 'providers', query: PROVIDERS, scope: 'integrations:read', vars: () => ({}) },
    { name: 'integrations', query: LIST, scope: 'integrations:read', vars: () => ({}) },
    { name: 'integration', query: GET, scope: 'integrations:read', vars: (id) => ({ id }) },
    { name: 'createIntegration', query: CREATE, scope: 'integrations:write', vars: () => ({ input: restInput('new') }) },
    { name: 'updateIntegration', query: UPDATE, scope: 'integrations:write', vars: (id) => ({ id, input: { name: 'renamed' } }) },
    { name: 'deleteIntegration', query: DELETE, scope: 'integrations:write', vars: (id) => ({ id }) },
    { name: 'testIntegration', query: TEST, scope: 'integrations:execute', vars: (id) => ({ id }) },
    { name: 'startOAuth', query: START, scope: 'integrations:write', vars: (id) => ({ input: { provider: 'slack', integrationId: id, redirectTo: 'https://app.example/x' } }) },
    { name: 'refreshIntegrationToken', query: REFRESH, scope: 'tokens:write', vars: (id) => ({ id }) },
    { name: 'disconnectIntegration', query: DISCONNECT, scope: 'integrations:write', vars: (id) => ({ id }) },
    { name: 'importOAuthToken', query: IMPORT, scope: 'tokens:write', vars: (id) => ({ input: { provider: 'slack', integrationId: id, accessToken: 'xoxb-x', accountId: 'T1' } }) }
  ]
  const wrongScope = await app.keyWith(teamId, ['sync:read', 'keys:read'])
  for (const op of ops) {
    await t.test(`${op.name}: security`, async (t) => {
      const anon = await app.gql(op.query, { variables: op.vars(mine) })
      t.equal(anon.status, 401)
      t.equal(anon.body.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
      const before = await fingerprint(app)
      const wrong = await app.gql(op.query, { auth: wrongScope.key, variables: op.vars(mine) })
      t.equal(wrong.status, 403, 'wrong scope → 403')
      t.equal(wrong.body.errors?.[0]?.extensions.code, 'FORBIDDEN')
      t.equal(await fingerprint(app), before, 'nothing written')
      if (op.vars('x').id !== undefined || (op.vars('x').input as Record<string, unknown> | undefined)?.integrationId !== undefined) {
        const foreign = await app.gql(op.query, { auth: adminKey, variables: op.vars(otherIntegration) })
        const missing = await app.gql(op.query, { auth: adminKey, variables: op.vars(randomUUID()) })
        t.equal(foreign.body.errors?.[0]?.extensions.code, 'NOT_FOUND', "other team's id → NOT_FOUND")
        t.equal(foreign.status, missing.status)
        t.equal(foreign.body.errors?.[0]?.message, missing.body.errors?.[0]?.message, 'identical to a missing id')
      }
    })
  }
  const [theirs] = await app.database.rows<{ name: string }>(sql`select name from integrations where id = ${otherIntegration}`)
  t.equal(theirs!.name, 'theirs', "other team's integration untouched")
})
