/**
 * The real process in production on the embedded database (EMBEDDED_IN_PRODUCTION=true): the
 * bootstrap admin key never reaches stdout or the logs (which production ships elsewhere); it
 * is written once to a file only this user can read, and the path is printed. The start-up
 * warnings are logged.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BootstrapKeyFileExistsError, bootstrapEmbedded, bootstrapKeyFile } from '../../src/bootstrap.ts'
import { JWT_SECRET, build, freePort } from '../helper.ts'

const root = new URL('../../', import.meta.url).pathname

async function start (dataDir: string) {
  const port = await freePort()
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    EMBEDDED_IN_PRODUCTION: 'true',
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET,
    ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 3).toString('base64')}`,
    LOG_LEVEL: 'info',
    JOBS_ENABLED: 'false'
  }
  const child = spawn(process.execPath, ['src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const deadline = Date.now() + 120_000
  while (!out.includes('Server listening') && child.exitCode === null) {
    if (Date.now() > deadline) throw new Error(`server did not start:\n${out}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { child, port, output: () => out, exited }
}

t.test('production: the bootstrap key goes to a 0600 file, never to the output', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-production-'))
  const keyFile = join(dataDir, 'bootstrap-admin-key')
  const first = await start(dataDir)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const out = first.output()
  t.notMatch(out, /sb_live_/, 'no key in stdout, stderr or any log line')
  t.match(out, keyFile, 'the path is printed')

  const stat = statSync(keyFile)
  t.equal(stat.mode & 0o777, 0o600, 'readable by this user only')
  const key = readFileSync(keyFile, 'utf8').trim()
  t.match(key, /^sb_live_[0-9A-Za-z]{49}$/, 'the file holds the key alone')
  const viewer = await fetch(`http://127.0.0.1:${first.port}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ viewer { team { name } scopes } }' })
  })
  t.same((await viewer.json()).data.viewer, { team: { name: 'default' }, scopes: ['admin:full'] }, 'and the key works')

  // Warnings are log lines (level 40): no allow-list, PUBLIC_URL left at its loopback default.
  const warnings = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number, msg: string }).filter((l) => l.level === 40).map((l) => l.msg)
  t.match(warnings.join('\n'), /OAUTH_REDIRECT_ALLOWLIST is empty/)
  t.match(warnings.join('\n'), /PUBLIC_URL .* is a loopback address/)
  t.match(warnings.join('\n'), /Embedded PGlite database in use/)

  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)

  // A restart on the same data: the database has a team, so no new key and the file is untouched.
  writeFileSync(keyFile, 'moved elsewhere\n', { mode: 0o600 })
  const second = await start(dataDir)
  t.teardown(() => { second.child.kill('SIGKILL') })
  t.notMatch(second.output(), /bootstrap-admin-key|sb_live_/)
  t.equal(readFileSync(keyFile, 'utf8'), 'moved elsewhere\n', 'written once: never overwritten')
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})

t.test('production: an empty database with a key file left from an earlier bootstrap is not overwritten', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-production-'))
  const keyFile = bootstrapKeyFile(dataDir)
  writeFileSync(keyFile, 'an earlier key\n', { mode: 0o600 })
  const { app } = await build(t)
  const printed: string[] = []
  await t.rejects(bootstrapEmbedded(app, { port: 3000, keyFile }, (text) => printed.push(text)), BootstrapKeyFileExistsError)
  t.equal(readFileSync(keyFile, 'utf8'), 'an earlier key\n', 'the file is untouched')
  t.ok(await app.services.teams.isEmpty(), 'no team or key was created for a key that could not be stored')
  t.same(printed, [])
  // The shell turns this error into a message on stderr and exit code 1, before listening.
})
