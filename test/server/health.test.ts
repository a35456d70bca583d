import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { openDatabase } from '../../src/db/client.ts'
import { build, testConfig } from '../helper.ts'

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
