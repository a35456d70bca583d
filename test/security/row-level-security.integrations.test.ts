/**
 * Row-level security behind integrations and OAuth: the integration service's reads and writes,
 * the credential view, on-demand and background token refresh, import, disconnect and the
 * revocation queue, the account-metadata writes, and the OAuth flow once its state names the
 * team, all run as the tenant role. The cross-team places (the background jobs' scans, the
 * lookup of an OAuth state or an owed revocation by its id before the team is known) stay with
 * the owner. Proof: as the owner, drop the tenant policy of the table a path uses; with no
 * policy for the role RLS denies everything, so the team's OWN rows vanish from that path (or it
 * cannot write), while a path still running as the owner would go on seeing them. One app for
 * the file; each step drops one more policy, in an order that leaves the next step's tables alone.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { build, testClock } from '../helper.ts'
import { callbackRequest, connect, fakeEnv, START, startFakes, startFlow } from '../oauth/oauth-helper.ts'

const CREATE = 'mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }'
const ONE = 'query($id: ID!) { integration(id: $id) { id status credential { status } } }'
const LIST = '{ integrations(first: 50) { totalCount nodes { id } } providers { id isConnected } }'
const DISCONNECT = 'mutation($id: ID!) { disconnectIntegration(id: $id) { id status } }'
const REFRESH = 'mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }'
const IMPORT = 'mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id } }'

t.test('integrations and OAuth run as the tenant role', async (t) => {
  const fakes = await startFakes(t)
  const fake = fakes.custom
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { adminKey } = await app.seedTeam('acme')
  const { tokens, accountMetadata } = app.app.services
  const gql = (query: string, variables: Record<string, unknown> = {}) => app.gql(query, { auth: adminKey, variables })
  const code = (res: Awaited<ReturnType<typeof gql>>) => res.body.errors?.[0]?.extensions.code
  const dropPolicy = (table: string) => app.database.rows(sql.raw(`drop policy ${table}_tenant on ${table}`))
  const owner = <T extends Record<string, unknown>>(q: ReturnType<typeof sql>) => app.database.rows<T>(q)
  const count = async (table: string) => (await owner<{ n: number }>(sql.raw(`select count(*)::int as n from ${table}`)))[0]!.n
  const o = fake.server.origin
  const custom = async (name: string) => {
    const res = await gql(CREATE, { input: { provider: 'custom_oauth2', name, config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, revokeUrl: `${o}/oauth/revoke`, clientId: 'custom-client', clientSecret: 'custom-secret' } } })
    t.equal(res.body.errors, undefined, `created ${name}`)
    return res.body.data!.createIntegration.id as string
  }
  const connected = async (name: string) => {
    const id = await custom(name)
    const r = await connect(app, fake, adminKey, { provider: 'custom_oauth2', integrationId: id })
    t.equal(r.location?.searchParams.get('connected'), 'custom_oauth2', `connected ${name}`)
    return id
  }
  const status = async (id: string) => (await owner<{ status: string }>(sql`select status from integrations where id = ${id}`))[0]!.status

  // Created with every policy in place: the paths work as the tenant.
  const a = await connected('a')
  const b = await connected('b')
  const c = await custom('c')
  const pending = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: c })
  const pendingCallback = fake.oauth.approve(pending.providerUrl)
  t.equal((await gql(ONE, { id: a })).body.data!.integration.credential.status, 'VALID')
  const listed = (await gql(LIST)).body.data!
  t.equal(listed.integrations.totalCount, 3)
  t.equal(listed.providers.find((p: { id: string }) => p.id === 'custom_oauth2').isConnected, true)
  // b's revocation fails once at the provider: it stays owed, for the retry job below.
  fake.server.fail('POST /oauth/revoke', { status: 503, body: '' }, 1)
  t.equal((await gql(DISCONNECT, { id: b })).body.data!.disconnectIntegration.status, 'DISCONNECTED')
  const owed = () => owner<{ completed_at: Date | null, has_token: boolean }>(sql`select completed_at, token is not null as has_token from token_revocations where integration_id = ${b}`)
  t.same(await owed(), [{ completed_at: null, has_token: true }], 'b\'s revocation is owed')

  await t.test('token_revocations: disconnect queues, and the retry job settles, as the tenant', async (t) => {
    await dropPolicy('token_revocations')
    const res = await gql(DISCONNECT, { id: a })
    t.ok(res.body.errors !== undefined, 'the revocation cannot be queued, so nothing is disconnected')
    t.equal(await status(a), 'connected')
    t.equal((await owner(sql`select 1 from integration_credentials where integration_id = ${a}`)).length, 1, 'a keeps its tokens')

    // The job finds the owed revocation as the owner (its id is all a queued job has) and the
    // provider accepts it now; settling the row is the team's write, which RLS now refuses.
    await owner(sql`update token_revocations set next_attempt_at = ${new Date(clock.now().getTime() - 1000).toISOString()}`)
    const revokes = fake.server.count('POST /oauth/revoke')
    await tokens.retryDueRevocations()
    t.equal(fake.server.count('POST /oauth/revoke') - revokes, 1, 'the owner\'s scan found it')
    t.same(await owed(), [{ completed_at: null, has_token: true }], 'but the tenant could not settle it')
  })

  await t.test('integration_credentials: credential view, refreshes and the callback\'s save run as the tenant', async (t) => {
    await dropPolicy('integration_credentials')
    t.equal((await gql(ONE, { id: a })).body.data!.integration.credential.status, 'REVOKED', 'the team\'s own credential is not seen')
    t.equal(code(await gql(REFRESH, { id: a })), 'INVALID_CREDENTIALS', 'an on-demand refresh finds no token')

    // The background job: the owner's scan finds a's expiring token; the refresh itself, as the tenant, does not.
    await owner(sql`update integration_credentials set expires_at = ${clock.now().toISOString()} where integration_id = ${a}`)
    const calls = fake.server.count('POST /oauth/token')
    t.same(await tokens.refreshDueTokens(), { refreshed: 0, failed: 1 })
    t.equal(fake.server.count('POST /oauth/token'), calls, 'no call to the token endpoint')

    const counts = await accountMetadata.refreshDue()
    t.equal(counts.refreshed, 0, 'the account job gets no token for a')

    // The callback: state consumed and code exchanged as usual, but the tokens cannot be stored.
    const d = await custom('d')
    const r = await connect(app, fake, adminKey, { provider: 'custom_oauth2', integrationId: d })
    t.not(r.location?.searchParams.get('connected'), 'custom_oauth2', 'the connect does not complete')
    t.equal(await status(d), 'pending', 'integration, tokens and audit event rolled back together')
    t.equal((await owner(sql`select 1 from audit_events where action = 'integration.connected' and target_id = ${d}`)).length, 0)
  })

  await t.test('oauth_states: a flow is stored and consumed as the tenant; found by its state as the owner', async (t) => {
    await dropPolicy('oauth_states')
    const states = await count('oauth_states')
    const started = await gql(START, { input: { provider: 'custom_oauth2', integrationId: c, redirectTo: 'https://app.example/integrations' } })
    t.ok(started.body.errors !== undefined, 'no flow can be started')
    t.equal(await count('oauth_states'), states, 'nothing was inserted')

    const res = await callbackRequest(app, pendingCallback, pending.cookie)
    t.equal(res.statusCode, 400)
    t.equal(res.json().error.reason, 'invalid_state', 'the owner found the state; the tenant could not consume it')
    const [row] = await owner<{ consumed_at: Date | null }>(sql`select consumed_at from oauth_states where integration_id = ${c}`)
    t.equal(row!.consumed_at, null, 'the state is still unused')
    t.equal(await status(c), 'pending')
  })

  await t.test('integrations: reads and writes of the team\'s integrations run as the tenant', async (t) => {
    // The account job's failure note is the team's write too (a still has no readable token).
    await owner(sql`update integrations set account_refresh_error = null, account_refresh_failed_at = null`)
    await dropPolicy('integrations')
    const listed = (await gql(LIST)).body.data!
    t.same(listed.integrations, { totalCount: 0, nodes: [] }, 'the team\'s own integrations are not listed')
    t.equal(listed.providers.find((p: { id: string }) => p.id === 'custom_oauth2').isConnected, false)
    t.equal(code(await gql(ONE, { id: a })), 'NOT_FOUND')
    t.equal(code(await gql('mutation($id: ID!) { updateIntegration(id: $id, input: { name: "x" }) { id } }', { id: a })), 'NOT_FOUND')
    t.equal(code(await gql('mutation($id: ID!) { testIntegration(id: $id) { success } }', { id: a })), 'NOT_FOUND')
    t.equal(code(await gql('mutation($id: ID!) { deleteIntegration(id: $id) }', { id: a })), 'NOT_FOUND')
    t.equal(code(await gql(START, { input: { provider: 'custom_oauth2', integrationId: a, redirectTo: 'https://app.example/integrations' } })), 'NOT_FOUND')
    t.equal(code(await gql(IMPORT, { input: { provider: 'custom_oauth2', integrationId: a, accessToken: 'tok' } })), 'NOT_FOUND')

    const before = await count('integrations')
    t.ok((await gql(CREATE, { input: { provider: 'rest_api', name: 'e', config: { baseUrl: o }, credentials: { apiKey: 'k' } } })).body.errors !== undefined, 'no integration can be created')
    t.ok((await gql(IMPORT, { input: { provider: 'custom_oauth2', accessToken: 'tok', accountId: 'acct' } })).body.errors !== undefined, 'nor imported')
    t.equal(await count('integrations'), before, 'nothing was inserted')

    await accountMetadata.refreshDue()
    const [note] = await owner<{ account_refresh_error: string | null }>(sql`select account_refresh_error from integrations where id = ${a}`)
    t.equal(note!.account_refresh_error, null, 'the account job could not write a\'s failure note')
  })
})
