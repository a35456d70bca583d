/**
 * Two instances on one database, each with its own connections (as two processes have):
 * - a key revoked on one stops working on the other within 1 s, although the other had it cached
 *   and the cache TTL is 4 s (the change is announced by NOTIFY as it commits);
 * - when the other's listener connection is cut, it drops its whole key cache once it listens
 *   again (announcements sent meanwhile were missed), and announcements reach it again after;
 * - a pg-boss schedule both instances register runs once, not once per instance.
 * Two instances need PostgreSQL. On PGlite (one process owns the embedded database) only the
 * revocation case runs, as two apps in this process on the one embedded database.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { PgBoss } from 'pg-boss'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { openDatabase, type Database } from '../../src/db/client.ts'
import { build, dbKind, testConfig, testDatabase, type TestApp } from '../helper.ts'

const VIEWER = '{ viewer { scopes } }'
const POSTGRES_ONLY = 'two instances need PostgreSQL (set DATABASE_URL): the embedded database serves one process'

/** Instance A (the test app) and a second instance B on the same database, with its own pool on PostgreSQL. */
async function twoInstances (t: Tap, env: Record<string, string> = {}): Promise<{ a: TestApp, b: FastifyInstance, bDatabase: Database }> {
  const a = await build(t, { env })
  const url = a.database.connectionString // the file's own database (the config names the server's default one)
  const bDatabase = url !== undefined ? await openDatabase({ kind: 'postgres', url, poolSize: 3, migrateOnStart: false }) : a.database
  if (bDatabase !== a.database) t.teardown(() => bDatabase.close())
  const b = await buildApp(testConfig({ ...env, ...(url !== undefined && { DATABASE_URL: url }) }), { database: bDatabase })
  t.teardown(() => b.close())
  await b.ready()
  return { a, b, bDatabase }
}
type Tap = { teardown(fn: () => unknown): void }

const viewerOn = async (app: FastifyInstance, key: string): Promise<number> => (await app.inject({
  method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: { query: VIEWER }
})).statusCode

/** Polls every 50 ms until `done()` holds; the milliseconds it took, or undefined past `limitMs`. */
async function within (limitMs: number, done: () => Promise<boolean>): Promise<number | undefined> {
  const started = Date.now()
  while (Date.now() - started < limitMs) {
    if (await done()) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return undefined
}

t.test('a key revoked on instance A is refused on instance B within 1 s', async (t) => {
  const { a, b } = await twoInstances(t)
  t.equal(a.config.apiKeys.cacheTtlMs, 4000, 'the default cache TTL: without the announcement B would accept the key for up to 4 s')
  const { teamId, adminKey } = await a.seedTeam('revoke-across')
  const k = await a.keyWith(teamId, ['keys:read'])
  t.equal(await viewerOn(b, k.key), 200, 'B has verified (and cached) the key')
  t.equal(await viewerOn(b, k.key), 200)

  const revoked = await a.gql('mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { auth: adminKey, variables: { id: k.id } })
  t.ok(revoked.body.data?.revokeApiKey?.revokedAt, 'revoked on A')
  const took = await within(3000, async () => await viewerOn(b, k.key) === 401)
  t.ok(took !== undefined && took < 1000, `B refused the key ${took ?? '> 3000'} ms after the revocation committed (< 1000)`)

})

t.test('when B\'s listener reconnects, B drops its whole key cache', { skip: dbKind === 'pglite' && POSTGRES_ONLY }, async (t) => {
  const { a, b } = await twoInstances(t)
  const { teamId, adminKey } = await a.seedTeam('listener-reconnect')
  const k = await a.keyWith(teamId, ['keys:read'])
  t.equal(await viewerOn(b, k.key), 200)
  const lookups = b.services.keyVerifier.lookups
  t.equal(await viewerOn(b, k.key), 200)
  t.equal(b.services.keyVerifier.lookups, lookups, 'a cache hit: no lookup')

  // Cut every listener connection on this database (A's and B's); postgres.js reconnects them.
  const cut = await a.database.rows<{ pid: number }>(sql`select pg_terminate_backend(pid) as pid from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen %'`)
  t.ok(cut.length >= 2, `${cut.length} listener connections cut`)
  const took = await within(3000, async () => { await viewerOn(b, k.key); return b.services.keyVerifier.lookups > lookups })
  t.ok(took !== undefined && took < 1000, `B looked the key up again ${took ?? '> 3000'} ms after the cut (its cache was dropped, not expired)`)

  const revoked = await a.gql('mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { auth: adminKey, variables: { id: k.id } })
  t.ok(revoked.body.data?.revokeApiKey?.revokedAt)
  const refused = await within(3000, async () => await viewerOn(b, k.key) === 401)
  t.ok(refused !== undefined && refused < 1000, `after the reconnect, announcements reach B again (${refused ?? '> 3000'} ms)`)
})

t.test('a pg-boss schedule registered by both instances runs once', { skip: dbKind === 'pglite' && POSTGRES_ONLY }, async (t) => {
  const { url } = await testDatabase(t)
  const queue = 'faults.every-minute'
  const cron = '* * * * *' // always has an occurrence in the last minute: due at the first cron pass
  // The schedule exists before either instance starts, so the cron pass each runs as it starts
  // finds it due: both race for the same occurrence.
  const setup = new PgBoss({ connectionString: url!, schema: 'pgboss', schedule: false, supervise: false })
  await setup.start()
  await setup.createQueue(queue)
  await setup.schedule(queue, cron, {}, { tz: 'UTC' })
  await setup.stop({ graceful: false })

  const env = { JOBS_ENABLED: 'true', JOBS_POLL_INTERVAL_SECONDS: '1' }
  const runs: string[] = []
  const instances: FastifyInstance[] = []
  for (const name of ['A', 'B']) {
    const database = await openDatabase({ kind: 'postgres', url: url!, poolSize: 3, migrateOnStart: false })
    const app = await buildApp(testConfig({ ...env, DATABASE_URL: url! }), { database })
    t.teardown(async () => { await app.close(); await database.close() })
    await app.jobs.schedule(queue, cron, async () => { runs.push(name) })
    instances.push(app)
  }
  await Promise.all(instances.map((app) => app.ready()))

  const ran = await within(20_000, async () => runs.length > 0)
  t.ok(ran !== undefined, `the schedule ran (after ${ran} ms)`)
  // Settled: no cron hand-off job and no job of the queue left to run, on either instance.
  const [db] = instances.map((app) => app.database)
  const settled = await within(15_000, async () => {
    const [pending] = await db!.rows<{ n: number }>(sql`select count(*)::int as n from pgboss.job where state in ('created', 'retry', 'active')`)
    return pending!.n === 0
  })
  t.ok(settled !== undefined, 'no job left pending')
  const [jobs] = await db!.rows<{ n: number }>(sql`select count(*)::int as n from pgboss.job where name = ${queue}`)
  t.equal(jobs!.n, 1, 'one job for the occurrence')
  t.equal(runs.length, 1, `the handler ran once across both instances (on ${runs.join(', ')})`)
})
