/**
 * Our security checklist, §1.7 (secrets at rest), what the vault tests do not show end to end:
 * - test 4: a ciphertext copied into another team's row, or another row of the same team, does
 *   not decrypt there (the team, row and column are the associated data), so the copy never
 *   sends the first row's secret anywhere;
 * - test 5 (the half that exists): the real process started with a short or malformed
 *   ENCRYPTION_KEYS exits with an error naming it, before it listens.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { build, freePort, JWT_SECRET } from '../helper.ts'

const CREATE = 'mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }'
const TEST = 'mutation($id: ID!) { testIntegration(id: $id) { success message } }'

t.test('a credentials ciphertext moved to another row does not decrypt there and sends nothing', async (t) => {
  const seen: string[] = [] // the Authorization header of every request the API received
  const api = createServer((req, res) => { seen.push(String(req.headers.authorization)); res.writeHead(200).end('{}') })
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
  t.teardown(() => api.close())
  const { port } = api.address() as { port: number }

  const app = await build(t, { env: { OUTBOUND_ALLOW_PRIVATE: 'true' } })
  const a = await app.seedTeam('team-a')
  const b = await app.seedTeam('team-b')
  const create = async (key: string, name: string, secret: string): Promise<string> => {
    const r = await app.gql(CREATE, { auth: key, variables: { input: { provider: 'rest_api', name, config: { baseUrl: `http://127.0.0.1:${port}` }, credentials: { apiKey: secret } } } })
    t.equal(r.status, 200, `${name} created`)
    return r.body.data!.createIntegration.id as string
  }
  const aId = await create(a.adminKey, 'a', 'A-SECRET-1')
  const aOther = await create(a.adminKey, 'a-other', 'A-SECRET-2')
  const bId = await create(b.adminKey, 'b', 'B-SECRET-1')

  const works = await app.gql(TEST, { auth: a.adminKey, variables: { id: aId } })
  t.equal(works.body.data?.testIntegration.success, true, 'the original row decrypts and calls the API')
  t.same(seen, ['Bearer A-SECRET-1'])

  const copy = async (to: string): Promise<void> => {
    await app.database.rows(sql`update integrations set credentials = (select credentials from integrations where id = ${aId}) where id = ${to}`)
  }
  for (const [label, key, id] of [['another team\'s row', b.adminKey, bId], ['another row of the same team', a.adminKey, aOther]] as const) {
    await copy(id)
    const before = seen.length
    const res = await app.gql(TEST, { auth: key, variables: { id } })
    t.equal(res.status, 200, `${label}: answered, not a 500`)
    t.equal(res.body.data?.testIntegration.success, false, `${label}: the copy does not decrypt`)
    t.notMatch(JSON.stringify(res.body), /A-SECRET/, `${label}: no secret in the answer`)
    t.equal(seen.length, before, `${label}: no request sent`)
  }
  t.notOk(seen.slice(1).some((h) => h.includes('A-SECRET')), 'A\'s secret left only for A\'s own row')
})

t.test('the process refuses a short or malformed ENCRYPTION_KEYS before listening', async (t) => {
  const root = new URL('../../', import.meta.url).pathname
  const cases: Array<[string, string]> = [
    ['16-byte key', `1:${randomBytes(16).toString('base64')}`],
    ['no version', randomBytes(32).toString('base64')],
    ['not base64 of 32 bytes', '1:not-a-key']
  ]
  for (const [label, keys] of cases) {
    const port = await freePort()
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-keys-')), PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, ENCRYPTION_KEYS: keys, JOBS_ENABLED: 'false' }
    const child = spawn(process.execPath, ['src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    t.equal(code, 1, `${label}: exits with 1`)
    t.match(out, /ENCRYPTION_KEYS/, `${label}: says which variable is wrong`)
    t.notMatch(out, /Server listening/, `${label}: never listened`)
    t.notOk(out.includes(keys.split(':').at(-1)!), `${label}: the key is not echoed`)
  }
})

t.test('the process refuses a well-formed key that is not the database\'s key, before listening', async (t) => {
  const root = new URL('../../', import.meta.url).pathname
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-keys-'))
  const start = async (keys: string): Promise<{ code: number | null, out: string }> => {
    const port = await freePort()
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, ENCRYPTION_KEYS: keys, JOBS_ENABLED: 'false' }
    const child = spawn(process.execPath, ['src/server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('Server listening')) child.kill('SIGTERM') })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    return { code, out }
  }
  const first = await start(`1:${randomBytes(32).toString('base64')}`)
  t.match(first.out, /Server listening/, 'the first start records its key and listens')
  const other = `1:${randomBytes(32).toString('base64')}`
  const second = await start(other)
  t.equal(second.code, 1, 'another key under the same version: exits with 1')
  t.match(second.out, /ENCRYPTION_KEYS: key version 1 is not the key this database was encrypted with/)
  t.notMatch(second.out, /Server listening/, 'never listened')
  t.notOk(second.out.includes(other.slice(2)), 'the key is not echoed')
})
