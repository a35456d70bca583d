import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { openDatabase } from '../../src/db/client.ts'
import { bindingCookieName, hashState } from '../../src/domain/oauth/oauth-flow.service.ts'
import { build, dbKind, testConfig, testDatabase } from '../helper.ts'

t.test('healthz and readyz on a migrated database', async (t) => {
  const app = await build(t)
  const health = await app.app.inject({ url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.match(health.headers['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'every response carries a request id (a UUIDv7)')
  const ready = await app.app.inject({ url: '/readyz' })
  t.same(ready.json(), { status: 'ready', database: 'ok', migrations: 'current' })
  const unknown = await app.app.inject({ url: '/nope?token=x' })
  t.equal(unknown.statusCode, 404)
  t.same(unknown.json().error.code, 'NOT_FOUND')
  t.notMatch(unknown.body, /token=x/, 'the query string is not echoed')
})

t.test('readyz is 503 until migrations are applied, and when the database is gone', async (t) => {
  const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://', migrateOnStart: true })
  const app = await buildApp(testConfig({ JOBS_ENABLED: 'false' }), { database })
  t.teardown(async () => { await app.close(); await database.close() })
  const pending = await app.inject({ url: '/readyz' })
  t.equal(pending.statusCode, 503)
  t.match(pending.json(), { status: 'not_ready', migrations: 'pending' })
  await database.migrate()
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  await database.close()
  const gone = await app.inject({ url: '/readyz' })
  t.equal(gone.statusCode, 503)
  t.match(gone.json(), { database: 'unreachable' })
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'liveness does not depend on the database')
})

t.test('the app migrates on start: always on PGlite, on PostgreSQL with MIGRATE_ON_START=true', async (t) => {
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { default: postgres } = await import('postgres')
  const { dbKind } = await import('../helper.ts')
  if (dbKind === 'pglite') {
    const app = await buildApp(testConfig({ DATABASE_URL: '', DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-migrate-')), JOBS_ENABLED: 'false' }))
    t.teardown(() => app.close())
    t.same((await app.inject({ url: '/readyz' })).json(), { status: 'ready', database: 'ok', migrations: 'current' }, 'a new embedded store is migrated on start')
    return
  }
  const base = testConfig()
  if (base.database.kind !== 'postgres') throw new Error('expected postgres')
  const admin = postgres(base.database.url, { max: 1, onnotice: () => {} })
  const name = `sb_test_migrate_${process.pid}`
  await admin.unsafe(`drop database if exists ${name}`)
  await admin.unsafe(`create database ${name}`)
  const url = new URL(base.database.url)
  url.pathname = `/${name}`
  t.teardown(async () => { await admin.unsafe(`drop database if exists ${name} with (force)`); await admin.end() })
  const lazy = await buildApp(testConfig({ DATABASE_URL: url.toString(), JOBS_ENABLED: 'false' }))
  t.equal((await lazy.inject({ url: '/readyz' })).statusCode, 503, 'without MIGRATE_ON_START the schema is left to `switchboard migrate`')
  await lazy.close()
  const eager = await buildApp(testConfig({ DATABASE_URL: url.toString(), MIGRATE_ON_START: 'true', JOBS_ENABLED: 'false' }))
  t.teardown(() => eager.close())
  t.equal((await eager.inject({ url: '/readyz' })).statusCode, 200, 'MIGRATE_ON_START=true migrates at start')
})

/**
 * A TCP proxy to the test database that can start swallowing connections: new ones are accepted
 * and never answered, established ones are cut. A PostgreSQL that hangs, not one that refuses.
 */
async function hangingProxy (t: Tap, target: URL): Promise<{ url: string, hang: () => void }> {
  const { createServer, connect } = await import('node:net')
  const sockets = new Set<import('node:net').Socket>()
  let hanging = false
  const server = createServer((client) => {
    sockets.add(client)
    client.on('error', () => {})
    if (hanging) return
    const upstream = connect(Number(target.port || 5432), target.hostname)
    sockets.add(upstream)
    upstream.on('error', () => client.destroy())
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const url = new URL(target)
  url.port = String((server.address() as { port: number }).port)
  return { url: url.toString(), hang: () => { hanging = true; for (const s of sockets) s.destroy() } }
}
interface Tap { teardown(fn: () => unknown): void }
const STATE = 'x'.repeat(48)

// PostgreSQL run only: the PGlite run stops a real PostgreSQL instead (test/faults/postgres-outage.test.ts).
t.test('a PostgreSQL that stops answering: readyz and database-backed routes answer 503 with Retry-After within the connect timeout', { skip: dbKind === 'pglite' && 'needs PostgreSQL' }, async (t) => {
  const { url } = await testDatabase(t)
  const proxy = await hangingProxy(t, new URL(url!))
  const app = await buildApp(testConfig({ DATABASE_URL: proxy.url, DATABASE_CONNECT_TIMEOUT_MS: '300', JOBS_ENABLED: 'false' }))
  t.teardown(() => app.close())
  const timed = async (path: string): Promise<{ res: Awaited<ReturnType<typeof app.inject>>, ms: number }> => {
    const started = performance.now()
    const res = await app.inject({ url: path, headers: { cookie: `${bindingCookieName(hashState(STATE))}=nonce` } })
    return { res, ms: performance.now() - started }
  }
  t.equal((await timed('/readyz')).res.statusCode, 200, 'ready through the proxy')
  t.equal((await timed(`/oauth/callback/dropbox?state=${STATE}&code=c`)).res.statusCode, 400, 'an unknown state is refused while the database answers')

  proxy.hang()
  const ready = await timed('/readyz')
  t.equal(ready.res.statusCode, 503)
  t.match(ready.res.json(), { status: 'not_ready', database: 'unreachable' })
  t.equal(ready.res.headers['retry-after'], '1')
  t.ok(ready.ms < 1300, `readyz answered in ${Math.round(ready.ms)} ms (connect timeout 300 ms; it used to wait for postgres.js's 30 s)`)

  // A REST route whose first step is a query: the outage is a 503, not an internal error.
  const rest = await timed(`/oauth/callback/dropbox?state=${STATE}&code=c`)
  t.equal(rest.res.statusCode, 503)
  t.equal(rest.res.headers['retry-after'], '1')
  t.match(rest.res.json(), { error: { code: 'SERVICE_UNAVAILABLE', requestId: String } })
  t.ok(rest.ms < 1300, `the callback answered in ${Math.round(rest.ms)} ms`)
})
