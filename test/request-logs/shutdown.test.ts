/**
 * SIGTERM under load, against the real server process (`node src/server.ts`): every request
 * that got a response has its request-log row once the process has exited.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { buildApp } from '../../src/app.ts'
import { openDatabase, type Database } from '../../src/db/client.ts'
import { JWT_SECRET, TEST_ENCRYPTION_KEYS, dbKind, freePort, testConfig, testDatabase } from '../helper.ts'

t.test('SIGTERM under load: every answered request has its row', async (t) => {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-shutdown-'))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', JWT_SECRET, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, DATA_DIR: dataDir, PORT: String(port),
    REQUEST_LOG_FLUSH_MS: '1000', REQUEST_LOG_BATCH_SIZE: '5000', SHUTDOWN_GRACE_MS: '10000'
  }
  let key: string | undefined
  let database: Database | undefined
  if (dbKind === 'postgres') {
    const made = await testDatabase(t)
    database = made.database
    const seedApp = await buildApp(testConfig(), { database })
    const team = await seedApp.services.teams.create('shutdown')
    if (!team.ok) throw team.error
    key = (await seedApp.services.apiKeys.createForTeam(team.value.id, { name: 'load', scopes: ['admin:full'] }, { type: 'system', id: 'test' })).secret
    await seedApp.close()
    env.DATABASE_URL = made.url!
  }

  const child = spawn(process.execPath, ['src/server.ts'], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  const deadline = Date.now() + 30_000
  while (!/Server listening/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  key ??= /(sb_live_\S+)/.exec(output)?.[1]
  t.ok(key, 'have an API key')

  const answered: string[] = []
  let refused = 0
  let stop = false
  const worker = async (): Promise<void> => {
    while (!stop) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ query: '{ viewer { scopes } }' })
        })
        await res.arrayBuffer()
        const id = res.headers.get('x-request-id')
        if (id !== null) answered.push(id)
      } catch {
        refused++
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
  }
  const workers = Array.from({ length: 20 }, worker)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const beforeSignal = answered.length
  child.kill('SIGTERM')
  const signalledAt = Date.now()
  const code = await exited
  stop = true
  await Promise.all(workers)
  t.equal(code, 0, 'clean exit')
  t.ok(Date.now() - signalledAt < 15_000, 'exited within the grace period')
  t.ok(beforeSignal > 50, `load before the signal (${beforeSignal} answered)`)

  database ??= await openDatabase({ kind: 'pglite', dataDir: join(dataDir, 'pglite'), migrateOnStart: true })
  if (dbKind === 'pglite') t.teardown(() => database!.close())
  const stored = new Set((await database.rows<{ request_id: string }>(sql`select request_id from request_logs`)).map((r) => r.request_id))
  const missing = answered.filter((id) => !stored.has(id))
  t.same(missing, [], `all ${answered.length} answered requests have a row (${refused} refused after close)`)
  t.notMatch(output, /rows dropped/, 'nothing was dropped')
})
