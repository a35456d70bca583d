/**
 * Issue 15 §5: what row-level security costs, on PGlite and on a PostgreSQL server (a fresh
 * database created there and dropped). Target: ≤ 5 % on the gateway read path and the log writer.
 *
 * 1. Gateway read path: `{ integrations(first: 20) { … totalCount } }` through the whole app
 *    (`app.inject`, admin key, 20 integrations seeded), µs per request.
 * 2. The service-level part of it, in the same alternating rounds: the list select + count the
 *    integration service runs, plain on `db` as it ran before RLS (both at once) vs inside
 *    `asTenant` as it runs now (one after the other). The difference is what RLS adds to a tenant
 *    call (BEGIN, set_config, COMMIT, the policy's filter); divided by (1) it is the overhead.
 *    References in the same rounds: the statements sent at once inside asTenant, and asTenant as
 *    first written (set_config awaited, with bound parameters), to show what src/db/tenant.ts saves.
 * 3. Log writer: the request-log COPY sink, rows/s with request_logs and request_log_rollup as
 *    the migrations leave them (RLS enabled and forced) vs with RLS disabled, alternating.
 *    The bench connects as a superuser, whom RLS never applies to; on PostgreSQL it also measures
 *    the deployment most servers have, a table owner without SUPERUSER/BYPASSRLS, for whom
 *    PostgreSQL refuses COPY into a forced table and the sink goes through a staging table.
 *
 *   node bench/row-level-security.bench.ts
 * Knobs: BENCH_ROUNDS (5), BENCH_RLS_BATCH (200 calls of each variant per round, interleaved),
 * BENCH_RLS_WRITER_ROUNDS (3), BENCH_RLS_LOG_ROWS (10000 per writer round on PostgreSQL, a quarter
 * on PGlite), BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { count, desc, eq, sql } from 'drizzle-orm'
import { openDatabase, type Database, type Db, type Queryable, type Tx } from '../src/db/client.ts'
import { integrations, teams } from '../src/db/schema.ts'
import { APP_ROLE, asTenant } from '../src/db/tenant.ts'
import { newId } from '../src/domain/ids.ts'
import type { LogEntry } from '../src/domain/request-logs/log-entry.ts'
import { logEntries } from './lib/log-entries.ts'
import { pgliteCopySink, postgresCopySink, type LogSink } from '../src/domain/request-logs/log-sinks.ts'
import { DEFAULT_POSTGRES_URL, pgliteDatabase, postgresDatabase, type BenchDatabase, onDatabase } from './lib/database.ts'
import { atLeast, envInt, fmtInt, fmtNum, median, table } from './lib/report.ts'
import { seededSwitchboard } from './lib/switchboard.ts'

const ROUNDS = Math.max(3, envInt('BENCH_ROUNDS', 5))
const BATCH = envInt('BENCH_RLS_BATCH', 200)
const WRITER_ROUNDS = Math.max(2, envInt('BENCH_RLS_WRITER_ROUNDS', 3))
const LOG_ROWS = envInt('BENCH_RLS_LOG_ROWS', 10_000)
const INTEGRATIONS = 20
const POSTGRES_URL = process.env.BENCH_DATABASE_URL !== undefined && process.env.BENCH_DATABASE_URL !== '' ? process.env.BENCH_DATABASE_URL : DEFAULT_POSTGRES_URL
const QUERY = JSON.stringify({ query: `{ integrations(first: ${INTEGRATIONS}) { nodes { id name status } totalCount } }` })
const RLS_TABLES = ['request_logs', 'request_log_rollup']

const log = (msg: string): void => { process.stderr.write(`[row-level-security] ${msg}\n`) }

// ---- 1 and 2: alternating batches of sequential calls ----

interface Variant { name: string, call: () => Promise<void> }

/**
 * Every call's µs, per round and variant: `samples[round][variant][i]`. Variants take turns
 * call by call, in a new random order each turn, so calls with the same `i` ran next to each
 * other (a burst of load from other processes on this shared machine lands on all of them alike;
 * differences are taken pair by pair, see `pairedMedian`) and none always follows the same other
 * (a fixed order left a ~90 µs bias between two identical variants).
 */
async function alternate (variants: readonly Variant[], rounds: number, batch: number, onRound: (r: number, us: number[]) => void): Promise<Float64Array[][]> {
  const out: Float64Array[][] = []
  const order = variants.map((_, k) => k)
  for (let i = 0; i < Math.max(20, batch >> 2); i++) for (const v of variants) await v.call() // warm-up: JIT, prepared statements, plans
  for (let r = 0; r < rounds; r++) {
    const samples = variants.map(() => new Float64Array(batch))
    for (let i = 0; i < batch; i++) {
      for (const k of shuffled(order)) {
        const t0 = process.hrtime.bigint()
        await variants[k]!.call()
        samples[k]![i] = Number(process.hrtime.bigint() - t0) / 1000
      }
    }
    out.push(samples)
    onRound(r, samples.map((x) => median([...x])))
  }
  return out
}

/** Fisher–Yates on a copy. */
function shuffled<T> (xs: readonly T[]): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const x = a[i]!; a[i] = a[j]!; a[j] = x
  }
  return a
}

/** Median of `a[i] − b[i]` over calls made side by side: load that drifts during a round cancels out. */
function pairedMedian (a: Float64Array, b: Float64Array): number {
  return median(Array.from(a, (x, i) => x - b[i]!))
}

/** The two statements of IntegrationService.list for `{ integrations(first: 20) }` (no filter, no cursor). */
function listQueries (teamId: string): { rows: (q: Queryable) => Promise<unknown[]>, total: (q: Queryable) => Promise<Array<{ n: number }>> } {
  const all = eq(integrations.teamId, teamId)
  return {
    rows: (q) => q.select().from(integrations).where(all).orderBy(desc(integrations.id)).limit(INTEGRATIONS + 1),
    total: (q) => q.select({ n: count() }).from(integrations).where(all)
  }
}

function checkList (rows: unknown[], total: Array<{ n: number }>): void {
  if (rows.length !== INTEGRATIONS || total[0]?.n !== INTEGRATIONS) throw new Error(`list saw ${rows.length} rows, total ${total[0]?.n}`)
}

interface ReadResult { names: string[], samples: Float64Array[][] }

async function readPath (database: Database): Promise<ReadResult> {
  const { app, teamId, keys } = await seededSwitchboard(database, { env: { REQUEST_LOG_ENABLED: 'false' } })
  try {
    const db = database.db
    // Another team's rows in the same table, so the policy (and the team filter) has something to keep out.
    const other = newId()
    await db.insert(teams).values({ id: other, name: 'other' })
    const row = (team: string, i: number) => ({ id: newId(), teamId: team, provider: 'rest_api', name: `api ${i}`, status: 'connected', authMode: 'api_key', config: { baseUrl: 'https://api.example.com' } })
    await db.insert(integrations).values([
      ...Array.from({ length: INTEGRATIONS }, (_, i) => row(teamId, i)),
      ...Array.from({ length: INTEGRATIONS }, (_, i) => row(other, i))
    ])
    await database.rows(sql`analyze integrations`)
    const q = listQueries(teamId)
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${keys[0]!}` }
    const variants: Variant[] = [
      {
        name: 'request',
        async call () {
          const res = await app.inject({ method: 'POST', url: '/graphql', headers, payload: QUERY })
          if (res.statusCode !== 200 || !res.payload.includes(`"totalCount":${INTEGRATIONS}`)) throw new Error(`HTTP ${res.statusCode} ${res.payload.slice(0, 300)}`)
        }
      },
      {
        name: 'plain',
        async call () {
          const [rows, total] = await Promise.all([q.rows(db), q.total(db)])
          checkList(rows, total)
        }
      },
      {
        name: 'asTenant',
        async call () {
          const [rows, total] = await asTenant(db, teamId, async (tx) => [await q.rows(tx), await q.total(tx)] as const)
          checkList(rows, total)
        }
      },
      {
        name: 'asTenant, both statements at once',
        async call () {
          const [rows, total] = await asTenant(db, teamId, (tx) => Promise.all([q.rows(tx), q.total(tx)]))
          checkList(rows, total)
        }
      },
      {
        name: 'awaitedAsTenant',
        async call () {
          const [rows, total] = await awaitedAsTenant(db, teamId, async (tx) => [await q.rows(tx), await q.total(tx)] as const)
          checkList(rows, total)
        }
      }
    ]
    const samples = await alternate(variants, ROUNDS, BATCH, (r, last) => {
      log(`${database.kind} round ${r + 1}/${ROUNDS}: ${variants.map((v, i) => `${v.name} ${fmtNum(last[i]!, 0)} µs`).join(', ')}`)
    })
    return { names: variants.map((v) => v.name), samples }
  } finally {
    await app.close()
  }
}

/**
 * asTenant as first written, the reference for src/db/tenant.ts: set_config with bound
 * parameters, awaited before fn runs. Drizzle sends it unprepared, so on postgres.js it costs a
 * Describe round trip and a Bind round trip of its own; on PGlite, the extended protocol.
 */
function awaitedAsTenant<T> (db: Db, teamId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('role', ${APP_ROLE}, true), set_config('app.team_id', ${teamId}, true)`)
    return await fn(tx)
  })
}

// ---- 3: the log writer with RLS forced vs disabled ----

const entries = (n: number, teamId: string): LogEntry[] => logEntries(n, teamId, 'integrations')

async function setRls (database: Database, on: boolean): Promise<void> {
  for (const t of RLS_TABLES) {
    await database.rows(sql.raw(on
      ? `alter table ${t} enable row level security, force row level security`
      : `alter table ${t} no force row level security, disable row level security`))
  }
}

interface WriterResult { forced: number[], disabled: number[], ratios: number[], staged: boolean }

/**
 * rows/s of `sink.write`, with RLS as the migrations leave it (forced) and disabled, switched
 * every two units (A B B A A B B A …) so both see the same load. A unit is one batch of 500 rows
 * per lane the sink has, written at once as RequestLogWriter does; the ALTERs between units are
 * not timed. Each state has a sink of its own: the postgres.js sink switches to its staging
 * table for good once COPY is refused, which only a forced table does.
 */
async function writerRounds (database: Database, what: string, rowsPerState: number, sinks: () => LogSink): Promise<WriterResult> {
  const teamId = newId()
  await database.rows(sql`insert into teams (id, name) values (${teamId}, 'writer')`)
  const forcedSink = sinks()
  const disabledSink = sinks()
  const lanes = forcedSink.concurrency ?? 1
  const unitRows = 500 * lanes
  const unit = async (sink: LogSink): Promise<number> => {
    const batches = Array.from({ length: lanes }, () => entries(500, teamId))
    const t0 = performance.now()
    await Promise.all(batches.map((b) => sink.write(b)))
    return unitRows / ((performance.now() - t0) / 1000)
  }
  let current: boolean | undefined
  const state = async (forced: boolean): Promise<void> => {
    if (current !== forced) await setRls(database, forced)
    current = forced
  }
  try {
    await state(true)
    // Warm-up. A refused COPY switches this sink to staging on its first write: one write alone,
    // because two lanes refused at once make the second fail once (the writer would retry it).
    await forcedSink.write(entries(500, teamId))
    await unit(forcedSink)
    await state(false)
    await unit(disabledSink)
    const result: WriterResult = { forced: [], disabled: [], ratios: [], staged: false }
    const units = 2 * Math.max(2, Math.round(rowsPerState / unitRows))
    for (let r = 0; r < WRITER_ROUNDS; r++) {
      const f: number[] = []
      const d: number[] = []
      for (let u = 0; u < units; u++) {
        const forced = ((u + 1) >> 1) % 2 === r % 2
        await state(forced)
        if (forced) f.push(await unit(forcedSink))
        else d.push(await unit(disabledSink))
      }
      result.forced.push(median(f))
      result.disabled.push(median(d))
      result.ratios.push(median(f) / median(d))
      log(`${what} writer round ${r + 1}/${WRITER_ROUNDS}: forced ${fmtInt(median(f))} rows/s, disabled ${fmtInt(median(d))} rows/s`)
    }
    const [staging] = await database.rows<{ n: number }>(sql`select count(*)::int as n from pg_class where relname = 'request_logs_staging'`)
    result.staged = (staging?.n ?? 0) > 0
    return result
  } finally {
    await setRls(database, true) // as the migrations leave it
    await forcedSink.close()
    await disabledSink.close()
  }
}

/** A database owned by a login role without SUPERUSER/BYPASSRLS, as most servers run it; created and dropped here. */
async function ownerDatabase (serverUrl: string): Promise<{ database: Database, dispose: () => Promise<void> }> {
  const { default: postgres } = await import('postgres')
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`
  const role = `sb_bench_owner_${suffix}`
  const name = `sb_bench_owner_db_${suffix}`
  const dispose = async (): Promise<void> => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.unsafe(`drop role if exists ${role}`)
    await admin.end({ timeout: 5 })
  }
  try {
    await admin.unsafe(`create role ${role} login nosuperuser nobypassrls`)
    await admin.unsafe(`create database ${name} owner ${role}`)
    await admin.unsafe(`do $$ begin create role ${APP_ROLE} nologin nosuperuser nobypassrls; exception when duplicate_object or unique_violation then null; end $$`)
    await admin.unsafe(`grant ${APP_ROLE} to ${role}`)
    const url = new URL(serverUrl)
    url.username = role
    url.pathname = `/${name}`
    const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 2, migrateOnStart: false })
    try {
      await database.migrate()
    } catch (err) {
      await database.close()
      throw err
    }
    return { database, dispose: async () => { await database.close(); await dispose() } }
  } catch (err) {
    await dispose()
    throw err
  }
}

// ---- per database ----

interface DbResult { label: string, kind: Database['kind'], read: ReadResult, writer: WriterResult, owner?: WriterResult | string }

async function measure (db: BenchDatabase): Promise<DbResult> {
  const read = await readPath(db.database)
  const kind = db.database.kind
  const rows = kind === 'pglite' ? Math.max(1000, Math.round(LOG_ROWS / 4)) : LOG_ROWS
  const sinks = kind === 'pglite'
    ? () => pgliteCopySink(db.database.pglite!)
    : await (async () => {
      // postgresCopySink is async (it opens its lanes lazily); make both up front.
      const made = [await postgresCopySink(db.database.ownClient!), await postgresCopySink(db.database.ownClient!)]
      return () => made.shift()!
    })()
  const writer = await writerRounds(db.database, `${kind} (superuser)`, rows, sinks)
  let owner: WriterResult | string | undefined
  if (kind === 'postgres') {
    try {
      const o = await ownerDatabase(POSTGRES_URL)
      try {
        const made = [await postgresCopySink(o.database.ownClient!), await postgresCopySink(o.database.ownClient!)]
        owner = await writerRounds(o.database, 'postgres (owner, not superuser)', rows, () => made.shift()!)
      } finally {
        await o.dispose()
      }
    } catch (err) {
      owner = `skipped: ${(err as Error).message}`
    }
  }
  return { label: db.label, kind, read, writer, ...(owner !== undefined && { owner }) }
}


// ---- report ----

function signed (n: number): string { return `${n >= 0 ? '+' : '−'}${fmtNum(Math.abs(n), 0)}` }

function atMost (measured: number, limit: number): string {
  if (!Number.isFinite(measured)) return `? needs ≤ ${fmtNum(limit, 0)} %`
  if (measured <= limit) return `✅ ${fmtNum(measured, 1)} % (≤ ${fmtNum(limit, 0)} %)`
  return `❌ ${fmtNum(measured, 1)} %, needs ≤ ${fmtNum(limit, 0)} %: over by ${fmtNum(measured - limit, 1)} points`
}

const started = Date.now()
const loadBefore = loadavg()[0]!
const results = [
  await onDatabase(pgliteDatabase, 'PGlite', measure),
  await onDatabase(() => postgresDatabase(POSTGRES_URL), `PostgreSQL at ${new URL(POSTGRES_URL).host}`, measure)
]

const readRows: string[][] = []
const writerRows: string[][] = []
const notes: string[] = []
for (const r of results) {
  if (typeof r === 'string') { notes.push(r); continue }
  const v = (name: string): number => r.read.names.indexOf(name)
  const [request, plain, tenant, tenantAll, awaited] = ['request', 'plain', 'asTenant', 'asTenant, both statements at once', 'awaitedAsTenant'].map(v)
  const rounds = r.read.samples
  const med = (k: number): number[] => rounds.map((s) => median([...s[k!]!]))
  const paired = (x: number, y: number): number[] => rounds.map((s) => pairedMedian(s[x]!, s[y]!))
  const cost = paired(tenant!, plain!)
  const overhead = cost.map((c, i) => c / med(request!)[i]! * 100)
  const us = (xs: number[]): string => xs.map((x) => fmtNum(x, 0)).join(' / ')
  const m = (xs: number[]): string => fmtNum(median(xs), 0)
  readRows.push([r.label, '`{ integrations(first: 20) { … totalCount } }` through the app (inject)', m(med(request!)), us(med(request!)), 'the request'])
  readRows.push([r.label, 'list select + count, plain on `db`, both at once (as before RLS)', m(med(plain!)), us(med(plain!)), 'baseline'])
  readRows.push([r.label, 'the same in `asTenant`, one after the other (as the service runs it)', m(med(tenant!)), us(med(tenant!)), `${signed(median(cost))} µs a tenant call (paired: ${us(cost)})`])
  readRows.push([r.label, '**RLS overhead on the gateway read path** (difference ÷ request)', `${fmtNum(median(overhead), 1)} %`, overhead.map((x) => fmtNum(x, 1)).join(' / '), atMost(median(overhead), 5)])
  readRows.push([r.label, 'reference: `asTenant` with both statements at once (pipelined)', m(med(tenantAll!)), us(med(tenantAll!)), `not the service's path; ${signed(median(paired(tenantAll!, plain!)))} µs vs plain`])
  const gain = paired(awaited!, tenant!)
  readRows.push([r.label, 'reference: `asTenant` awaiting set_config before fn (first version)', m(med(awaited!)), us(med(awaited!)), `${signed(median(gain))} µs vs src/db/tenant.ts (paired: ${us(gain)})`])
  const firstOverhead = paired(awaited!, plain!).map((c, i) => c / med(request!)[i]! * 100)
  readRows.push([r.label, 'reference: RLS overhead with that first version', `${fmtNum(median(firstOverhead), 1)} %`, firstOverhead.map((x) => fmtNum(x, 1)).join(' / '), 'before this change to src/db/tenant.ts'])

  const writer = (who: string, w: WriterResult): void => {
    const ratios = w.ratios
    writerRows.push([r.label, `${who}, RLS enabled + forced${w.staged ? ' (COPY refused: staging table + INSERT … SELECT)' : ''}`, fmtInt(median(w.forced)), w.forced.map(fmtInt).join(' / '), atLeast(median(ratios), 0.95, '× disabled')])
    writerRows.push([r.label, `${who}, RLS disabled`, fmtInt(median(w.disabled)), w.disabled.map(fmtInt).join(' / '), 'baseline'])
  }
  writer(r.kind === 'pglite' ? 'PGlite\'s superuser' : 'superuser (the bench\'s login)', r.writer)
  if (typeof r.owner === 'string') notes.push(`${r.label}, table owner without SUPERUSER: ${r.owner}`)
  else if (r.owner !== undefined) writer('table owner without SUPERUSER/BYPASSRLS', r.owner)
}

process.stdout.write([
  '## Row-level security overhead: gateway read path and log writer',
  '',
  `**Read path.** ${ROUNDS} rounds of ${BATCH} sequential calls of every variant, taking turns call by call in a new random order each turn, so load from other processes lands on all alike. ` +
  `The request is \`{ integrations(first: ${INTEGRATIONS}) { nodes { id name status } totalCount } }\` through \`buildApp\` with \`app.inject\` and an admin key ` +
  `(warm key cache, request log off), ${INTEGRATIONS} integrations of the team and ${INTEGRATIONS} of another. ` +
  'The service-level rows are the list select + count of `IntegrationService.list`: plain on `db` as the service ran them before RLS, and inside `asTenant` as it runs them now; ' +
  'their difference (BEGIN, set_config of role and team, COMMIT, the policy\'s filter, and the two statements now running one after the other on one connection) divided by the request is the overhead; ' +
  'differences are medians of side-by-side pairs of calls. The first reference sends the two statements at once inside `asTenant` (postgres.js still runs them one after the other: drizzle sends statements with parameters unprepared, and postgres.js waits for their Describe answer before it sends anything else on the connection); ' +
  'the second is `asTenant` as first written (set_config with bound parameters, awaited before fn), against src/db/tenant.ts (set_config as one simple-protocol message, on postgres.js sent with fn\'s first statement). ' +
  'µs: wall clock, the median over rounds of each round\'s median call (per-round values follow). Target (issue 15 §5): ≤ 5 %.',
  '',
  table(['Database', 'Variant', 'µs per call', 'per round', 'Target'], readRows),
  '',
  `**Log writer.** \`sink.write\` of \`postgresCopySink\` (2 lanes: two batches of 500 rows at once, as RequestLogWriter sends them) / \`pgliteCopySink\` (one batch of 500), ` +
  `${WRITER_ROUNDS} rounds of ${fmtInt(LOG_ROWS)} rows per state on PostgreSQL and ${fmtInt(Math.max(1000, Math.round(LOG_ROWS / 4)))} on PGlite, switching every two batches (untimed ALTERs) between request_logs and request_log_rollup as the migrations leave them (RLS enabled and forced) ` +
  'and both tables\' RLS disabled (`alter table … no force row level security, disable row level security`); re-enabled at the end. ' +
  'A superuser bypasses RLS, so for the bench\'s own login (PostgreSQL `postgres`, PGlite\'s only user) the ratio is expected near 1.0: forced RLS changes nothing on its path. ' +
  'On PostgreSQL the last rows use a database owned by a login role without SUPERUSER or BYPASSRLS, the usual production set-up: PostgreSQL refuses COPY into a forced table for it, and the sink copies into a temporary staging table and moves the rows with INSERT … SELECT. ' +
  'rows/s: the median over rounds of each round\'s median batch; the ratio is the median of the rounds\' ratios. Target: ≥ 0.95 × disabled.',
  '',
  table(['Database', 'Writer path', 'rows/s', 'per round', 'Target'], writerRows),
  '',
  ...notes.map((n) => `- ${n}`),
  ...(notes.length > 0 ? [''] : []),
  `_Took ${fmtNum((Date.now() - started) / 1000, 0)} s; load average ${fmtNum(loadBefore, 1)} at the start, ${fmtNum(loadavg()[0]!, 1)} at the end (other work on this machine)._`,
  ''
].join('\n'))
