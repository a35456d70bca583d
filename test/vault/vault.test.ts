import t from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { buildApp } from '../../src/app.ts'
import { integrations, teams, vaultKeys } from '../../src/db/schema.ts'
import { newId } from '../../src/domain/ids.ts'
import { sealCtx } from '../../src/domain/vault/encrypted-columns.ts'
import { Vault, VaultError, type VaultKey } from '../../src/domain/vault/vault.ts'
import { KeyringMismatchError } from '../../src/domain/vault/keyring-check.ts'
import { rotateKeys } from '../../src/cli/rotate-keys.ts'
import { testConfig, testDatabase } from '../helper.ts'

const k = (version: number) => ({ version, key: randomBytes(32) })
const ctx = { teamId: 'team-a', rowId: 'row-1', column: 'integration_credentials.access_token' }

t.test('round trip, random IVs, key version in the envelope', async (t) => {
  const v = new Vault([k(3)])
  const a = v.seal('xoxb-secret', ctx)
  const b = v.seal('xoxb-secret', ctx)
  t.not(a, b, 'same plaintext twice → different ciphertexts')
  t.not(a.split('.')[2], b.split('.')[2], 'different IVs')
  t.equal(Buffer.from(a.split('.')[2]!, 'base64url').length, 12, '12-byte IV')
  t.equal(Vault.versionOf(a), 3)
  t.notMatch(a, /xoxb/)
  t.equal(v.open(a, ctx), 'xoxb-secret')
})

t.test('tampering, moving to another row/team/column fails', async (t) => {
  const v = new Vault([k(1)])
  const env = v.seal('token', ctx)
  const parts = env.split('.')
  const ct = Buffer.from(parts[4]!, 'base64url'); ct[0]! ^= 1
  t.throws(() => v.open([...parts.slice(0, 4), ct.toString('base64url')].join('.'), ctx), VaultError, 'flipped ciphertext bit')
  const tag = Buffer.from(parts[3]!, 'base64url'); tag[0]! ^= 1
  t.throws(() => v.open([parts[0], parts[1], parts[2], tag.toString('base64url'), parts[4]].join('.'), ctx), VaultError, 'flipped tag bit')
  t.throws(() => v.open(env, { ...ctx, rowId: 'row-2' }), VaultError, 'other row')
  t.throws(() => v.open(env, { ...ctx, teamId: 'team-b' }), VaultError, 'other team')
  t.throws(() => v.open(env, { ...ctx, column: 'integration_credentials.refresh_token' }), VaultError, 'other column')
  t.throws(() => v.open('plain-text', ctx), VaultError, 'not an envelope')
})

t.test('keyring: reads accept old keys, writes use the newest', async (t) => {
  const v1 = k(1); const v2 = k(2)
  const old = new Vault([v1]).seal('s', ctx)
  const ring = new Vault([v2, v1])
  t.equal(ring.open(old, ctx), 's')
  t.equal(Vault.versionOf(ring.seal('s', ctx)), 2)
  t.throws(() => new Vault([v2]).open(old, ctx), VaultError, 'dropping v1 before rotation breaks v1 rows')
})

t.test('config: production refuses to start without a key; dev generates a key file; bad keys rejected', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-vault-'))
  try {
    loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), DATA_DIR: dir, OAUTH_REDIRECT_ALLOWLIST: 'https://app.example' })
    t.fail('production without ENCRYPTION_KEYS must not load')
  } catch (err) {
    t.ok(err instanceof ConfigError && err.problems.some((p) => p.startsWith('ENCRYPTION_KEYS is required')), 'names ENCRYPTION_KEYS')
  }
  const dev = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir })
  t.ok(dev.encryption.generated)
  t.ok(existsSync(join(dir, 'encryption-key')))
  t.equal(dev.encryption.keys[0]!.key.length, 32)
  t.same(loadConfig({ NODE_ENV: 'development', DATA_DIR: dir }).encryption.keys[0]!.key, dev.encryption.keys[0]!.key, 'the same key on the next start')
  t.equal(readFileSync(join(dir, 'encryption-key'), 'utf8').trim().length, 44)
  t.throws(() => loadConfig({ NODE_ENV: 'development', DATA_DIR: dir, ENCRYPTION_KEYS: '1:' + randomBytes(16).toString('base64') }), ConfigError, 'short key')
  t.throws(() => loadConfig({ NODE_ENV: 'development', DATA_DIR: dir, ENCRYPTION_KEYS: 'abc' }), ConfigError, 'no version')
  const two = loadConfig({ NODE_ENV: 'production', EMBEDDED_IN_PRODUCTION: 'true', JWT_SECRET: 'x'.repeat(40), DATA_DIR: dir, OAUTH_REDIRECT_ALLOWLIST: 'https://app.example', ENCRYPTION_KEYS: `2:${randomBytes(32).toString('base64')}, 1:${randomBytes(32).toString('base64')}` })
  t.same(two.encryption.keys.map((x) => x.version), [2, 1])
  t.notOk(two.encryption.generated)
})

t.test('rotate-keys re-encrypts every row under the newest key; then the old key can go', async (t) => {
  const { database } = await testDatabase(t)
  const db = database.db
  const v1 = k(1); const v2 = k(2)
  const oldVault = new Vault([v1])
  const teamId = newId()
  await db.insert(teams).values({ id: teamId, name: 't' })
  const ids = [newId(), newId(), newId()]
  for (const id of ids) {
    await db.insert(integrations).values({
      id, teamId, provider: 'rest_api', name: id, status: 'connected', authMode: 'api_key',
      credentials: oldVault.seal(`{"apiKey":"k-${id}"}`, sealCtx('integrations.credentials', teamId, id))
    })
  }
  const base = testConfig()
  const config = { ...base, encryption: { keys: [v2, v1], generated: false } }
  let printed = ''
  const report = await rotateKeys(config, { database, print: (s) => { printed += s } })
  t.equal(report.columns['integrations.credentials']!.reencrypted, 3)
  t.match(printed, /integrations.credentials: 3 re-encrypted/)
  const onlyV2 = new Vault([v2])
  for (const id of ids) {
    const [row] = await db.select().from(integrations).where(eq(integrations.id, id))
    t.equal(Vault.versionOf(row!.credentials!), 2)
    t.equal(onlyV2.open(row!.credentials!, sealCtx('integrations.credentials', teamId, id)), `{"apiKey":"k-${id}"}`)
  }
  const again = await rotateKeys(config, { database, print: () => {} })
  t.equal(again.columns['integrations.credentials']!.current, 3, 'a second run skips current rows')
})

t.test('keyring check: the first start records each key version; another key under a recorded version is refused', async (t) => {
  const { database } = await testDatabase(t)
  const start = async (keys: VaultKey[]): Promise<void> => {
    const app = await buildApp({ ...testConfig(), encryption: { keys, generated: false } }, { database })
    await app.close()
  }
  const a = k(1); const b = k(1); const c = k(2)
  await start([a])
  await start([a])
  t.same((await database.db.select().from(vaultKeys)).map((r) => r.version), [1], 'version 1 recorded once')
  t.notOk((await database.db.select().from(vaultKeys))[0]!.check.includes(a.key.toString('base64')), 'only a check value is stored')
  await t.rejects(start([b]), KeyringMismatchError, 'a different key under version 1 is refused')
  await start([c, a])
  await t.rejects(start([k(2), a]), { name: 'KeyringMismatchError', versions: [2] }, 'a different version 2 is named')
  await start([c]) // after rotate-keys the old version may go
  await t.rejects(rotateKeys({ ...testConfig(), encryption: { keys: [b], generated: false } }, { database, print: () => {} }), KeyringMismatchError, 'rotate-keys refuses a wrong key before touching a row')
})
