/**
 * Request-log benchmarks (issue 3), one markdown section on stdout:
 * - writer throughput: RequestLogWriter → COPY into local Postgres, → COPY from a blob into PGlite;
 * - gateway cost of logging: the same app with REQUEST_LOG_ENABLED on and off, alternating
 *   in-process `inject` batches in one run (HTTP noise on this machine hides < 10 % effects);
 * - reads over 1,000,000 rows seeded with generate_series: a `requestLogs` page and
 *   `requestLogStats` (24 h hourly window, and a 30-day daily window over all rows), read from the
 *   hourly rollup (built by `rollUpHistory` after the seed) plus raw rows for the partial hours.
 * Uses a database it creates and drops on BENCH_DATABASE_URL (default the local server).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase, type Database } from '../src/db/client.ts'
import type { Principal } from '../src/domain/auth/principal.ts'
import type { LogEntry } from '../src/domain/request-logs/log-entry.ts'
import { logEntries } from './lib/log-entries.ts'
import { pgliteCopySink, postgresCopySink, type LogSink } from '../src/domain/request-logs/log-sinks.ts'
import { RequestLogService } from '../src/domain/request-logs/request-log.service.ts'
import { RequestLogWriter } from '../src/domain/request-logs/request-log-writer.ts'
import { systemClock } from '../src/domain/clock.ts'
import { fmtInt, fmtNum, median, table } from './lib/report.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SEED_ROWS = 1_000_000
const quiet = { info () {}, warn () {}, error () {} }

const entries = (n: number, teamId: string): LogEntry[] => logEntries(n, teamId, 'viewer')

async function writerRate (sink: LogSink, n: number, batchSize: number): Promise<number> {
  const writer = new RequestLogWriter({ sink, log: quiet, flushMs: 50, batchSize, maxBuffer: n + 1, onDropped: () => { throw new Error('dropped') } })
  const rows = entries(n, '00000000-0000-7000-8000-00000000000a')
  const start = performance.now()
  for (const r of rows) writer.push(r)
  while (writer.depth > 0) await writer.flush()
  const seconds = (performance.now() - start) / 1000
  await writer.close(5000)
  return n / seconds
}

async function timeIt (runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn() // warm
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    samples.push(performance.now() - start)
  }
  return median(samples)
}

async function gatewayOverhead (url: string): Promise<{ on: number, off: number }> {
  const base = { NODE_ENV: 'test', JWT_SECRET: 'bench-secret-that-is-at-least-32-characters', DATABASE_URL: url, DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-bench-')), RATE_LIMIT_REQUESTS: '10000000' }
  const db = await openDatabase({ kind: 'postgres', url, poolSize: 10, migrateOnStart: false })
  const on = await buildApp(loadConfig({ ...base, REQUEST_LOG_ENABLED: 'true' }), { database: db })
  const off = await buildApp(loadConfig({ ...base, REQUEST_LOG_ENABLED: 'false' }), { database: db })
  await on.ready(); await off.ready()
  const team = await on.services.teams.create('bench')
  if (!team.ok) throw team.error
  const { secret } = await on.services.apiKeys.createForTeam(team.value.id, { name: 'bench', scopes: ['admin:full'] }, { type: 'system', id: 'bench' })
  const payload = JSON.stringify({ query: '{ viewer { scopes } }' })
  const batch = async (app: typeof on, n: number): Promise<number> => {
    const start = performance.now()
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, payload })))
    }
    return n / ((performance.now() - start) / 1000)
  }
  await batch(on, 1000); await batch(off, 1000)
  const rOn: number[] = []
  const rOff: number[] = []
  for (let round = 0; round < 8; round++) {
    rOff.push(await batch(off, 2000))
    rOn.push(await batch(on, 2000))
  }
  await on.close(); await off.close(); await db.close()
  return { on: median(rOn), off: median(rOff) }
}

async function main (): Promise<void> {
  const { default: postgres } = await import('postgres')
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  const name = `sb_bench_request_logs_${randomBytes(4).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const rows: string[][] = []
  let pg: Database | undefined
  try {
    pg = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 10, migrateOnStart: false })
    await pg.migrate()

    const pgRate = await writerRate(await postgresCopySink(pg.ownClient!), 200_000, 500)
    rows.push(['Writer → Postgres (COPY + rollup upsert, 2 lanes), 200,000 rows', `${fmtInt(pgRate)} rows/s`, pgRate >= 50_000 ? '✅ ≥ 50,000 rows/s' : '❌ ≥ 50,000 rows/s'])
    const lite = await openDatabase({ kind: 'pglite', dataDir: 'memory://', migrateOnStart: true })
    await lite.migrate()
    const liteRate = await writerRate(pgliteCopySink(lite.pglite!), 50_000, 500)
    rows.push(['Writer → PGlite (COPY from a blob), 50,000 rows', `${fmtInt(liteRate)} rows/s`, 'no target; main-thread WASM'])
    await lite.close()
    await pg.rows(sql`truncate request_logs`)

    const gw = await gatewayOverhead(url.toString())
    const cost = 1 - gw.on / gw.off
    rows.push(['Gateway, logging off (inject, `{ viewer }`)', `${fmtInt(gw.off)} req/s`, 'baseline'])
    rows.push(['Gateway, logging on', `${fmtInt(gw.on)} req/s (${fmtNum(cost * 100, 1)} % cost)`, cost <= 0.10 ? '✅ ≤ 10 % cost' : '❌ ≤ 10 % cost'])
    await pg.rows(sql`truncate request_logs`)

    // 1,000,000 rows for one team over 30 days (plus 10 % for another team), ids from created_at
    const teamId = '00000000-0000-7000-8000-0000000000b1'
    const seedStart = performance.now()
    await pg.rows(sql.raw(`
      insert into request_logs (id, created_at, direction, team_id, request_id, principal_kind, api_key_id, operation_type, operation, root_fields,
                                endpoint, method, path, status, success, error_codes, duration_ms, cost, client_ip)
      select (lpad(to_hex((extract(epoch from t) * 1000)::bigint), 12, '0') || '7000' || lpad(to_hex(g), 16, '0'))::uuid, t, 'inbound',
             case when g % 11 = 0 then '00000000-0000-7000-8000-0000000000b2'::uuid else '${teamId}'::uuid end,
             'seed-' || g, 'api_key', '00000000-0000-7000-8000-000000000001', 'query', 'op' || (g % 25), array['f' || (g % 25)],
             'query op' || (g % 25), 'POST', '/graphql', case when g % 20 = 0 then 400 else 200 end, g % 20 <> 0,
             case when g % 20 = 0 then array['BAD_USER_INPUT'] else '{}'::text[] end, (g % 997) / 10.0, 3, '127.0.0.1'
        from generate_series(1, ${Math.round(SEED_ROWS * 1.1)}) g,
             lateral (select now() - interval '30 days' + (g::float8 / ${Math.round(SEED_ROWS * 1.1)}) * interval '30 days' as t) x`))
    await pg.rows(sql`vacuum analyze request_logs`)
    const seedSeconds = (performance.now() - seedStart) / 1000

    const service = new RequestLogService({ db: pg.db, rows: pg.rows, clock: systemClock, pages: { defaultPageSize: 20, maxPageSize: 100 } })
    // Rows seeded around the writer are rolled up by the backfill (the writer does it as it goes).
    const rollupStart = performance.now()
    await service.rollUpHistory()
    await pg.rows(sql`vacuum analyze request_log_rollup`)
    const rollupSeconds = (performance.now() - rollupStart) / 1000
    const [rollupRows] = await pg.rows<{ n: number }>(sql`select count(*)::int as n from request_log_rollup`)
    const principal: Principal = { kind: 'api_key', teamId, apiKeyId: '00000000-0000-7000-8000-000000000001', scopes: ['logs:read'] }
    const page = await timeIt(20, async () => { const r = await service.list(principal, {}, { first: 20 }); if (!r.ok) throw r.error })
    let cursor: string | null = null
    for (let i = 0; i < 50; i++) { const r = await service.list(principal, {}, { first: 100, after: cursor }); if (!r.ok) throw r.error; cursor = r.value.pageInfo.endCursor }
    const deepPage = await timeIt(20, async () => { const r = await service.list(principal, {}, { first: 20, after: cursor }); if (!r.ok) throw r.error })
    const failures = await timeIt(20, async () => { const r = await service.list(principal, { success: false, operation: 'op0' }, { first: 20 }); if (!r.ok) throw r.error })
    const stats24h = await timeIt(5, async () => { const r = await service.stats(principal, {}, 'hour'); if (!r.ok) throw r.error })
    const stats30d = await timeIt(3, async () => { const r = await service.stats(principal, {}, 'day'); if (!r.ok) throw r.error })
    rows.push([`requestLogs page (first 20) over ${fmtInt(SEED_ROWS)} rows`, `${fmtNum(page)} ms`, page < 50 ? '✅ < 50 ms' : '❌ < 50 ms'])
    rows.push(['requestLogs page 5,000 rows deep (keyset)', `${fmtNum(deepPage)} ms`, deepPage < 50 ? '✅ < 50 ms' : '❌ < 50 ms'])
    rows.push(['requestLogs page, filter success=false + operation', `${fmtNum(failures)} ms`, failures < 50 ? '✅ < 50 ms' : '❌ < 50 ms'])
    rows.push(['requestLogStats, last 24 h hourly (~33,000 rows)', `${fmtNum(stats24h)} ms`, stats24h < 500 ? '✅ < 500 ms' : '❌ < 500 ms'])
    rows.push([`requestLogStats, 30 days daily (all ${fmtInt(SEED_ROWS)} rows)`, `${fmtNum(stats30d)} ms`, stats30d < 500 ? '✅ < 500 ms' : '❌ < 500 ms'])
    rows.push(['(seeding 1,100,000 rows with generate_series + vacuum analyze)', `${fmtNum(seedSeconds, 1)} s`, 'set-up, not measured'])
    rows.push([`(rolling them up: rollUpHistory, ${fmtInt(rollupRows!.n)} hourly rollup rows)`, `${fmtNum(rollupSeconds, 1)} s`, 'set-up, not measured'])
  } finally {
    await pg?.close()
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  }
  process.stdout.write(`## Request logs: writer, logging cost, reads over 1M rows\n\nMedians; Postgres at ${new URL(ADMIN_URL).host}.\n\n${table(['Measure', 'Result', 'Target'], rows)}\n`)
}

await main()
