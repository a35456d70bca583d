/**
 * PostgreSQL stopped and started under load, on a throw-away cluster this test starts itself.
 * While it is down, every call answers 503 SERVICE_UNAVAILABLE with Retry-After (never a 500)
 * within the connect timeout, and /readyz goes unready at once; once it is back, calls succeed
 * from the first one on (no stale connection), and the request-log rows made during the outage
 * are written. The cluster is the test's own whatever database the suite runs on, so the file
 * runs once: in the PGlite run (the PostgreSQL run skips it).
 */
import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { buildApp } from '../../src/app.ts'
import { bindingCookieName, hashState } from '../../src/domain/oauth/oauth-flow.service.ts'
import { dbKind, testConfig } from '../helper.ts'
import { throwAwayPostgres, throwAwayUnavailable } from './throwaway-postgres.ts'

const READ = '{ viewer { team { name } } apiKeys(first: 5) { nodes { id } totalCount } }'
const WRITE = 'mutation { updateGraphQLPolicy(input: { depthLimit: 8 }) { depthLimit } }'
/** The pool's connect timeout here (the default is 1 s), and every answer's bound: that plus scheduling slack on a busy machine. */
const CONNECT_TIMEOUT_MS = 500
const ANSWER_WITHIN_MS = CONNECT_TIMEOUT_MS + 1000
const WORKERS = 6

interface Outcome { kind: 'read' | 'write' | 'rest', start: number, end: number, status: number, code: string | undefined, retryAfter: unknown }

const skip = dbKind === 'postgres' ? 'runs once, in the PGlite run (it starts its own PostgreSQL)' : throwAwayUnavailable() ?? false

t.test('PostgreSQL stopped and started under load', { skip }, async (t) => {
  const pg = await throwAwayPostgres()
  t.teardown(() => pg.remove())
  const app = await buildApp(testConfig({ DATABASE_URL: pg.url, MIGRATE_ON_START: 'true', JOBS_ENABLED: 'false', REQUEST_LOG_FLUSH_MS: '50', DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS), RATE_LIMIT_REQUESTS: '1000000' }))
  t.teardown(() => app.close())
  const team = await app.services.teams.create('outage')
  if (!team.ok) throw team.error
  const { secret } = await app.services.apiKeys.createForTeam(team.value.id, { name: 'load', scopes: ['admin:full'] }, { type: 'system', id: 'test' })
  const state = 'x'.repeat(48)
  const cookie = `${bindingCookieName(hashState(state))}=nonce`

  const call = async (kind: Outcome['kind']): Promise<Outcome> => {
    const start = performance.now()
    const res = kind === 'rest'
      // A callback with an unknown state: the single-use update finds no row, so 400 while PostgreSQL answers.
      ? await app.inject({ url: `/oauth/callback/dropbox?state=${state}&code=c`, headers: { cookie } })
      : await app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, payload: { query: kind === 'read' ? READ : WRITE } })
    const body = res.json()
    const code = kind === 'rest' ? body.error?.code : body.errors?.[0]?.extensions?.code
    return { kind, start, end: performance.now(), status: res.statusCode, code, retryAfter: res.headers['retry-after'] }
  }

  const outcomes: Outcome[] = []
  let running = true
  const kinds: Array<Outcome['kind']> = ['read', 'write', 'rest']
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    // One macrotask turn per call: a refused call can complete in microtasks alone, and a loop
    // of those would starve the timers and child processes the test itself waits on.
    for (let i = w; running; i++) { outcomes.push(await call(kinds[i % kinds.length]!)); await nextTurn() }
  })
  const until = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
  const waitFor = async (done: () => boolean, limitMs: number): Promise<boolean> => {
    const limit = performance.now() + limitMs
    while (!done() && performance.now() < limit) await until(20)
    return done()
  }

  const before = await waitFor(() => outcomes.filter((o) => o.status === 200).length >= 10, 3000)
  t.ok(before, 'calls succeed before the outage')

  const stoppingAt = performance.now()
  await pg.stop('fast')
  const stoppedAt = performance.now()
  t.comment(`pg_ctl stop took ${Math.round(stoppedAt - stoppingAt)} ms`)
  const readyStart = performance.now()
  const ready = await app.inject({ url: '/readyz' })
  const readyMs = performance.now() - readyStart
  t.equal(ready.statusCode, 503, '/readyz is unready while PostgreSQL is down')
  t.match(ready.json(), { database: 'unreachable' })
  t.ok(readyMs < ANSWER_WITHIN_MS, `/readyz answered in ${Math.round(readyMs)} ms`)
  await until(1500)

  const startingAt = performance.now()
  await pg.start()
  const restartedAt = performance.now()
  t.comment(`pg_ctl start took ${Math.round(restartedAt - startingAt)} ms`)
  await until(2000)
  running = false
  await Promise.all(workers)

  const allowed = { read: [200, 503], write: [200, 503], rest: [400, 503] }
  const wrong = outcomes.filter((o) => !allowed[o.kind].includes(o.status))
  t.same(wrong.map((o) => `${o.kind} ${o.status} ${o.code}`), [], 'every answer is a success or a 503 (never a 500)')
  const unavailable = outcomes.filter((o) => o.status === 503)
  t.ok(unavailable.length > 0, `${unavailable.length} calls answered 503 during the outage`)
  t.same(unavailable.filter((o) => o.code !== 'SERVICE_UNAVAILABLE' || o.retryAfter === undefined).map((o) => `${o.kind} ${o.code} ${String(o.retryAfter)}`), [],
    'each 503 carries code SERVICE_UNAVAILABLE and Retry-After')
  for (const kind of kinds) t.ok(unavailable.some((o) => o.kind === kind && o.start >= stoppedAt), `${kind} calls made during the outage answered 503`)
  const slow = outcomes.filter((o) => o.end - o.start > ANSWER_WITHIN_MS)
  const at = (ms: number): string => ms < stoppedAt ? `${Math.round(ms - stoppedAt)} ms before the stop` : ms < restartedAt ? `${Math.round(ms - stoppedAt)} ms into the outage` : `${Math.round(ms - restartedAt)} ms after the restart`
  t.same(slow.map((o) => `${o.kind} ${o.status} in ${Math.round(o.end - o.start)} ms, started ${at(o.start)}`), [], `every call answered within ${ANSWER_WITHIN_MS} ms`)

  const firstSuccess = outcomes.filter((o) => o.kind !== 'rest' && o.status === 200 && o.start >= restartedAt).sort((a, b) => a.end - b.end)[0]
  t.ok(firstSuccess !== undefined && firstSuccess.end - restartedAt < 2000,
    `a call succeeds within 2 s of PostgreSQL's return (${firstSuccess === undefined ? 'none did' : `${Math.round(firstSuccess.end - restartedAt)} ms`})`)
  const afterRecovery = outcomes.filter((o) => firstSuccess !== undefined && o.start >= firstSuccess.end)
  t.ok(afterRecovery.length > 0, 'calls were made after recovery')
  t.same(afterRecovery.filter((o) => o.status === 503).map((o) => `${o.kind} ${o.code}`), [], 'no call fails once one has succeeded again (no stale connection)')
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200, '/readyz is ready again')

  // Every call left a request-log row (readyz is not logged), the outage's 503s included.
  const logged = async (): Promise<{ all: number, unavailable: number }> => {
    const [row] = await app.database.rows<{ all: string, unavailable: string }>(
      (await import('drizzle-orm')).sql`select count(*) as all, count(*) filter (where status = 503) as unavailable from request_logs where direction = 'inbound'`)
    return { all: Number(row!.all), unavailable: Number(row!.unavailable) }
  }
  // Bounded: a writer stalled for good (as a COPY cut off by the outage once left it) fails here, not by the tap timeout.
  const deadline = performance.now() + 3000
  const beforeDeadline = <T>(work: Promise<T>): Promise<T | 'stalled'> => Promise.race([work, until(deadline - performance.now()).then(() => 'stalled' as const)])
  let rows: Awaited<ReturnType<typeof logged>> | 'stalled' = await logged()
  while (rows !== 'stalled' && rows.all < outcomes.length && performance.now() < deadline) {
    if (await beforeDeadline(app.requestLog.flush()) === 'stalled') rows = 'stalled'
    else rows = await logged()
  }
  t.same(rows, { all: outcomes.length, unavailable: unavailable.length }, 'the request-log rows of the outage are written after it, none lost')
})
