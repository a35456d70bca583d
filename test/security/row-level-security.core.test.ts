/**
 * Row-level security on the core services' own paths: API keys, teams, GraphQL policies, the
 * audit trail and the request-log reads. Each case creates the team's data, then (as the owner)
 * drops the tenant policy of one table: with no policy for switchboard_app, RLS denies that role
 * everything. A service path that runs inside asTenant now finds none of the team's OWN rows and
 * cannot write any, which shows the path really runs as the tenant role under RLS; a path still
 * on the owner would go on returning them. Paths that are cross-team on purpose (the key
 * verifier's hash lookup, the request-log writer, the rollup backfill) keep working.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { count, eq, sql } from 'drizzle-orm'
import { apiKeys, auditEvents, requestLogs, type NewRequestLogRow } from '../../src/db/schema.ts'
import { logIdAt } from '../../src/domain/request-logs/log-ids.ts'
import { build, signToken, type TestApp } from '../helper.ts'

const HOUR = 3_600_000

/** As the owner: remove `table`'s tenant policy, so the tenant role is denied every row of it. */
async function dropTenantPolicy (a: TestApp, table: string): Promise<void> {
  await a.database.rows(sql.raw(`drop policy ${table}_tenant on ${table}`))
}

const codeOf = (res: Awaited<ReturnType<TestApp['gql']>>): string | undefined => res.body.errors?.[0]?.extensions.code

t.test('api keys: list, get, create and every change run as the tenant', async (t) => {
  const a = await build(t)
  const { teamId, adminKey } = await a.seedTeam('keys')
  const made = await a.gql('mutation { createApiKey(input: { name: "reader", scopes: ["keys:read"] }) { apiKey { id } } }', { auth: adminKey })
  const keyId: string = made.body.data!.createApiKey.apiKey.id
  const before = await a.gql('{ apiKeys { totalCount nodes { id } } }', { auth: adminKey })
  t.equal(before.body.data!.apiKeys.totalCount, 2, 'the team sees its two keys')

  await dropTenantPolicy(a, 'api_keys')

  const list = await a.gql('{ apiKeys { totalCount nodes { id } } }', { auth: adminKey })
  t.same(list.body.data?.apiKeys, { totalCount: 0, nodes: [] }, 'list and count: none of its own keys (the caller still authenticates: the hash lookup is the owner\'s)')
  const one = await a.gql('query ($id: ID!) { apiKey(id: $id) { id } }', { auth: adminKey, variables: { id: keyId } })
  t.equal(codeOf(one), 'NOT_FOUND', 'get: its own key is NOT_FOUND')
  for (const [name, change] of [
    ['update', 'mutation ($id: ID!) { updateApiKey(id: $id, input: { name: "x" }) { id } }'],
    ['rotate', 'mutation ($id: ID!) { rotateApiKey(id: $id) { apiKey { id } } }'],
    ['revoke', 'mutation ($id: ID!) { revokeApiKey(id: $id) { id } }']
  ] as const) {
    const res = await a.gql(change, { auth: adminKey, variables: { id: keyId } })
    t.equal(codeOf(res), 'NOT_FOUND', `${name}: its own key is NOT_FOUND`)
  }
  const created = await a.gql('mutation { createApiKey(input: { name: "more", scopes: ["keys:read"] }) { apiKey { id } } }', { auth: adminKey })
  t.ok(created.body.errors !== undefined && created.body.data == null, 'create: the insert is refused')
  const [rows] = await a.database.db.select({ n: count() }).from(apiKeys).where(eq(apiKeys.teamId, teamId))
  t.equal(rows!.n, 2, 'nothing was written, and nothing was rotated')
  const [mine] = await a.database.db.select({ name: apiKeys.name, revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, keyId))
  t.same(mine, { name: 'reader', revokedAt: null }, 'the key is unchanged')
})

t.test('audit trail: reads, and the audit row of a change, run as the tenant', async (t) => {
  const a = await build(t)
  const { adminKey } = await a.seedTeam('audit')
  const made = await a.gql('mutation { createApiKey(input: { name: "reader", scopes: ["keys:read"] }) { apiKey { id } } }', { auth: adminKey })
  const keyId: string = made.body.data!.createApiKey.apiKey.id
  const before = await a.gql('{ auditEvents { nodes { action } } }', { auth: adminKey })
  t.ok(before.body.data!.auditEvents.nodes.length >= 2, 'the team sees its audit events')

  await dropTenantPolicy(a, 'audit_events')

  const after = await a.gql('{ auditEvents { nodes { action } } }', { auth: adminKey })
  t.same(after.body.data?.auditEvents.nodes, [], 'auditEvents: none of its own events')
  const revoked = await a.gql('mutation ($id: ID!) { revokeApiKey(id: $id) { id } }', { auth: adminKey, variables: { id: keyId } })
  t.ok(revoked.body.errors !== undefined, 'revoke: its audit row is refused, so the change is too')
  const [row] = await a.database.db.select({ revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, keyId))
  t.equal(row!.revokedAt, null, 'the key was not revoked (one transaction)')
  const [events] = await a.database.db.select({ n: count() }).from(auditEvents).where(eq(auditEvents.action, 'api_key.revoked'))
  t.equal(events!.n, 0, 'and no audit row was written')
})

t.test('teams: the viewer and the JWT team check read the team row as the tenant', async (t) => {
  const a = await build(t)
  const { teamId, adminKey } = await a.seedTeam('acme')
  const before = await a.gql('{ viewer { team { id } } }', { auth: adminKey })
  t.equal(before.body.data!.viewer.team.id, teamId)

  await dropTenantPolicy(a, 'teams')

  const viewer = await a.gql('{ viewer { team { id } } }', { auth: adminKey })
  t.equal(codeOf(viewer), 'NOT_FOUND', 'viewer: its own team is NOT_FOUND')
  const jwt = await a.gql('{ viewer { team { id } } }', { auth: await signToken({ sub: 'u1', team: teamId, role: 'admin' }) })
  t.equal(codeOf(jwt), 'UNAUTHENTICATED', 'a JWT naming the team: the team is not found')
  t.equal((await a.app.services.teams.isEmpty()), false, 'isEmpty (first start, all teams) stays on the owner')
})

t.test('graphql policies: the effective policy and its update run as the tenant', async (t) => {
  const a = await build(t, { env: { API_KEY_CACHE_TTL_MS: '0' } }) // no policy cache: every request reads the row
  const { adminKey } = await a.seedTeam('policy')
  const set = await a.gql('mutation { updateGraphQLPolicy(input: { depthLimit: 5 }) { depthLimit } }', { auth: adminKey })
  t.equal(set.body.data!.updateGraphQLPolicy.depthLimit, 5)
  const max = (await a.gql('{ graphqlPolicy { maxDepthLimit } }', { auth: adminKey })).body.data!.graphqlPolicy.maxDepthLimit as number
  t.not(max, 5, 'the maximum differs from the team\'s own limit')

  await dropTenantPolicy(a, 'graphql_policies')

  const update = await a.gql('mutation { updateGraphQLPolicy(input: { depthLimit: 4 }) { depthLimit } }', { auth: adminKey })
  t.ok(update.body.errors !== undefined, 'update: the upsert is refused')
  const read = await a.gql('{ graphqlPolicy { depthLimit } }', { auth: adminKey })
  t.equal(read.body.data?.graphqlPolicy.depthLimit, max, 'its own policy row is invisible: the defaults apply')
  const [row] = await a.database.rows<{ depth: number }>(sql`select depth_limit as depth from graphql_policies`)
  t.equal(row!.depth, 5, 'the stored policy was not changed')
})

t.test('request logs: list, get and stats (raw rows and rollup) run as the tenant', async (t) => {
  const a = await build(t)
  const { teamId } = await a.seedTeam('logs')
  const logs = await a.keyWith(teamId, ['logs:read'])
  // Whole hours [h0, h0 + 2h) come from the rollup, the half hour before h0 from the raw rows.
  const h0 = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR
  const row = (at: number): NewRequestLogRow => ({
    id: logIdAt(new Date(at)), createdAt: new Date(at), direction: 'inbound', teamId, requestId: randomUUID(), endpoint: 'query viewer',
    operationType: 'query', operation: 'viewer', method: 'POST', path: '/graphql', status: 200, success: true, durationMs: 5
  })
  const rows = [row(h0 - 10 * 60_000), row(h0 + 30 * 60_000), row(h0 + 40 * 60_000)]
  await a.database.db.insert(requestLogs).values(rows)
  await a.app.services.requestLogs.rollUpHistory() // cross-team backfill: the owner's
  const window = { from: new Date(h0 - 30 * 60_000).toISOString(), to: new Date(h0 + 2 * HOUR + 30 * 60_000).toISOString() }
  const stats = async (): Promise<number | undefined> =>
    (await a.gql('query ($f: RequestLogFilter) { requestLogStats(filter: $f) { totalCalls } }', { auth: logs.key, variables: { f: window } })).body.data?.requestLogStats.totalCalls
  const listed = async (): Promise<string[] | undefined> =>
    (await a.gql('query ($f: RequestLogFilter) { requestLogs(filter: $f) { nodes { id } } }', { auth: logs.key, variables: { f: window } })).body.data?.requestLogs.nodes.map((n: { id: string }) => n.id)
  t.equal(await stats(), 3, 'stats: 1 raw + 2 from the rollup')
  t.same(await listed(), rows.map((r) => r.id).reverse(), 'list: the three rows')

  await dropTenantPolicy(a, 'request_log_rollup')
  t.equal(await stats(), 1, 'stats: the rollup\'s hours are read as the tenant (only the raw edge is left)')

  await dropTenantPolicy(a, 'request_logs')
  t.equal(await stats(), 0, 'stats: the raw rows are read as the tenant')
  t.same(await listed(), [], 'list: none of its own rows')
  const one = await a.gql('query ($id: ID!) { requestLog(id: $id) { id } }', { auth: logs.key, variables: { id: rows[0]!.id } })
  t.equal(codeOf(one), 'NOT_FOUND', 'get: its own row is NOT_FOUND')
})
