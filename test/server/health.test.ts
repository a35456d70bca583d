import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { openDatabase } from '../../src/db/client.ts'
import { build, testConfig } from '../helper.ts'

t.test('healthz and readyz on a migrated database', async (t) => {
  const app = await build(t)
  const health = await app.app.inject({ url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.ok(health.headers['x-request-id'], 'every response carries a request id')
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
