/**
 * Our security checklist, §1.8 (logging), the cases the logging and request-log tests do not
 * already cover:
 * - test 3: variables named token, secret, password, code, refresh_token and clientSecret never
 *   reach a log line (trace level, per-request lines on) or request_logs, on success, on a
 *   validation error and on an unexpected database error inside a resolver;
 * - test 5: input carrying CR/LF that is logged (the provider segment of a refused OAuth
 *   callback) stays inside one JSON line: it cannot start a forged line;
 * - test 6: with its log sink gone (stdout closed under it), the real process keeps answering 2xx.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { sql } from 'drizzle-orm'
import { loggerOptions } from '../../src/logger.ts'
import { build, freePort, JWT_SECRET, type TestApp } from '../helper.ts'

async function withLogs (t: Test): Promise<{ app: TestApp, logs: () => string }> {
  let logs = ''
  const sink = new Writable({ write (chunk, _e, cb) { logs += String(chunk); cb() } })
  const app = await build(t, { env: { LOG_LEVEL: 'trace', LOG_REQUESTS: 'true' }, app: { loggerInstance: pino(loggerOptions({ logLevel: 'trace' }), sink) as never } })
  return { app, logs: () => logs }
}

t.test('credential-named variables reach no log line and no request-log row', async (t) => {
  const { app, logs } = await withLogs(t)
  const { adminKey } = await app.seedTeam('variables')
  const values = {
    token: 'VAR-TOKEN-7f3a', secret: 'VAR-SECRET-7f3a', password: 'VAR-PASSWORD-7f3a',
    code: 'VAR-CODE-7f3a', refresh_token: 'VAR-REFRESH-7f3a', clientSecret: 'VAR-CLIENT-7f3a'
  }
  const DECL = '$token: String, $secret: String, $password: String, $code: String, $refresh_token: String, $clientSecret: String'
  // Every variable used, each as a query parameter that reaches SQL.
  const USE = 'a: integrations(filter: { search: $token }) { totalCount } b: integrations(filter: { search: $secret }) { totalCount } c: integrations(filter: { search: $password }) { totalCount } d: integrations(filter: { search: $code }) { totalCount } e: integrations(filter: { search: $refresh_token }) { totalCount } f: integrations(filter: { search: $clientSecret }) { totalCount }'

  const ok = await app.gql(`query (${DECL}) { ${USE} }`, { auth: adminKey, variables: values })
  t.equal(ok.status, 200, 'a successful query')
  const invalid = await app.gql(`query (${DECL}) { ${USE} nope }`, { auth: adminKey, variables: values })
  t.equal(invalid.status, 400, 'a validation error')
  await app.database.rows(sql`alter table integrations rename to integrations_away`)
  const broken = await app.gql(`query (${DECL}) { ${USE} }`, { auth: adminKey, variables: values })
  await app.database.rows(sql`alter table integrations_away rename to integrations`)
  t.equal(broken.body.errors?.[0]?.extensions.code, 'INTERNAL_SERVER_ERROR', 'an unexpected database error in the resolvers')
  t.match(logs(), /unexpected error/, 'the failure was logged')

  await app.app.requestLog.flush()
  const [rows] = await app.database.rows<{ x: string }>(sql`select coalesce(string_agg(to_jsonb(r)::text, '|'), '') as x from request_logs r`)
  t.ok(rows!.x.includes('integrations'), 'the calls are in request_logs')
  for (const [name, value] of Object.entries(values)) {
    t.notOk(logs().includes(value), `$${name}: in no log line`)
    t.notOk(rows!.x.includes(value), `$${name}: not in request_logs`)
    t.notOk(JSON.stringify(broken.body).includes(value), `$${name}: not echoed in the error`)
  }
})

t.test('CR/LF in logged input stays inside one JSON line', async (t) => {
  const { app, logs } = await withLogs(t)
  const forged = '{"level":60,"msg":"forged line"}'
  const provider = `evil\r\n${forged}\n`
  // An unknown provider segment is refused (404) before anything else, and logged.
  const res = await app.app.inject({ method: 'GET', url: `/oauth/callback/${encodeURIComponent(provider)}?code=def&state=abc` })
  t.equal(res.statusCode, 404)
  t.equal(res.json().error.code, 'NOT_FOUND')
  const lines = logs().split('\n').filter((l) => l !== '')
  const parsed = lines.map((l) => JSON.parse(l) as { msg?: string, provider?: string, level: number })
  t.equal(parsed.length, lines.length, 'every line is one JSON object')
  const refused = parsed.filter((l) => l.msg === 'OAuth callback refused')
  t.equal(refused.length, 1, 'the refusal is one line')
  t.equal(refused[0]?.provider, provider, 'carrying the input, CR/LF escaped inside the JSON string')
  t.notOk(parsed.some((l) => l.msg === 'forged line'), 'no forged line')
})

t.test('the log sink down: the process keeps serving 2xx', async (t) => {
  const root = new URL('../../', import.meta.url).pathname
  const port = await freePort()
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-sink-')), PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, LOG_LEVEL: 'info', LOG_REQUESTS: 'true', JOBS_ENABLED: 'false' }
  const child = spawn(process.execPath, ['src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  let errors = ''
  child.stderr.on('data', (d: Buffer) => { errors += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('Server listening')) resolve() })
    void exited.then(() => reject(new Error(`server exited before listening:\n${out}${errors}`)))
  })
  const key = /sb_live_[0-9A-Za-z]{49}/.exec(out)?.[0]
  t.ok(key, 'the bootstrap key was printed')

  // The reader of the process's stdout goes away: every later log write fails with EPIPE.
  child.stdout.destroy()
  let alive = true
  void exited.then(() => { alive = false })
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${key!}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ viewer { scopes } }' }) })
    statuses.push(res.status)
  }
  const health = await fetch(`http://127.0.0.1:${port}/healthz`)
  t.same(statuses, Array(20).fill(200), 'every request answered 200 while each one logged into a dead sink')
  t.equal(health.status, 200)
  t.ok(alive, `the process is still running${alive ? '' : `: ${errors}`}`)
})
