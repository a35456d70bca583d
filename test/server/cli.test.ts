/** The `switchboard` CLI as an operator runs it, against the database under test. */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../../src/app.ts'
import { openDatabase } from '../../src/db/client.ts'
import { JWT_SECRET, TEST_ENCRYPTION_KEYS, testConfig, testDatabase } from '../helper.ts'

const root = new URL('../../', import.meta.url).pathname

t.test('teams create, keys create and token produce credentials the gateway accepts', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-cli-'))
  const { url } = await testDatabase(t)
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, JWT_SECRET, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, ...(url !== undefined && { DATABASE_URL: url }) }
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['src/cli.ts', ...args], { cwd: root, env, encoding: 'utf8' })
    return { status: r.status, out: r.stdout, err: r.stderr }
  }

  const migrate = cli('migrate', '--json')
  t.equal(migrate.status, 0, migrate.err)
  const team = JSON.parse(cli('teams', 'create', 'Acme', 'Inc', '--json').out) as { id: string, name: string }
  t.equal(team.name, 'Acme Inc')
  const key = JSON.parse(cli('keys', 'create', '--team', team.id, '--name', 'ci', '--scopes', 'keys:read,logs:read', '--expires-in-days', '7', '--json').out) as { secret: string, scopes: string[], expiresAt: string }
  t.match(key.secret, /^sb_live_/)
  t.same(key.scopes, ['keys:read', 'logs:read'])
  t.ok(Date.parse(key.expiresAt) - Date.now() < 7.01 * 86_400_000)
  const token = JSON.parse(cli('token', '--team', team.id, '--user', 'alice', '--role', 'operator', '--json').out) as { token: string }

  const bad = cli('keys', 'create', '--team', team.id, '--name', 'x', '--scopes', 'root:all')
  t.equal(bad.status, 2, 'unknown scope is a usage error')
  t.match(bad.err, /unknown scope: root:all/)
  t.equal(cli('frobnicate').status, 2)
  const rotated = cli('rotate-keys', '--json')
  t.equal(rotated.status, 0, rotated.err)
  t.match(JSON.parse(rotated.out), { keyVersion: Number })

  // The same database, served: the CLI's key and token work.
  const database = url === undefined
    ? await openDatabase({ kind: 'pglite', dataDir: join(dataDir, 'pglite'), migrateOnStart: true })
    : await openDatabase({ kind: 'postgres', url, poolSize: 2, migrateOnStart: false })
  const app = await buildApp(testConfig({ JOBS_ENABLED: 'false' }), { database })
  t.teardown(async () => { await app.close(); await database.close() })
  const ask = (credential: string) => app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, payload: { query: '{ viewer { team { name } principal { kind userId } scopes } }' } })
  const byKey = (await ask(key.secret)).json()
  t.same(byKey.data.viewer.team, { name: 'Acme Inc' })
  const byToken = (await ask(token.token)).json()
  t.same(byToken.data.viewer.principal, { kind: 'USER', userId: 'alice' })
  t.ok(byToken.data.viewer.scopes.includes('logs:read'), 'operator role')
})
