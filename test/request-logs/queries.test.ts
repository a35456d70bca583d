/**
 * requestLogs, requestLog, requestLogStats and auditEvents: happy, error and security cases,
 * filters and keyset pagination over seeded rows, statistics against hand-computed values, and
 * the outbound logging API the connector HTTP client will call.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { requestLogs, type NewRequestLogRow } from '../../src/db/schema.ts'
import { logIdAt } from '../../src/domain/request-logs/log-ids.ts'
import { PERCENTILE_RELATIVE_ERROR } from '../../src/domain/request-logs/log-rollup.ts'
import { build } from '../helper.ts'
import { runSecurityCases, randomId } from '../security-cases.ts'

const HOUR = 3_600_000
/** Percentiles come from log-scale histograms: within PERCENTILE_RELATIVE_ERROR of percentile_cont. */
const near = (got: number, exact: number): boolean => Math.abs(got - exact) <= PERCENTILE_RELATIVE_ERROR * exact + 1e-9

t.test('request logs queries', async (t) => {
  const a = await build(t)
  const { gql, app } = a

  /** A row of `teamId` at `at`, with defaults for everything the test does not care about. */
  const row = (teamId: string, at: Date, extra: Partial<NewRequestLogRow> = {}): NewRequestLogRow => ({
    id: logIdAt(at), createdAt: at, direction: 'inbound', teamId, requestId: randomUUID(), endpoint: 'query viewer',
    operationType: 'query', operation: 'viewer', method: 'POST', path: '/graphql', status: 200, success: true, durationMs: 5, ...extra
  })

  await runSecurityCases(t, a, [
    { name: 'requestLogs', scope: 'logs:read', query: '{ requestLogs { nodes { id } } }' },
    { name: 'requestLogStats', scope: 'logs:read', query: '{ requestLogStats { totalCalls } }' },
    { name: 'auditEvents', scope: 'logs:read', query: '{ auditEvents { nodes { id } } }' },
    { name: 'requestLog', scope: 'logs:read', query: 'query ($id: ID!) { requestLog(id: $id) { id } }', variables: () => ({ id: randomId() }) }
  ])

  t.test('pages through a filtered log newest first with no duplicate and no gap', async (t) => {
    const { teamId } = await a.seedTeam('paging')
    const logs = await a.keyWith(teamId, ['logs:read'])
    const other = await a.seedTeam('paging-other')
    const integrationId = randomUUID()
    const apiKeyId = randomUUID()
    const base = Date.now() - 10 * HOUR
    const rows: NewRequestLogRow[] = []
    for (let i = 0; i < 40; i++) {
      const failed = i % 5 === 0
      rows.push(row(teamId, new Date(base + i * 60_000), {
        direction: i % 4 === 0 ? 'outbound' : 'inbound',
        integrationId: i % 4 === 0 ? integrationId : null,
        provider: i % 4 === 0 ? (i % 8 === 0 ? 'github' : 'slack') : null,
        apiKeyId: i % 4 === 0 ? null : apiKeyId,
        operation: i % 3 === 0 ? 'listThings' : 'viewer',
        status: failed ? 503 : 200,
        success: !failed,
        errorCodes: failed ? ['UPSTREAM_UNAVAILABLE'] : [],
        requestId: `req-${i % 10}`
      }))
    }
    // the other team's rows must never show up
    for (let i = 0; i < 5; i++) rows.push(row(other.teamId, new Date(base + i * 60_000), { apiKeyId, requestId: 'req-1' }))
    await app.database.db.insert(requestLogs).values(rows)
    const mine = rows.filter((r) => r.teamId === teamId)

    const fetchAll = async (filter: Record<string, unknown>, first: number): Promise<string[]> => {
      const ids: string[] = []
      let after: string | null = null
      for (let pages = 0; pages < 100; pages++) {
        const res = await gql('query ($f: RequestLogFilter, $first: Int, $after: String) { requestLogs(filter: $f, first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }',
          { auth: logs.key, variables: { f: filter, first, after } })
        t.equal(res.status, 200)
        const page = res.body.data!.requestLogs
        ids.push(...page.nodes.map((n: { id: string }) => n.id))
        if (!page.pageInfo.hasNextPage) return ids
        after = page.pageInfo.endCursor
      }
      throw new Error('too many pages')
    }
    const expected = (keep: (r: NewRequestLogRow) => boolean): string[] => mine.filter(keep).map((r) => r.id!).sort().reverse()
    const from = new Date(base + 10 * 60_000)
    const to = new Date(base + 30 * 60_000)
    const cases: Array<[string, Record<string, unknown>, (r: NewRequestLogRow) => boolean]> = [
      ['all of the window', { from: new Date(base).toISOString() }, () => true],
      ['direction', { direction: 'OUTBOUND', from: new Date(base).toISOString() }, (r) => r.direction === 'outbound'],
      ['integrationId', { integrationId }, (r) => r.integrationId === integrationId],
      ['provider', { provider: 'github' }, (r) => r.provider === 'github'],
      ['apiKeyId', { apiKeyId }, (r) => r.apiKeyId === apiKeyId],
      ['operation', { operation: 'listThings', from: new Date(base).toISOString() }, (r) => r.operation === 'listThings'],
      ['success', { success: false }, (r) => r.success === false],
      ['status range', { statusMin: 500, statusMax: 599 }, (r) => (r.status ?? 0) >= 500],
      ['errorCode', { errorCode: 'UPSTREAM_UNAVAILABLE' }, (r) => (r.errorCodes ?? []).includes('UPSTREAM_UNAVAILABLE')],
      ['requestId', { requestId: 'req-3' }, (r) => r.requestId === 'req-3'],
      ['from/to (to exclusive)', { from: from.toISOString(), to: to.toISOString() }, (r) => r.createdAt! >= from && r.createdAt! < to],
      ['combined', { direction: 'INBOUND', success: true, operation: 'viewer', from: new Date(base).toISOString() }, (r) => r.direction === 'inbound' && r.success && r.operation === 'viewer']
    ]
    for (const [name, filter, keep] of cases) {
      const want = expected(keep)
      t.ok(want.length > 0, `${name}: the fixture has matching rows`)
      const got = await fetchAll(filter, 7)
      t.same(got, want, `${name}: every matching row once, newest first`)
    }
  })

  t.test('requestLog by id; bad input is BAD_USER_INPUT', async (t) => {
    const { teamId, adminKey } = await a.seedTeam('one')
    const r = row(teamId, new Date(), { rootFields: ['viewer'], cost: 3, clientIp: '10.0.0.1', userAgent: 'ua', principalKind: 'api_key' })
    await app.database.db.insert(requestLogs).values(r)
    const res = await gql('query ($id: ID!) { requestLog(id: $id) { id direction time requestId principalKind endpoint rootFields cost clientIp userAgent status success errorCodes } }', { auth: adminKey, variables: { id: r.id } })
    t.equal(res.status, 200)
    t.match(res.body.data?.requestLog, { id: r.id, direction: 'INBOUND', time: r.createdAt!.toISOString(), requestId: r.requestId, principalKind: 'API_KEY', endpoint: 'query viewer', rootFields: ['viewer'], cost: 3, clientIp: '10.0.0.1', userAgent: 'ua', status: 200, success: true, errorCodes: [] })

    // another team's row answers exactly like a missing one
    const other = await a.seedTeam('one-other')
    const foreign = row(other.teamId, new Date())
    await app.database.db.insert(requestLogs).values(foreign)
    const cross = await gql('query ($id: ID!) { requestLog(id: $id) { id } }', { auth: adminKey, variables: { id: foreign.id } })
    const missing = await gql('query ($id: ID!) { requestLog(id: $id) { id } }', { auth: adminKey, variables: { id: randomId() } })
    t.equal(cross.status, 404)
    t.equal(cross.body.errors?.[0]?.extensions.code, 'NOT_FOUND')
    t.equal(cross.body.errors?.[0]?.message, missing.body.errors?.[0]?.message)
    t.equal(cross.status, missing.status)
    const foreignInList = await gql(`{ requestLogs(filter: { requestId: "${foreign.requestId}" }) { nodes { id } } }`, { auth: adminKey })
    t.same(foreignInList.body.data?.requestLogs.nodes, [], "another team's rows are not listed")

    const notUuid = await gql('{ requestLog(id: "nope") { id } }', { auth: adminKey })
    t.equal(notUuid.body.errors?.[0]?.extensions.code, 'NOT_FOUND')
    for (const [query, field] of [
      ['{ requestLogs(first: 1000) { nodes { id } } }', 'first'],
      ['{ requestLogs(after: "garbage") { nodes { id } } }', 'after'],
      ['{ requestLogs(filter: { apiKeyId: "x" }) { nodes { id } } }', 'filter.apiKeyId'],
      ['{ requestLogs(filter: { statusMin: 500, statusMax: 400 }) { nodes { id } } }', 'filter.statusMin'],
      ['{ requestLogStats(bucket: HOUR, filter: { from: "2020-01-01T00:00:00Z", to: "2020-03-01T00:00:00Z" }) { totalCalls } }', 'filter.from'],
      ['{ auditEvents(first: 0) { nodes { id } } }', 'first']
    ] as const) {
      const res = await gql(query, { auth: adminKey })
      t.equal(res.status, 400, `${field}: 400`)
      t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', `${field}: BAD_USER_INPUT`)
      t.equal(res.body.errors?.[0]?.extensions.field, field)
    }
  })

  t.test('requestLogStats matches hand-computed values', async (t) => {
    const { teamId } = await a.seedTeam('stats')
    const logs = await a.keyWith(teamId, ['logs:read'])
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR // start of an hour, 5 hours ago
    await app.database.db.insert(requestLogs).values([
      row(teamId, new Date(h0 + 60_000), { endpoint: 'query viewer', durationMs: 10 }),
      row(teamId, new Date(h0 + 120_000), { endpoint: 'query viewer', durationMs: 20 }),
      row(teamId, new Date(h0 + HOUR + 60_000), { endpoint: 'mutation createApiKey', durationMs: 30, status: 400, success: false, errorCodes: ['BAD_USER_INPUT'] }),
      row(teamId, new Date(h0 + HOUR + 120_000), { endpoint: 'query viewer', durationMs: 40 }),
      row(teamId, new Date(h0 + HOUR + 180_000), { endpoint: 'github GET /user', direction: 'outbound', durationMs: 100, status: 503, success: false, errorCodes: ['UPSTREAM_UNAVAILABLE'] }),
      // outside the window asked for: must not count
      row(teamId, new Date(h0 - 60_000), { durationMs: 9999 })
    ])
    const from = new Date(h0).toISOString()
    const to = new Date(h0 + 3 * HOUR).toISOString()
    const res = await gql(`query ($f: RequestLogFilter) { requestLogStats(filter: $f, bucket: HOUR) {
      from to totalCalls errorCount errorRate avgDurationMs p50DurationMs p95DurationMs p99DurationMs
      topEndpoints { endpoint calls errors avgDurationMs p95DurationMs } slowestEndpoints { endpoint p95DurationMs }
      errorBreakdown { code count } usage { start calls errors avgDurationMs } } }`, { auth: logs.key, variables: { f: { from, to } } })
    t.equal(res.status, 200)
    const s = res.body.data!.requestLogStats
    t.equal(s.totalCalls, 5)
    t.equal(s.errorCount, 2)
    t.equal(s.errorRate, 0.4)
    t.equal(s.avgDurationMs, 40) // (10+20+30+40+100)/5
    t.ok(PERCENTILE_RELATIVE_ERROR < 0.025, 'the documented bound: 2.2 %')
    t.ok(near(s.p50DurationMs, 30), `p50 ≈ 30 (${s.p50DurationMs})`)
    t.ok(near(s.p95DurationMs, 88), `p95 ≈ 40 + 0.8 × (100 − 40) = 88 (${s.p95DurationMs})`)
    t.ok(near(s.p99DurationMs, 97.6), `p99 ≈ 40 + 0.96 × (100 − 40) = 97.6 (${s.p99DurationMs})`)
    const { p95DurationMs: viewerP95, ...viewer } = s.topEndpoints[0]
    t.same(viewer, { endpoint: 'query viewer', calls: 3, errors: 0, avgDurationMs: 70 / 3 })
    t.ok(near(viewerP95, 20 + 0.9 * 20), `endpoint p95 ≈ 38 (${viewerP95})`)
    t.equal(s.slowestEndpoints[0].p95DurationMs, 100, 'one value: min = max = the exact value')
    t.same(s.slowestEndpoints.map((e: { endpoint: string }) => e.endpoint), ['github GET /user', 'query viewer', 'mutation createApiKey'])
    t.same(s.errorBreakdown, [{ code: 'BAD_USER_INPUT', count: 1 }, { code: 'UPSTREAM_UNAVAILABLE', count: 1 }])
    t.same(s.usage, [
      { start: new Date(h0).toISOString(), calls: 2, errors: 0, avgDurationMs: 15 },
      { start: new Date(h0 + HOUR).toISOString(), calls: 3, errors: 2, avgDurationMs: 170 / 3 },
      { start: new Date(h0 + 2 * HOUR).toISOString(), calls: 0, errors: 0, avgDurationMs: null }
    ])

    const outbound = await gql('query ($f: RequestLogFilter) { requestLogStats(filter: $f, bucket: DAY) { totalCalls errorRate usage { calls } } }', { auth: logs.key, variables: { f: { from, to, direction: 'OUTBOUND' } } })
    t.equal(outbound.body.data?.requestLogStats.totalCalls, 1)
    t.equal(outbound.body.data?.requestLogStats.errorRate, 1)

    const empty = await gql('{ requestLogStats(filter: { provider: "none" }) { from to totalCalls errorRate avgDurationMs p99DurationMs topEndpoints { endpoint } usage { calls } } }', { auth: logs.key })
    t.match(empty.body.data?.requestLogStats, { totalCalls: 0, errorRate: 0, avgDurationMs: null, p99DurationMs: null, topEndpoints: [] })
    const window = empty.body.data!.requestLogStats
    t.equal(Date.parse(window.to) - Date.parse(window.from), 24 * HOUR, 'default window: the last 24 hours')
    const hoursTouched = Math.floor((Date.parse(window.to) - 1) / HOUR) - Math.floor(Date.parse(window.from) / HOUR) + 1
    t.equal(window.usage.length, hoursTouched, 'one bucket per hour the window touches, empty ones included')
  })

  t.test('recordOutbound stores the path and a scrubbed message, linked by request id', async (t) => {
    const { teamId, adminKey } = await a.seedTeam('outbound')
    const inbound = await gql('{ viewer { team { id } } }', { auth: adminKey })
    const requestId = inbound.headers['x-request-id'] as string
    const integrationId = randomUUID()
    const leaked = 'ghp_' + 'A'.repeat(36)
    app.requestLog.recordOutbound({
      teamId, integrationId, provider: 'github', operation: 'getUser', method: 'get',
      url: `https://api.github.com/user/repos?access_token=${leaked}&page=2`,
      status: 401, durationMs: 42, success: false, errorType: 'INVALID_CREDENTIALS', attempt: 2, requestId,
      errorMessage: `Bad credentials for Authorization: Bearer ${leaked}\n{"refresh_token":"rt-secret-value","client_secret":"cs-secret-value"}`
    })
    await app.requestLog.flush()
    const res = await gql('query ($f: RequestLogFilter) { requestLogs(filter: $f) { nodes { direction endpoint method path status success errorCodes errorMessage integrationId provider attempt operation durationMs } } }',
      { auth: adminKey, variables: { f: { requestId } } })
    const nodes = res.body.data!.requestLogs.nodes
    t.equal(nodes.length, 2, 'the inbound call and the provider call it caused')
    t.match(nodes[0], { direction: 'INBOUND', endpoint: 'query viewer' })
    const out = nodes[1]
    t.match(out, { direction: 'OUTBOUND', endpoint: 'github GET /user/repos', method: 'GET', path: '/user/repos', status: 401, success: false, errorCodes: ['INVALID_CREDENTIALS'], integrationId, provider: 'github', attempt: 2, operation: 'getUser', durationMs: 42 })
    t.notMatch(out.errorMessage, /ghp_|rt-secret-value|cs-secret-value/, 'no token, refresh token or client secret in the message')
    t.notMatch(out.errorMessage, /\n/, 'one line')
    t.match(out.errorMessage, /Bad credentials/, 'the useful part stays')
    const [found] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from request_logs t where t::text like ${'%' + leaked + '%'} or t::text like '%secret-value%'`)
    t.equal(found?.n, 0, 'nothing secret anywhere in the table')

    const metrics = await app.metrics.registry.getSingleMetricAsString('switchboard_outbound_requests_total')
    t.match(metrics, /switchboard_outbound_requests_total\{provider="github",outcome="INVALID_CREDENTIALS"\} 1/)
  })

  t.test('auditEvents lists the team trail newest first, filtered and paged', async (t) => {
    const { adminKey } = await a.seedTeam('audit')
    const other = await a.seedTeam('audit-other')
    const created = await gql('mutation { createApiKey(input: { name: "k", scopes: ["logs:read"] }) { apiKey { id } } }', { auth: adminKey })
    const keyId = created.body.data!.createApiKey.apiKey.id
    const rotated = await gql(`mutation { rotateApiKey(id: "${keyId}") { apiKey { id } } }`, { auth: adminKey })
    t.equal(rotated.status, 200)
    await gql(`mutation { revokeApiKey(id: "${keyId}") { id } }`, { auth: adminKey })

    const all = await gql('{ auditEvents(first: 2) { nodes { id action actorType targetType targetId metadata requestId createdAt } pageInfo { hasNextPage endCursor } } }', { auth: adminKey })
    t.equal(all.status, 200)
    const first = all.body.data!.auditEvents
    t.same(first.nodes.map((e: { action: string }) => e.action), ['api_key.revoked', 'api_key.rotated'])
    t.equal(first.nodes[0].targetId, keyId)
    t.equal(first.nodes[0].actorType, 'api_key')
    t.equal(typeof first.nodes[0].requestId, 'string')
    t.equal(first.pageInfo.hasNextPage, true)
    const unpaged = await gql('{ auditEvents(first: 100) { nodes { id } } }', { auth: adminKey })
    const ids: string[] = first.nodes.map((e: { id: string }) => e.id)
    let after: string | null = first.pageInfo.endCursor
    while (after !== null) {
      const page = await gql('query ($after: String) { auditEvents(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }', { auth: adminKey, variables: { after } })
      ids.push(...page.body.data!.auditEvents.nodes.map((e: { id: string }) => e.id))
      after = page.body.data!.auditEvents.pageInfo.hasNextPage ? page.body.data!.auditEvents.pageInfo.endCursor : null
    }
    t.same(ids, unpaged.body.data!.auditEvents.nodes.map((e: { id: string }) => e.id), 'pages add up to the whole trail, once each')
    t.ok(ids.length >= 4, 'created (seed), created, rotated, revoked')

    const filtered = await gql(`{ auditEvents(filter: { action: "api_key.rotated", targetId: "${keyId}" }) { nodes { action targetId } } }`, { auth: adminKey })
    t.same(filtered.body.data!.auditEvents.nodes, [{ action: 'api_key.rotated', targetId: keyId }])
    const otherTeam = await gql('{ auditEvents { nodes { targetId } } }', { auth: other.adminKey })
    t.notOk(otherTeam.body.data!.auditEvents.nodes.some((e: { targetId: string }) => e.targetId === keyId), "another team never sees this team's events")
  })
})
