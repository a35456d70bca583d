/**
 * The hourly rollup behind requestLogStats: the writer's sinks keep it in step with the rows in
 * the same transaction; stats read from it equal stats read from the raw rows (counts, errors,
 * averages exactly; percentiles from the same histograms), for every filter it answers; a
 * backfill covers rows written around the writer; percentiles stay within the documented bound
 * of percentile_cont; retention removes old hours.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { requestLogs, type NewRequestLogRow } from '../../src/db/schema.ts'
import type { LogEntry } from '../../src/domain/request-logs/log-entry.ts'
import { logIdAt } from '../../src/domain/request-logs/log-ids.ts'
import { PERCENTILE_RELATIVE_ERROR, durationBucket, percentile } from '../../src/domain/request-logs/log-rollup.ts'
import { pgliteCopySink, postgresCopySink } from '../../src/domain/request-logs/log-sinks.ts'
import { build } from '../helper.ts'

const HOUR = 3_600_000

/** percentile_cont as Postgres computes it. */
function exactPercentile (values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b)
  const pos = p * (v.length - 1)
  const lo = Math.floor(pos)
  return lo + 1 < v.length ? v[lo]! + (pos - lo) * (v[lo + 1]! - v[lo]!) : v[lo]!
}

t.test('percentiles from the histogram stay within the documented bound', async (t) => {
  let seed = 7
  const rand = (): number => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed / 2 ** 31 }
  for (const spread of [1, 100, 10_000]) {
    const values = Array.from({ length: 5000 }, () => 0.05 + rand() ** 3 * spread)
    const h = new Map<number, number>()
    for (const v of values) h.set(durationBucket(v), (h.get(durationBucket(v)) ?? 0) + 1)
    for (const p of [0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
      const exact = exactPercentile(values, p)
      const est = percentile(h, p, Math.min(...values), Math.max(...values))!
      t.ok(Math.abs(est - exact) <= PERCENTILE_RELATIVE_ERROR * exact + 1e-9, `spread ${spread}, p${p * 100}: ${est} vs ${exact}`)
    }
  }
})

t.test('stats from the rollup equal stats from the raw rows', async (t) => {
  const a = await build(t)
  const { app, gql } = a
  const { teamId } = await a.seedTeam('rollup')
  const logs = await a.keyWith(teamId, ['logs:read'])
  const other = await a.seedTeam('rollup-other')
  const integrationId = randomUUID()
  const apiKeyId = randomUUID()
  const h0 = Math.floor(Date.now() / HOUR) * HOUR - 8 * HOUR
  const rows: NewRequestLogRow[] = []
  for (let i = 0; i < 600; i++) {
    const at = new Date(h0 + Math.floor(i * 6 * HOUR / 600) + (i % 7) * 1000)
    const outbound = i % 4 === 0
    const failed = i % 9 === 0
    rows.push({
      id: logIdAt(at), createdAt: at, teamId: i % 13 === 0 ? other.teamId : teamId, requestId: `req-${i}`,
      direction: outbound ? 'outbound' : 'inbound', endpoint: outbound ? 'github GET /user' : `query op${i % 5}`, operation: outbound ? 'getUser' : `op${i % 5}`,
      provider: outbound ? (i % 8 === 0 ? 'github' : 'slack') : null, integrationId: outbound ? integrationId : null, apiKeyId: outbound ? null : apiKeyId,
      method: outbound ? 'GET' : 'POST', path: '/x', status: failed ? (i % 2 === 0 ? 503 : 400) : 200, success: !failed,
      errorCodes: failed ? (i % 2 === 0 ? ['UPSTREAM_UNAVAILABLE'] : ['BAD_USER_INPUT', 'NOT_FOUND']) : [],
      durationMs: 0.25 * ((i * 37) % 800) // quarter milliseconds: every sum is exact in floating point
    })
  }
  await app.database.db.insert(requestLogs).values(rows)

  const query = `query ($f: RequestLogFilter, $b: StatsBucket) { requestLogStats(filter: $f, bucket: $b) {
    from to totalCalls errorCount errorRate avgDurationMs p50DurationMs p95DurationMs p99DurationMs
    topEndpoints { endpoint calls errors avgDurationMs p95DurationMs } slowestEndpoints { endpoint p95DurationMs }
    errorBreakdown { code count } usage { start calls errors avgDurationMs } } }`
  // windows with partial hours at both edges, and filters the rollup answers
  const from = new Date(h0 + 30 * 60_000).toISOString()
  const to = new Date(h0 + 5 * HOUR + 15 * 60_000).toISOString()
  const filters: Array<Record<string, unknown>> = [
    { from, to },
    { from: new Date(h0).toISOString(), to: new Date(h0 + 6 * HOUR).toISOString() },
    { from, to, direction: 'OUTBOUND' },
    { from, to, provider: 'github' },
    { from, to, integrationId },
    { from, to, apiKeyId },
    { from, to, operation: 'op3' },
    { from, to, success: false },
    { from, to, statusMin: 500, statusMax: 599 },
    { from, to, errorCode: 'NOT_FOUND' }
  ]
  const stats = async (): Promise<unknown[]> => {
    const out: unknown[] = []
    for (const f of filters) {
      for (const b of ['HOUR', 'DAY']) {
        const res = await gql(query, { auth: logs.key, variables: { f, b } })
        t.equal(res.status, 200)
        out.push(res.body.data!.requestLogStats)
      }
    }
    return out
  }
  const raw = await stats()
  const mine = rows.filter((r) => r.teamId === teamId && r.createdAt! >= new Date(from) && r.createdAt! < new Date(to))
  t.equal((raw[0] as { totalCalls: number }).totalCalls, mine.length, 'the raw path counts every row of the window')

  const rolled = await app.services.requestLogs.rollUpHistory()
  const [withTeam] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from request_logs where team_id is not null`)
  t.equal(rolled, withTeam!.n, 'the backfill rolls up every row that has a team (the seed, and the test calls so far)')
  t.equal(await app.services.requestLogs.rollUpHistory(), 0, 'and is idempotent')
  const [size] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from request_log_rollup`)
  t.ok(size!.n < rows.length / 2, `far fewer rollup rows (${size!.n}) than rows (${rows.length})`)
  t.same(await stats(), raw, 'the same answers, filter by filter')

  // From now on the writer's sinks keep the rollup in step (same transaction as the rows).
  const sink = app.database.kind === 'postgres' ? await postgresCopySink(app.database.ownClient!) : pgliteCopySink(app.database.pglite!)
  t.teardown(() => sink.close())
  const extra: LogEntry[] = Array.from({ length: 40 }, (_, i) => {
    const at = new Date(h0 + 2 * HOUR + i * 1000)
    return {
      id: logIdAt(at), createdAt: at, direction: 'inbound', teamId, requestId: `w-${i}`, principalKind: 'api_key', apiKeyId, userId: null,
      operationType: 'query', operation: 'op9', rootFields: ['op9'], endpoint: 'query op9', method: 'POST', path: '/graphql', status: 200,
      success: i % 10 !== 0, errorCodes: i % 10 === 0 ? ['BAD_USER_INPUT'] : [], errorMessage: null, durationMs: 2, cost: 1,
      integrationId: null, provider: null, attempt: null, clientIp: null, userAgent: null
    }
  })
  await sink.write(extra.slice(0, 20))
  await sink.write(extra.slice(20))
  const res = await gql(query, { auth: logs.key, variables: { f: { from, to, operation: 'op9' }, b: 'HOUR' } })
  t.match(res.body.data!.requestLogStats, { totalCalls: 40, errorCount: 4, avgDurationMs: 2, p50DurationMs: 2, errorBreakdown: [{ code: 'BAD_USER_INPUT', count: 4 }] })
  const [rollup] = await app.database.rows<{ calls: number, rows: number }>(sql`select sum(calls)::int as calls, count(*)::int as rows from request_log_rollup where endpoint = 'query op9'`)
  t.same(rollup, { calls: 40, rows: 2 }, 'two batches added into the same rollup rows (one per success value)')

  // Retention drops whole hours before the cutoff.
  await app.services.requestLogs.purgeOlderThan(new Date(h0 + 3 * HOUR + 60_000))
  const [left] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from request_log_rollup where hour < ${new Date(h0 + 3 * HOUR).toISOString()}::timestamptz`)
  t.equal(left!.n, 0, 'rollup hours before the cutoff are gone')
})
