/**
 * Every call into the gateway gets a row: GraphQL success, validation error, auth failure and
 * rate limit, REST routes; nothing secret is stored; /metrics counts the same calls and is
 * protected by its token.
 */
import t from 'tap'
import Fastify from 'fastify'
import { sql } from 'drizzle-orm'
import { createMetrics } from '../../src/plugins/metrics.ts'
import { metricsRoutes } from '../../src/routes/metrics.ts'
import { build, signToken, type TestApp } from '../helper.ts'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

type Row = Record<string, any>
async function rowOf (a: TestApp, requestId: unknown): Promise<Row | undefined> {
  await a.app.requestLog.flush()
  const rows = await a.database.rows<Row>(sql`select * from request_logs where request_id = ${String(requestId)}`)
  return rows[0]
}

t.test('inbound request logs', async (t) => {
  const a = await build(t, { env: { METRICS_TOKEN } })
  const { gql, app } = a
  const { teamId, adminKey, adminKeyId } = await a.seedTeam('inbound')

  t.test('a successful operation: principal, operation, root fields, cost, status, timing', async (t) => {
    const res = await gql('query Who { viewer { team { id } } scopes { name } }', { auth: adminKey, headers: { 'user-agent': 'tests/1.0' } })
    t.equal(res.status, 200)
    const row = await rowOf(a, res.headers['x-request-id'])
    t.match(row, {
      direction: 'inbound', team_id: teamId, principal_kind: 'api_key', api_key_id: adminKeyId, user_id: null,
      operation_type: 'query', operation: 'Who', root_fields: ['scopes', 'viewer'], endpoint: 'query Who',
      method: 'POST', path: '/graphql', status: 200, success: true, error_codes: [], client_ip: '127.0.0.1', user_agent: 'tests/1.0'
    })
    t.ok(row!.cost > 0, 'the limits check cost is recorded')
    t.ok(row!.duration_ms > 0)
    t.ok(Math.abs(new Date(row!.created_at).getTime() - Date.now()) < 10_000)
  })

  t.test('a user principal and an anonymous operation named by its root fields', async (t) => {
    const token = await signToken({ sub: 'user-7', team: teamId, role: 'operator' })
    const res = await gql('{ viewer { scopes } }', { auth: token })
    const row = await rowOf(a, res.headers['x-request-id'])
    t.match(row, { principal_kind: 'user', user_id: 'user-7', api_key_id: null, operation: 'viewer', endpoint: 'query viewer' })
  })

  t.test('a validation error', async (t) => {
    const res = await gql('{ viewer { nope } }', { auth: adminKey })
    t.equal(res.status, 400)
    const row = await rowOf(a, res.headers['x-request-id'])
    t.match(row, { team_id: teamId, status: 400, success: false, error_codes: ['BAD_USER_INPUT'], operation: 'viewer' })
  })

  t.test('a resolver error with data: 200 but not a success', async (t) => {
    const res = await gql('{ viewer { team { id } } apiKey(id: "00000000-0000-7000-8000-000000000000") { id } }', { auth: adminKey })
    const row = await rowOf(a, res.headers['x-request-id'])
    t.match(row, { status: res.status, success: false, error_codes: ['NOT_FOUND'] })
  })

  t.test('an authentication failure', async (t) => {
    const res = await gql('query Sneaky { viewer { scopes } }', { auth: 'sb_live_not-a-real-key' })
    t.equal(res.status, 401)
    const row = await rowOf(a, res.headers['x-request-id'])
    // rejected in onRequest, before the body is read: the operation is unknown
    t.match(row, { team_id: null, principal_kind: null, status: 401, success: false, error_codes: ['UNAUTHENTICATED'], operation: null, root_fields: [], endpoint: 'graphql (unknown)' })
  })

  t.test('a rate-limited call', async (t) => {
    const limited = await a.keyWith(teamId, ['logs:read'], { rateLimit: { requests: 1, windowMs: 60_000 } })
    const ok = await gql('{ viewer { scopes } }', { auth: limited.key })
    t.equal(ok.status, 200)
    const res = await gql('{ viewer { scopes } }', { auth: limited.key })
    t.equal(res.status, 429)
    const row = await rowOf(a, res.headers['x-request-id'])
    t.match(row, { team_id: teamId, api_key_id: limited.id, status: 429, success: false, error_codes: ['RATE_LIMITED'] })
  })

  t.test('REST routes: path without query string; probes are not logged', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/no-such-route/github?code=CODE-SECRET-1&state=STATE-SECRET-1' })
    t.equal(res.statusCode, 404)
    const row = await rowOf(a, res.headers['x-request-id'])
    t.match(row, { operation_type: 'rest', operation: null, endpoint: 'GET (no route)', path: '/no-such-route/github', status: 404, success: false, error_codes: ['NOT_FOUND'], team_id: null })
    const metrics = await app.inject({ method: 'GET', url: '/metrics?x=1', headers: { authorization: 'Bearer nope-nope-nope-nope' } })
    t.equal(metrics.statusCode, 401)
    const health = await app.inject({ method: 'GET', url: '/healthz' })
    t.equal(await rowOf(a, health.headers['x-request-id']), undefined, 'health probes are not logged')
  })

  t.test('secrets are absent from stored rows', async (t) => {
    const token = await signToken({ sub: 'user-secret', team: teamId, role: 'admin' })
    const secrets = {
      token: 'VAR-TOKEN-SECRET', secret: 'VAR-SECRET-SECRET', password: 'VAR-PASSWORD-SECRET',
      code: 'VAR-CODE-SECRET', refresh_token: 'VAR-REFRESH-SECRET', clientSecret: 'VAR-CLIENT-SECRET'
    }
    const created = await gql('mutation ($name: String!) { createApiKey(input: { name: $name, scopes: ["logs:read"] }) { secret } }', { auth: token, variables: { name: 'x' } })
    const newKey = created.body.data!.createApiKey.secret as string
    await gql('query ($token: String, $secret: String, $password: String, $code: String, $refresh_token: String, $clientSecret: String) { viewer { scopes } }', { auth: adminKey, variables: secrets })
    await gql('mutation ($key: String!) { verifyApiKey(key: $key) { valid } }', { auth: newKey, variables: { key: newKey } })
    await app.inject({ method: 'GET', url: `/graphql?query=%7Bviewer%7Bscopes%7D%7D&api_key=${newKey}` })
    await app.inject({ method: 'GET', url: '/oauth/callback/github?code=CODE-SECRET-2&state=STATE-SECRET-2' })
    await app.inject({ method: 'GET', url: '/no-such-route?code=CODE-SECRET-3&state=STATE-SECRET-3' })
    await app.requestLog.flush()
    const needles = [adminKey, newKey, token, ...Object.values(secrets), 'CODE-SECRET', 'STATE-SECRET']
    for (const needle of needles) {
      const [found] = await a.database.rows<{ n: number }>(sql`select count(*)::int as n from request_logs t where t::text like ${'%' + needle + '%'}`)
      t.equal(found?.n, 0, `${needle.slice(0, 12)}… is nowhere in request_logs`)
    }
    const [all] = await a.database.rows<{ n: number }>(sql`select count(*)::int as n from request_logs`)
    t.ok((all?.n ?? 0) > 10, 'the table does hold the calls')
  })

  t.test('GET /metrics: token required; counts requests by operation and status', async (t) => {
    t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
    t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode, 401)
    await gql('query MetricsProbe { viewer { scopes } }', { auth: adminKey })
    await app.requestLog.flush()
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /text\/plain/)
    t.match(res.body, /switchboard_requests_total\{operation="query MetricsProbe",status="200"\} 1/)
    t.match(res.body, /switchboard_requests_total\{operation="graphql \(unknown\)",status="429"\} 1/)
    t.match(res.body, /switchboard_request_duration_seconds_bucket\{le="[\d.]+",operation="query MetricsProbe",status="200"\}/)
    t.match(res.body, /switchboard_request_log_queue_depth 0/)
    t.match(res.body, /switchboard_request_log_rows_flushed_total [1-9]/)
    t.match(res.body, /# TYPE switchboard_token_refreshes_total counter/)
    t.match(res.body, /# TYPE switchboard_outbound_requests_total counter/)
    // prom-client's default process and Node.js metrics, all but the per-collection GC histogram.
    t.match(res.body, /switchboard_process_cpu_user_seconds_total \d/)
    t.match(res.body, /switchboard_nodejs_eventloop_lag_p99_seconds \d/)
    t.match(res.body, /switchboard_nodejs_heap_size_used_bytes \d/)
    t.notMatch(res.body, /nodejs_gc_duration_seconds/)
  })
})

t.test('without METRICS_TOKEN there is no /metrics endpoint', async (t) => {
  const app = Fastify()
  app.decorate('metrics', createMetrics())
  await app.register(metricsRoutes, { token: undefined })
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
})

t.test('REQUEST_LOG_ENABLED=false: no rows, metrics still counted', async (t) => {
  const a = await build(t, { env: { REQUEST_LOG_ENABLED: 'false' } })
  const { adminKey } = await a.seedTeam('off')
  const res = await a.gql('{ viewer { scopes } }', { auth: adminKey })
  t.equal(res.status, 200)
  await a.app.requestLog.flush()
  t.same(await a.database.rows(sql`select id from request_logs`), [])
  t.match(await a.app.metrics.registry.getSingleMetricAsString('switchboard_requests_total'), /operation="query viewer",status="200"\} 1/)
})
