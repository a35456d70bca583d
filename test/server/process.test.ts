/**
 * The real process: `node src/server.ts` on the embedded database, as `npm start` runs it.
 * First start prints one admin key; the CLI refuses to open the store while the server holds
 * it; SIGTERM under load lets in-flight requests finish and exits within 10 s (the 503 for
 * requests arriving while closing is tested in-process in graceful.test.ts).
 */
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JWT_SECRET, freePort } from '../helper.ts'

const root = new URL('../../', import.meta.url).pathname
const dataDir = mkdtempSync(join(tmpdir(), 'sb-process-'))

interface Running { child: ChildProcess, port: number, output: () => string, exited: Promise<{ code: number | null, at: number }> }

async function start (): Promise<Running> {
  const port = await freePort()
  // Embedded mode: no DATABASE_URL, whatever the suite runs on.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, LOG_LEVEL: 'info', LOG_REQUESTS: 'true', JOBS_ENABLED: 'false' }
  const child = spawn(process.execPath, ['src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<{ code: number | null, at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() })))
  const deadline = Date.now() + 60_000
  while (!out.includes('Server listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${out}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { child, port, output: () => out, exited }
}

const graphql = (port: number, key: string, query: string) => fetch(`http://127.0.0.1:${port}/graphql`, {
  method: 'POST',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ query })
})

t.test('npm start on an empty embedded database: one admin key, health, CLI lock, graceful SIGTERM', async (t) => {
  const first = await start()
  t.teardown(() => { first.child.kill('SIGKILL') })
  const key = /sb_live_[0-9A-Za-z]{49}/.exec(first.output())?.[0]
  t.ok(key, 'the bootstrap admin key is printed')
  t.equal((first.output().match(/sb_live_/g) ?? []).length, 1, 'exactly once, and not in any log line')

  const health = await fetch(`http://127.0.0.1:${first.port}/healthz`)
  t.equal(health.status, 200)
  const ready = await fetch(`http://127.0.0.1:${first.port}/readyz`)
  t.same(await ready.json(), { status: 'ready', database: 'ok', migrations: 'current' })
  const viewer = await graphql(first.port, key!, '{ viewer { team { name } scopes } }')
  t.same((await viewer.json()).data.viewer, { team: { name: 'default' }, scopes: ['admin:full'] })

  const cli = spawnSync(process.execPath, ['src/cli.ts', 'teams', 'create', 'other'], { cwd: root, env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, JWT_SECRET }, encoding: 'utf8' })
  t.equal(cli.status, 1, 'the CLI refuses to open a store the server holds')
  t.match(cli.stderr, /in use by another Switchboard process/)

  // 50 requests in flight, then SIGTERM.
  const inflight = Array.from({ length: 50 }, () => graphql(first.port, key!, '{ apiKeys(first: 100) { totalCount nodes { id name scopes } } scopes { name description } }')
    .then((r) => r.status, (err: Error) => `error: ${(err.cause as Error | undefined)?.message ?? err.message}`))
  await new Promise((resolve) => setTimeout(resolve, 30))
  const sentAt = Date.now()
  first.child.kill('SIGTERM')
  const statuses = await Promise.all(inflight)
  const { code, at } = await first.exited
  t.equal(code, 0, 'clean exit')
  t.ok(at - sentAt < 10_000, `exited ${at - sentAt} ms after SIGTERM`)
  // Server side: every request the server began handling was completed (none dropped).
  const lines = first.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string, reqId?: string, res?: { statusCode?: number } })
  const started = new Set(lines.filter((l) => l.msg === 'incoming request').map((l) => l.reqId))
  const completed = lines.filter((l) => l.msg === 'request completed')
  t.equal(completed.length, started.size, `all ${started.size} requests the server started were completed`)
  t.ok(completed.every((l) => l.res?.statusCode === 200 || l.res?.statusCode === 503), 'each with 200, or 503 once closing')
  // Client side: a response, or a connection-level refusal/reset before the server read the request.
  const ok = statuses.filter((s) => s === 200).length
  t.ok(ok > 0, `${ok} in-flight requests completed`)
  t.ok(statuses.every((s) => s === 200 || s === 503 || (typeof s === 'string' && /ECONNREFUSED|ECONNRESET|other side closed/.test(s))), `no other outcome (${JSON.stringify([...new Set(statuses)])})`)

  const second = await start()
  t.teardown(() => { second.child.kill('SIGKILL') })
  t.notMatch(second.output(), /sb_live_/, 'no new key on a database that already has a team')
  t.equal((await graphql(second.port, key!, '{ viewer { scopes } }')).status, 200, 'the data survived the restart')
  second.child.kill('SIGTERM')
  t.equal((await second.exited).code, 0)
})
