import t from 'tap'
import { sql } from 'drizzle-orm'
import { spawnSync } from 'node:child_process'
import { hashApiKey } from '../../src/domain/api-keys/api-key-format.ts'
import { build, dbKind, signToken, testClock } from '../helper.ts'
import { randomId, runSecurityCases, tableRows } from '../security-cases.ts'

const clock = testClock()
const app = await build(t, { clock, env: { API_KEY_USAGE_FLUSH_MS: '60000' } })
const { gql, seedTeam, keyWith } = app

const KEY_FIELDS = 'id name prefix scopes rateLimit { requests windowMs } expiresAt lastUsedAt usageCount enabled createdAt revokedAt createdBy'
const CREATE = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { ${KEY_FIELDS} } } }`

/** Every row these operations write, as text: what `pg_dump | grep` would see. */
const dumpRows = (): Promise<string[]> => tableRows(app, ['api_keys', 'audit_events', 'outbox_events'])

t.test('createApiKey: the secret is returned once and never stored', async (t) => {
  const { adminKey } = await seedTeam('create')
  const res = await gql(CREATE, { auth: adminKey, variables: { input: { name: ' deploy bot ', scopes: ['keys:read', 'logs:read'], rateLimit: { requests: 50, windowMs: 60000 } } } })
  t.equal(res.status, 200)
  const { secret, apiKey } = res.body.data!.createApiKey
  t.match(secret, /^sb_live_[0-9A-Za-z]{49}$/)
  t.equal(apiKey.prefix, secret.slice(0, 12))
  t.equal(apiKey.name, 'deploy bot')
  t.same(apiKey.scopes, ['keys:read', 'logs:read'])
  t.same(apiKey.rateLimit, { requests: 50, windowMs: 60000 })
  t.equal(apiKey.usageCount, 0)
  t.equal(apiKey.enabled, true)
  t.match(apiKey.createdBy, /^key:/)
  const days = (Date.parse(apiKey.expiresAt) - clock.now().getTime()) / 86_400_000
  t.ok(days > 89.9 && days <= 90, 'default expiry is 90 days')

  const stored = (await dumpRows()).join('\n')
  t.notOk(stored.includes(secret), 'plaintext key is in no table')
  if (dbKind === 'postgres') {
    // The real thing on a server: pg_dump of the whole database.
    const url = app.database.connectionString!
    const out = spawnSync('pg_dump', ['--data-only', url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    t.equal(out.status, 0, out.stderr)
    t.ok(out.stdout.includes(apiKey.id), 'the dump has the key row')
    t.notOk(out.stdout.includes(secret.slice(8)), 'pg_dump finds no trace of the key')
  }
  t.notOk(stored.includes(secret.slice(12)), 'not even the secret part')
  t.ok(stored.includes('api_key.created'), 'creation is audited')

  const listed = await gql(`{ apiKeys { nodes { ${KEY_FIELDS} } } }`, { auth: adminKey })
  t.notOk(JSON.stringify(listed.body).includes(secret), 'listing never shows the secret')
  const schema = JSON.stringify(listed.body)
  t.notOk(/hash/i.test(schema), 'no hash field is exposed')

  const works = await gql('{ viewer { scopes } }', { auth: secret })
  t.same(works.body.data?.viewer.scopes, ['keys:read', 'logs:read'], 'the new key authenticates')
})

t.test('createApiKey: bad input is BAD_USER_INPUT and writes nothing', async (t) => {
  const { adminKey } = await seedTeam('bad-input')
  const cases: Array<[string, Record<string, unknown>]> = [
    ['empty name', { name: '  ', scopes: ['keys:read'] }],
    ['unknown scope', { name: 'x', scopes: ['keys:read', 'root:all'] }],
    ['no scopes', { name: 'x', scopes: [] }],
    ['past expiry', { name: 'x', scopes: ['keys:read'], expiresAt: new Date(clock.now().getTime() - 1000).toISOString() }],
    ['bad rate limit', { name: 'x', scopes: ['keys:read'], rateLimit: { requests: 0, windowMs: 1000 } }],
    ['malformed date', { name: 'x', scopes: ['keys:read'], expiresAt: 'tomorrow' }]
  ]
  const before = await dumpRows()
  for (const [label, input] of cases) {
    const res = await gql(CREATE, { auth: adminKey, variables: { input } })
    t.equal(res.status, 400, `${label} → 400`)
    t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', label)
    t.ok(res.body.errors?.[0]?.extensions.requestId, 'error carries the request id')
  }
  t.same(await dumpRows(), before, 'no row written')
})

t.test('createApiKey: no escalation', async (t) => {
  const { teamId } = await seedTeam('escalation')
  const writer = await keyWith(teamId, ['keys:write', 'keys:read'])
  const res = await gql(CREATE, { auth: writer.key, variables: { input: { name: 'more', scopes: ['admin:full'] } } })
  t.equal(res.status, 403)
  t.equal(res.body.errors?.[0]?.extensions.code, 'FORBIDDEN')
  const ok = await gql(CREATE, { auth: writer.key, variables: { input: { name: 'same', scopes: ['keys:read'] } } })
  t.equal(ok.status, 200, 'granting a held scope is allowed')

  const admin = await keyWith(teamId, ['admin:full'])
  const rotate = await gql('mutation($id: ID!) { rotateApiKey(id: $id) { secret } }', { auth: writer.key, variables: { id: admin.id } })
  t.equal(rotate.body.errors?.[0]?.extensions.code, 'FORBIDDEN', 'cannot rotate a more powerful key to obtain its secret')
  const widen = await gql('mutation($id: ID!) { updateApiKey(id: $id, input: { scopes: ["admin:full"] }) { id } }', { auth: writer.key, variables: { id: ok.body.data!.createApiKey.apiKey.id } })
  t.equal(widen.body.errors?.[0]?.extensions.code, 'FORBIDDEN', 'cannot widen a key beyond own scopes')
})

const UPDATE_KEY = 'mutation($id: ID!, $input: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $input) { scopes rateLimit { requests windowMs } expiresAt } }'
const ROTATE_KEY = 'mutation($id: ID!) { rotateApiKey(id: $id) { secret apiKey { id scopes rateLimit { requests windowMs } expiresAt } } }'
const inDays = (days: number): Date => new Date(clock.now().getTime() + days * 86_400_000)
const errorOf = (res: { body: { errors?: Array<{ extensions: Record<string, unknown> }> } }): { code: unknown, field: unknown } =>
  ({ code: res.body.errors?.[0]?.extensions.code, field: res.body.errors?.[0]?.extensions.field })

t.test('a key cannot widen itself (limit, expiry, scopes); narrowing is allowed', async (t) => {
  const { teamId, adminKey } = await seedTeam('self-widen')
  const { apiKey, secret: self } = await app.app.services.apiKeys.createForTeam(teamId,
    { name: 'self', scopes: ['keys:write', 'keys:read'], rateLimit: { requests: 100, windowMs: 60_000 }, expiresAt: inDays(30) }, { type: 'system', id: 'test' })
  const row = async (): Promise<unknown> => (await gql(`query($id: ID!) { apiKey(id: $id) { ${KEY_FIELDS} } }`, { auth: adminKey, variables: { id: apiKey.id } })).body.data?.apiKey
  const before = await row()

  const refused: Array<[string, Record<string, unknown>, { code: string, field?: string }]> = [
    // the attack as reported: both values are also over the ceilings, which every principal meets first
    ['limit 2^31-1', { rateLimit: { requests: 2 ** 31 - 1, windowMs: 1000 } }, { code: 'BAD_USER_INPUT', field: 'rateLimit' }],
    ['expiry 9999-12-31', { expiresAt: '9999-12-31T00:00:00.000Z' }, { code: 'BAD_USER_INPUT', field: 'expiresAt' }],
    // under the ceilings, still wider than the key itself
    ['more requests', { rateLimit: { requests: 101, windowMs: 60_000 } }, { code: 'FORBIDDEN' }],
    ['same requests in a shorter window', { rateLimit: { requests: 100, windowMs: 30_000 } }, { code: 'FORBIDDEN' }],
    ['fewer requests but a faster rate', { rateLimit: { requests: 50, windowMs: 1000 } }, { code: 'FORBIDDEN' }],
    ['dropping its limit for the larger server default', { rateLimit: null }, { code: 'FORBIDDEN' }],
    ['a later expiry', { expiresAt: inDays(31).toISOString() }, { code: 'FORBIDDEN' }],
    ['a scope it lacks', { scopes: ['keys:write', 'keys:read', 'logs:read'] }, { code: 'FORBIDDEN' }]
  ]
  for (const [label, input, want] of refused) {
    const res = await gql(UPDATE_KEY, { auth: self, variables: { id: apiKey.id, input } })
    t.match(errorOf(res), want, `${label} → ${want.code}`)
    t.not(res.status, 200, label)
  }
  t.same(await row(), before, 'the key is unchanged')

  const narrowed = await gql(UPDATE_KEY, { auth: self, variables: { id: apiKey.id, input: { rateLimit: { requests: 50, windowMs: 60_000 }, expiresAt: inDays(20).toISOString(), scopes: ['keys:write'] } } })
  t.same(narrowed.body.data?.updateApiKey, { scopes: ['keys:write'], rateLimit: { requests: 50, windowMs: 60_000 }, expiresAt: inDays(20).toISOString() }, 'narrowing its own key is allowed')

  const rotated = await gql(ROTATE_KEY, { auth: self, variables: { id: apiKey.id } })
  t.equal(rotated.status, 200, 'a key may rotate itself')
  t.same(rotated.body.data?.rotateApiKey.apiKey.expiresAt, inDays(20).toISOString(), 'rotating itself does not extend its life')
  t.same(rotated.body.data?.rotateApiKey.apiKey.rateLimit, { requests: 50, windowMs: 60_000 })

  const other = await app.app.services.apiKeys.createForTeam(teamId, { name: 'other', scopes: ['keys:read'], expiresAt: inDays(30) }, { type: 'system', id: 'test' })
  const byAdmin = await gql(ROTATE_KEY, { auth: adminKey, variables: { id: other.apiKey.id } })
  t.equal(byAdmin.body.data?.rotateApiKey.apiKey.expiresAt, inDays(app.config.apiKeys.defaultExpiryDays).toISOString(), 'rotating another key still renews it to the default expiry')
})

t.test('ceilings: every key, whoever writes it, stays within the rate-limit and expiry maxima', async (t) => {
  const { teamId, adminKey } = await seedTeam('ceilings')
  const max = app.config.apiKeys.maxRateLimitRequests
  const maxDays = app.config.apiKeys.maxExpiryDays
  const owner = await signToken({ sub: 'owner', team: teamId, role: 'owner' })
  const over: Array<[string, Record<string, unknown>, string]> = [
    ['rateLimit one over the ceiling', { rateLimit: { requests: max + 1, windowMs: 60_000 } }, 'rateLimit'],
    ['rateLimit 2^31-1', { rateLimit: { requests: 2 ** 31 - 1, windowMs: 1000 } }, 'rateLimit'],
    ['expiry a minute past the ceiling', { expiresAt: new Date(inDays(maxDays).getTime() + 60_000).toISOString() }, 'expiresAt'],
    ['expiry 9999-12-31', { expiresAt: '9999-12-31T00:00:00.000Z' }, 'expiresAt']
  ]
  const target = await keyWith(teamId, ['keys:read'])
  const before = await dumpRows()
  for (const [who, auth] of [['admin key', adminKey], ['owner JWT', owner]] as const) {
    for (const [label, extra, field] of over) {
      const created = await gql(CREATE, { auth, variables: { input: { name: 'big', scopes: ['keys:read'], ...extra } } })
      t.same(errorOf(created), { code: 'BAD_USER_INPUT', field }, `${who} creates: ${label}`)
      t.equal(created.status, 400)
      const updated = await gql(UPDATE_KEY, { auth, variables: { id: target.id, input: extra } })
      t.same(errorOf(updated), { code: 'BAD_USER_INPUT', field }, `${who} updates: ${label}`)
    }
  }
  t.same(await dumpRows(), before, 'no row written')

  const atCeiling = await gql(CREATE, { auth: adminKey, variables: { input: { name: 'max', scopes: ['keys:read'], rateLimit: { requests: max, windowMs: 1000 }, expiresAt: inDays(maxDays).toISOString() } } })
  t.equal(atCeiling.status, 200, 'exactly at both ceilings is allowed')
  const noExpiry = await gql(`mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { expiresAt } } }`, { auth: adminKey, variables: { input: { name: 'never', scopes: ['keys:read'], expiresAt: null } } })
  t.equal(noExpiry.body.data?.createApiKey.apiKey.expiresAt, inDays(app.config.apiKeys.defaultExpiryDays).toISOString(), 'expiresAt: null is the default expiry, never "no expiry"')

  // A key written before the ceilings existed (or under a higher one) is brought within them.
  const legacy = await keyWith(teamId, ['keys:read'])
  await app.database.rows(sql`update api_keys set rate_limit_requests = ${2 ** 31 - 1}, rate_limit_window_ms = 1000, expires_at = '9999-12-31' where id = ${legacy.id}`)
  app.app.services.keyVerifier.invalidate(hashApiKey(legacy.key))
  const seen = await app.app.services.authenticator.authenticate(legacy.key)
  t.same(seen.ok ? seen.principal.rateLimit : undefined, { requests: max, windowMs: 1000 }, 'its limit counts as the ceiling when it is used')
  const rotated = await gql(ROTATE_KEY, { auth: adminKey, variables: { id: legacy.id } })
  t.same(rotated.body.data?.rotateApiKey.apiKey.rateLimit, { requests: max, windowMs: 1000 }, 'rotation carries the limit over at the ceiling')
  t.equal(rotated.body.data?.rotateApiKey.apiKey.expiresAt, inDays(maxDays).toISOString(), 'and the expiry at the ceiling')
})

t.test('apiKeys: cursor pagination covers every key once, newest first', async (t) => {
  const { teamId, adminKey } = await seedTeam('paging')
  for (let i = 0; i < 6; i++) await keyWith(teamId, ['keys:read'])
  const seen: string[] = []
  let after: string | null = null
  let pages = 0
  let total = 0
  do {
    const res = await gql('query($after: String) { apiKeys(first: 3, after: $after) { totalCount nodes { id createdAt } pageInfo { hasNextPage endCursor } } }', { auth: adminKey, variables: { after } })
    const conn = res.body.data!.apiKeys
    total = conn.totalCount
    seen.push(...conn.nodes.map((n: { id: string }) => n.id))
    after = conn.pageInfo.hasNextPage ? conn.pageInfo.endCursor : null
    pages++
  } while (after !== null && pages < 10)
  t.equal(total, 7, 'six keys plus the admin key')
  t.equal(seen.length, 7)
  t.equal(new Set(seen).size, 7, 'no duplicates')
  t.equal(pages, 3)
  t.same([...seen].sort().reverse(), seen, 'newest first (ids are time-ordered)')

  const badCursor = await gql('{ apiKeys(after: "not-a-cursor") { totalCount } }', { auth: adminKey })
  t.equal(badCursor.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  const tooMany = await gql('{ apiKeys(first: 101) { totalCount } }', { auth: adminKey })
  t.equal(tooMany.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
})

t.test('apiKey: one key by id', async (t) => {
  const { teamId, adminKey } = await seedTeam('get')
  const k = await keyWith(teamId, ['sync:read'])
  const res = await gql('query($id: ID!) { apiKey(id: $id) { id scopes } }', { auth: adminKey, variables: { id: k.id } })
  t.same(res.body.data?.apiKey, { id: k.id, scopes: ['sync:read'] })
  const missing = await gql('query($id: ID!) { apiKey(id: $id) { id } }', { auth: adminKey, variables: { id: 'not-a-uuid' } })
  t.equal(missing.body.errors?.[0]?.extensions.code, 'NOT_FOUND', 'a malformed id is simply not found')
})

t.test('updateApiKey: rename, disable, change limit', async (t) => {
  const { teamId, adminKey } = await seedTeam('update')
  const k = await keyWith(teamId, ['keys:read'])
  const UPDATE = 'mutation($id: ID!, $input: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $input) { name enabled rateLimit { requests windowMs } scopes } }'
  const res = await gql(UPDATE, { auth: adminKey, variables: { id: k.id, input: { name: 'renamed', rateLimit: { requests: 5, windowMs: 1000 } } } })
  t.same(res.body.data?.updateApiKey, { name: 'renamed', enabled: true, rateLimit: { requests: 5, windowMs: 1000 }, scopes: ['keys:read'] })
  t.equal((await gql('{ viewer { scopes } }', { auth: k.key })).status, 200)
  const off = await gql(UPDATE, { auth: adminKey, variables: { id: k.id, input: { enabled: false } } })
  t.equal(off.body.data?.updateApiKey.enabled, false)
  t.equal((await gql('{ viewer { scopes } }', { auth: k.key })).status, 401, 'a disabled key stops working at once on this instance')
  const bad = await gql(UPDATE, { auth: adminKey, variables: { id: k.id, input: { name: '' } } })
  t.equal(bad.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  const reset = await gql(UPDATE, { auth: adminKey, variables: { id: k.id, input: { enabled: true, rateLimit: null } } })
  t.equal(reset.body.data?.updateApiKey.rateLimit, null, 'rateLimit: null falls back to the default')
})

t.test('rotateApiKey: the old key works during the grace period, then stops', async (t) => {
  const { teamId, adminKey } = await seedTeam('rotate')
  const old = await keyWith(teamId, ['keys:read', 'logs:read'])
  const res = await gql('mutation($id: ID!) { rotateApiKey(id: $id, gracePeriodSeconds: 60) { secret apiKey { id scopes name } } }', { auth: adminKey, variables: { id: old.id } })
  t.equal(res.status, 200)
  const fresh = res.body.data!.rotateApiKey
  t.not(fresh.apiKey.id, old.id)
  t.same(fresh.apiKey.scopes, ['keys:read', 'logs:read'], 'same scopes')
  t.equal((await gql('{ viewer { scopes } }', { auth: old.key })).status, 200, 'old key still works in the grace period')
  t.equal((await gql('{ viewer { scopes } }', { auth: fresh.secret })).status, 200, 'new key works')
  clock.advance(61_000)
  t.equal((await gql('{ viewer { scopes } }', { auth: old.key })).status, 401, 'old key stops after the grace period')
  t.equal((await gql('{ viewer { scopes } }', { auth: fresh.secret })).status, 200, 'new key keeps working')
  const badGrace = await gql('mutation($id: ID!) { rotateApiKey(id: $id, gracePeriodSeconds: -1) { secret } }', { auth: adminKey, variables: { id: fresh.apiKey.id } })
  t.equal(badGrace.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
})

t.test('revokeApiKey: stops the key at once and is audited', async (t) => {
  const { teamId, adminKey } = await seedTeam('revoke')
  const k = await keyWith(teamId, ['keys:read'])
  t.equal((await gql('{ viewer { scopes } }', { auth: k.key })).status, 200)
  const res = await gql('mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt enabled } }', { auth: adminKey, variables: { id: k.id } })
  t.ok(res.body.data?.revokeApiKey.revokedAt)
  t.equal(res.body.data?.revokeApiKey.enabled, false)
  t.equal((await gql('{ viewer { scopes } }', { auth: k.key })).status, 401, 'revoked key is refused immediately (cache dropped)')
  const audit = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from audit_events where action = 'api_key.revoked' and target_id = ${k.id}`)
  t.equal(audit[0]!.n, 1)
  const rotate = await gql('mutation($id: ID!) { rotateApiKey(id: $id) { secret } }', { auth: adminKey, variables: { id: k.id } })
  t.equal(rotate.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'a revoked key cannot be rotated')
})

t.test('verifyApiKey: reports validity for own keys only', async (t) => {
  const { teamId, adminKey } = await seedTeam('verify')
  const k = await keyWith(teamId, ['keys:read'], { rateLimit: { requests: 10, windowMs: 60_000 } })
  await gql('{ viewer { scopes } }', { auth: k.key })
  const VERIFY = 'mutation($key: String!) { verifyApiKey(key: $key) { valid reason keyId scopes expiresAt remaining } }'
  const good = await gql(VERIFY, { auth: adminKey, variables: { key: k.key } })
  t.match(good.body.data?.verifyApiKey, { valid: true, reason: null, keyId: k.id, scopes: ['keys:read'] })
  t.equal(good.body.data?.verifyApiKey.remaining, 9, 'one request of ten used')
  const mistyped = k.key.slice(0, -1) + (k.key.endsWith('a') ? 'b' : 'a')
  t.match((await gql(VERIFY, { auth: adminKey, variables: { key: mistyped } })).body.data?.verifyApiKey, { valid: false, reason: 'MALFORMED' })
  const other = await seedTeam('verify-other')
  t.match((await gql(VERIFY, { auth: adminKey, variables: { key: other.adminKey } })).body.data?.verifyApiKey, { valid: false, reason: 'NOT_FOUND', keyId: null }, "another team's key is not found")
  await gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { auth: adminKey, variables: { id: k.id } })
  t.match((await gql(VERIFY, { auth: adminKey, variables: { key: k.key } })).body.data?.verifyApiKey, { valid: false, reason: 'REVOKED' })
})

t.test('usageCount and lastUsedAt are batched, not written per request', async (t) => {
  const { teamId } = await seedTeam('usage')
  const k = await keyWith(teamId, ['keys:read'])
  for (let i = 0; i < 5; i++) await gql('{ viewer { scopes } }', { auth: k.key })
  const before = await app.database.rows<{ usage_count: number }>(sql`select usage_count::int from api_keys where id = ${k.id}`)
  t.equal(before[0]!.usage_count, 0, 'nothing written on the request path')
  await app.app.services.usage.flush()
  const after = await app.database.rows<{ usage_count: number, last_used_at: unknown }>(sql`select usage_count::int, last_used_at from api_keys where id = ${k.id}`)
  t.equal(after[0]!.usage_count, 5, 'one flush writes all five uses')
  t.ok(after[0]!.last_used_at, 'lastUsedAt set')
})

await runSecurityCases(t, app, [
  { name: 'apiKeys', scope: 'keys:read', query: '{ apiKeys { totalCount } }' },
  {
    name: 'apiKey',
    scope: 'keys:read',
    query: 'query($id: ID!) { apiKey(id: $id) { id } }',
    variables: (own) => ({ id: own.keyId }),
    crossTeam: { foreign: (other) => ({ id: other.keyId }), missing: () => ({ id: randomId() }) }
  },
  { name: 'createApiKey', scope: 'keys:write', query: 'mutation { createApiKey(input: { name: "x", scopes: ["sync:read"] }) { secret } }' },
  {
    name: 'updateApiKey',
    scope: 'keys:write',
    query: 'mutation($id: ID!) { updateApiKey(id: $id, input: { name: "changed" }) { id } }',
    variables: (own) => ({ id: own.keyId }),
    crossTeam: { foreign: (other) => ({ id: other.keyId }), missing: () => ({ id: randomId() }) }
  },
  {
    name: 'rotateApiKey',
    scope: 'keys:write',
    query: 'mutation($id: ID!) { rotateApiKey(id: $id) { secret } }',
    variables: (own) => ({ id: own.keyId }),
    crossTeam: { foreign: (other) => ({ id: other.keyId }), missing: () => ({ id: randomId() }) }
  },
  {
    name: 'revokeApiKey',
    scope: 'keys:write',
    query: 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }',
    variables: (own) => ({ id: own.keyId }),
    crossTeam: { foreign: (other) => ({ id: other.keyId }), missing: () => ({ id: randomId() }) }
  },
  { name: 'verifyApiKey', scope: 'keys:read', query: 'mutation { verifyApiKey(key: "sb_live_x") { valid } }' }
])
