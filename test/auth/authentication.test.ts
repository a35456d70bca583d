import t from 'tap'
import { SignJWT } from 'jose'
import { sql } from 'drizzle-orm'
import { buildApp } from '../../src/app.ts'
import { generateApiKey, hashApiKey } from '../../src/domain/api-keys/api-key-format.ts'
import { build, JWT_SECRET, signToken, testConfig } from '../helper.ts'

const app = await build(t, { env: { AUTH_FAILURES_PER_MINUTE: '1000' } })
const { gql, seedTeam, keyWith } = app
const VIEWER = '{ viewer { scopes } }'
const NOW = (): number => Math.floor(Date.now() / 1000)

/** An HS256 owner token with exactly the time claims given (seconds since the epoch; absent when undefined). */
function tokenWith (teamId: string, times: { iat?: number, exp?: number, nbf?: number }): Promise<string> {
  const jwt = new SignJWT({ team_id: teamId, role: 'owner' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1')
  if (times.iat !== undefined) jwt.setIssuedAt(times.iat)
  if (times.exp !== undefined) jwt.setExpirationTime(times.exp)
  if (times.nbf !== undefined) jwt.setNotBefore(times.nbf)
  return jwt.sign(new TextEncoder().encode(JWT_SECRET))
}

t.test('unknown, malformed, expired, disabled and revoked keys get the same 401 body', async (t) => {
  const { teamId, adminKey } = await seedTeam('same-401')
  const expired = await keyWith(teamId, ['keys:read'])
  await app.database.rows(sql`update api_keys set expires_at = now() - interval '1 second' where id = ${expired.id}`)
  const disabled = await keyWith(teamId, ['keys:read'])
  await gql('mutation($id: ID!) { updateApiKey(id: $id, input: { enabled: false }) { id } }', { auth: adminKey, variables: { id: disabled.id } })
  const revoked = await keyWith(teamId, ['keys:read'])
  await gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { auth: adminKey, variables: { id: revoked.id } })

  const candidates = {
    unknown: generateApiKey(),
    malformed: 'sb_live_tooshort',
    badChecksum: adminKey.slice(0, -1) + (adminKey.endsWith('0') ? '1' : '0'),
    expired: expired.key,
    disabled: disabled.key,
    revoked: revoked.key,
    garbageJwt: 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA',
    jwtWithoutExp: await tokenWith(teamId, { iat: NOW() }),
    jwtNotYetValid: await tokenWith(teamId, { iat: NOW(), nbf: NOW() + 3600, exp: NOW() + 7200 }),
    jwtFor30Days: await tokenWith(teamId, { iat: NOW(), exp: NOW() + 30 * 86_400 }),
    none: undefined
  }
  const bodies = new Set<string>()
  for (const [label, key] of Object.entries(candidates)) {
    const res = await gql(VIEWER, { ...(key !== undefined && { auth: key }) })
    t.equal(res.status, 401, `${label} → 401`)
    t.equal(res.body.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', label)
    const { requestId: _, ...ext } = res.body.errors![0]!.extensions
    bodies.add(JSON.stringify({ ...res.body, errors: [{ ...res.body.errors![0], extensions: ext }] }))
  }
  t.equal(bodies.size, 1, 'one body for every failure')
})

t.test('a bad checksum is refused with zero database lookups', async (t) => {
  const { adminKey } = await seedTeam('checksum')
  const verifier = app.app.services.keyVerifier
  const before = verifier.lookups
  const mistyped = adminKey.slice(0, 20) + (adminKey[20] === 'a' ? 'b' : 'a') + adminKey.slice(21)
  const res = await gql(VIEWER, { auth: mistyped })
  t.equal(res.status, 401)
  t.equal(verifier.lookups, before, 'no lookup for a key whose checksum fails')
  const unknown = await gql(VIEWER, { auth: generateApiKey() })
  t.equal(unknown.status, 401)
  t.equal(verifier.lookups, before + 1, 'a well-formed unknown key costs one lookup')
})

t.test('concurrent requests that miss the key cache share one database lookup', async (t) => {
  const { adminKey } = await seedTeam('stampede')
  const verifier = app.app.services.keyVerifier
  verifier.invalidate(hashApiKey(adminKey))
  const before = verifier.lookups
  const answers = await Promise.all(Array.from({ length: 20 }, () => gql(VIEWER, { auth: adminKey })))
  t.same(answers.map((r) => r.status), Array(20).fill(200), 'every request is served')
  t.equal(verifier.lookups, before + 1, 'one lookup for twenty requests that missed together')

  const unknown = generateApiKey()
  const verdicts = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(unknown)))
  t.same(verdicts.map((v) => v.ok ? 'ok' : v.reason), Array(20).fill('NOT_FOUND'))
  t.equal(verifier.lookups, before + 2, 'an unknown key looked up twenty times at once costs one lookup')
  await verifier.verify(unknown)
  t.equal(verifier.lookups, before + 3, 'once settled, the next miss looks up again (unknown keys are never cached)')

  // A miss whose guard is still running when another request's lookup finishes uses what it cached.
  verifier.invalidate(hashApiKey(adminKey))
  const lookedUp = verifier.verify(adminKey)
  const guarded = verifier.verify(adminKey, async () => { await lookedUp })
  t.equal((await guarded).ok, true)
  t.equal(verifier.lookups, before + 4, 'the slow guard found the key cached: no second query')
})

t.test('a key changed while its lookup is in flight: the lookup caches nothing and is not joined', async (t) => {
  const { adminKey } = await seedTeam('inflight')
  const verifier = app.app.services.keyVerifier
  const hash = hashApiKey(adminKey)
  verifier.invalidate(hash)
  const before = verifier.lookups
  const first = verifier.verify(adminKey)
  while (verifier.lookups === before) await Promise.resolve() // the lookup has started, not finished
  verifier.invalidate(hash) // as revoke, rotate or update on this instance do
  const second = verifier.verify(adminKey)
  t.equal((await first).ok, true, 'a lookup begun before the change answers what it read')
  t.equal((await second).ok, true)
  t.equal(verifier.lookups, before + 2, 'the miss after the change started a lookup of its own')
  t.ok(verifier.cached(adminKey) !== undefined, 'the lookup begun after the change is cached')
  verifier.invalidate(hash)
  const third = verifier.verify(adminKey)
  while (verifier.lookups === before + 2) await Promise.resolve()
  verifier.invalidate(hash)
  await third
  t.equal(verifier.cached(adminKey), undefined, 'what a lookup read before a change is not cached')
})

t.test('credentials: Bearer header or x-api-key, never the query string', async (t) => {
  const { adminKey } = await seedTeam('headers')
  const viaHeader = await app.app.inject({ method: 'POST', url: '/graphql', headers: { 'x-api-key': adminKey, 'content-type': 'application/json' }, payload: { query: VIEWER } })
  t.equal(viaHeader.statusCode, 200, 'x-api-key works')
  const viaQuery = await app.app.inject({ method: 'POST', url: `/graphql?api_key=${adminKey}`, headers: { 'content-type': 'application/json' }, payload: { query: VIEWER } })
  t.equal(viaQuery.statusCode, 401, '?api_key= is refused')
  const both = await app.app.inject({ method: 'POST', url: `/graphql?api_key=${adminKey}`, headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, payload: { query: VIEWER } })
  t.equal(both.statusCode, 401, 'a key in the URL is refused even alongside a header (it has leaked)')
  const basic = await app.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, 'content-type': 'application/json' }, payload: { query: VIEWER } })
  t.equal(basic.statusCode, 401)
  const withAuthorization = (value: string) => app.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: value, 'content-type': 'application/json' }, payload: { query: VIEWER } })
  for (const form of [`bearer ${adminKey}`, `BEARER ${adminKey}`, `Bearer  ${adminKey}`, `Bearer\t${adminKey}`, `Bearer ${adminKey}  `]) {
    t.equal((await withAuthorization(form)).statusCode, 200, `accepted: ${JSON.stringify(form.replace(adminKey, '<key>'))}`)
  }
  for (const form of ['Bearer ', 'Bearer', `Bearer ${adminKey} extra`, `Bearer ${adminKey}\u0000`, `Bearer${adminKey}`, `Token ${adminKey}`]) {
    t.equal((await withAuthorization(form)).statusCode, 401, `refused: ${JSON.stringify(form.replace(adminKey, '<key>'))}`)
  }
})

t.test('JWT users: roles, explicit scopes, and every way a token can be wrong', async (t) => {
  const { teamId } = await seedTeam('jwt')
  const scopesOf = async (token: string) => (await gql(VIEWER, { auth: token })).body.data?.viewer.scopes as string[] | undefined
  t.same(await scopesOf(await signToken({ sub: 'u1', team: teamId, role: 'owner' })), ['admin:full'])
  const member = await scopesOf(await signToken({ sub: 'u1', team: teamId, role: 'member' }))
  t.ok(member?.includes('integrations:write') && member.includes('sync:execute'), 'member can read, write, execute')
  t.notOk(member?.some((s) => s.startsWith('keys:')), 'member cannot manage keys')
  t.same(await scopesOf(await signToken({ sub: 'u1', team: teamId, role: 'member', scopes: ['sync:read', 'bogus'] })), ['sync:read'], 'explicit scopes win; unknown dropped')
  t.same(await scopesOf(await signToken({ sub: 'u1', team: teamId, scopes: 'logs:read keys:read' })), ['logs:read', 'keys:read'], 'space-separated scope claim')

  const bad: Record<string, string> = {
    wrongSecret: await signToken({ sub: 'u1', team: teamId, role: 'owner' }, 'another-secret-of-at-least-thirty-two-chars'),
    expired: await signToken({ sub: 'u1', team: teamId, role: 'owner' }, JWT_SECRET, '-1m'),
    unknownTeam: await signToken({ sub: 'u1', team: '01900000-0000-7000-8000-000000000000', role: 'owner' }),
    teamNotUuid: await signToken({ sub: 'u1', team: 'acme', role: 'owner' }),
    noneAlg: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'u1', team_id: teamId, role: 'owner' })).toString('base64url')}.`,
    noSub: await new SignJWT({ team_id: teamId, role: 'owner' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET))
  }
  for (const [label, token] of Object.entries(bad)) {
    const res = await gql(VIEWER, { auth: token })
    t.equal(res.status, 401, `${label} → 401`)
  }
})

t.test('JWT lifetime: exp is required, nbf is honoured, and a token lives at most JWT_MAX_AGE', async (t) => {
  const { teamId } = await seedTeam('jwt-lifetime')
  const day = app.config.jwt.maxAgeSeconds
  t.equal(day, 86_400, 'the default ceiling is 24 hours')
  const now = NOW()
  const cases: Array<[string, { iat?: number, exp?: number, nbf?: number }, number]> = [
    ['no exp', { iat: now }, 401],
    ['no exp and no iat', {}, 401],
    ['nbf an hour ahead', { iat: now, nbf: now + 3600, exp: now + 7200 }, 401],
    ['nbf a minute ago', { iat: now - 60, nbf: now - 60, exp: now + 3600 }, 200],
    ['valid for 30 days', { iat: now, exp: now + 30 * 86_400 }, 401],
    ['valid for exactly JWT_MAX_AGE', { iat: now, exp: now + day }, 200],
    ['valid one second longer', { iat: now, exp: now + day + 1 }, 401],
    ['issued 25 h ago, 1 h left (26 h in all)', { iat: now - 25 * 3600, exp: now + 3600 }, 401],
    ['issued an hour in the future', { iat: now + 3600, exp: now + 7200 }, 401],
    ['issued 10 s ahead (issuer clock skew)', { iat: now + 10, exp: now + 3600 }, 200],
    ['no iat, exp within JWT_MAX_AGE of now', { exp: now + 3600 }, 200],
    ['no iat, exp two days ahead', { exp: now + 2 * 86_400 }, 401]
  ]
  for (const [label, times, status] of cases) {
    const res = await gql(VIEWER, { auth: await tokenWith(teamId, times) })
    t.equal(res.status, status, `${label} → ${status}`)
    if (status === 401) t.equal(res.body.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', label)
  }

  const short = await build(t, { env: { JWT_MAX_AGE: '3600' } })
  const other = await short.seedTeam('jwt-max-age')
  const twoHours = { iat: NOW(), exp: NOW() + 7200 }
  t.equal((await short.gql(VIEWER, { auth: await tokenWith(other.teamId, twoHours) })).status, 401, 'JWT_MAX_AGE=3600 refuses a two-hour token')
  t.equal((await short.gql(VIEWER, { auth: await tokenWith(other.teamId, { iat: NOW(), exp: NOW() + 3600 }) })).status, 200, 'and accepts a one-hour token')
})

t.test('a JWT issuer/audience are checked when configured', async (t) => {
  const strict = await build(t, { env: { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'switchboard' } })
  const { teamId } = await strict.seedTeam('iss')
  const sign = (iss: string, aud: string) => new SignJWT({ team_id: teamId, role: 'owner' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setIssuer(iss).setAudience(aud).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET))
  t.equal((await strict.gql(VIEWER, { auth: await sign('https://idp.example', 'switchboard') })).status, 200)
  t.equal((await strict.gql(VIEWER, { auth: await sign('https://evil.example', 'switchboard') })).status, 401, 'wrong issuer')
  t.equal((await strict.gql(VIEWER, { auth: await sign('https://idp.example', 'other') })).status, 401, 'wrong audience')
})

t.test('repeated failures from one IP are limited before any database lookup', async (t) => {
  const limited = await build(t, { env: { AUTH_FAILURES_PER_MINUTE: '5' } })
  const { adminKey } = await limited.seedTeam('brute')
  for (let i = 0; i < 5; i++) t.equal((await limited.gql(VIEWER, { auth: generateApiKey() })).status, 401)
  const lookups = limited.app.services.keyVerifier.lookups
  const blocked = await limited.gql(VIEWER, { auth: generateApiKey() })
  t.equal(blocked.status, 429, 'the sixth failure in a minute is 429')
  t.equal(blocked.body.errors?.[0]?.extensions.code, 'RATE_LIMITED')
  t.ok(Number(blocked.headers['retry-after']) > 0, 'Retry-After is set')
  t.equal(limited.app.services.keyVerifier.lookups, lookups, 'no database lookup once blocked')
  t.equal((await limited.gql(VIEWER, { auth: adminKey })).status, 429, 'the IP stays blocked for the window, even with a valid key')
})

t.test('a key revoked on one instance stops on another within the cache TTL', async (t) => {
  // Two apps on the same database stand for two instances.
  const config = testConfig({ API_KEY_CACHE_TTL_MS: '300' })
  const a = await buildApp(config, { database: app.database })
  const b = await buildApp(config, { database: app.database })
  t.teardown(async () => { await a.close(); await b.close() })
  const { teamId, adminKey } = await seedTeam('instances')
  const k = await keyWith(teamId, ['keys:read'])
  const call = (inst: typeof a, key: string) => inst.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: { query: VIEWER } })
  t.equal((await call(b, k.key)).statusCode, 200, 'instance B has the key cached')
  t.equal((await call(a, adminKey)).statusCode, 200)
  const revoke = await a.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, payload: { query: 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }', variables: { id: k.id } } })
  t.equal(revoke.statusCode, 200)
  t.equal((await call(a, k.key)).statusCode, 401, 'instance A refuses at once')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal((await call(b, k.key)).statusCode, 401, 'instance B refuses after its cache TTL')
})

t.test('the stored hash is SHA-256 of the whole key', async (t) => {
  const { teamId } = await seedTeam('hash')
  const k = await keyWith(teamId, ['keys:read'])
  const rows = await app.database.rows<{ key_hash: string, prefix: string }>(sql`select key_hash, prefix from api_keys where id = ${k.id}`)
  t.equal(rows[0]!.key_hash, hashApiKey(k.key))
  t.equal(rows[0]!.prefix, k.key.slice(0, 12))
})

t.test('JWKS: tokens from an identity provider signed with RS256, issuer and audience checked', async (t) => {
  const { generateKeyPair, exportJWK } = await import('jose')
  const { createServer } = await import('node:http')
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const other = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  let fetches = 0
  const idp = createServer((req, res) => {
    fetches++
    if (req.url !== '/.well-known/jwks.json') { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve))
  t.teardown(() => idp.close())
  const { port } = idp.address() as { port: number }
  const jwks = await build(t, { env: { JWT_SECRET: '', JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`, JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'switchboard' } })
  const { teamId } = await jwks.seedTeam('jwks')
  const sign = (key: CryptoKey, claims: { iss?: string, aud?: string, kid?: string } = {}) => new SignJWT({ team_id: teamId, role: 'operator' })
    .setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? 'k1' }).setSubject('idp-user')
    .setIssuer(claims.iss ?? 'https://idp.example').setAudience(claims.aud ?? 'switchboard').setExpirationTime('5m').sign(key)
  const ok = await jwks.gql(VIEWER, { auth: await sign(privateKey) })
  t.equal(ok.status, 200)
  t.ok(ok.body.data?.viewer.scopes.includes('logs:read'))
  t.ok(fetches >= 1, 'the JWKS was fetched from the identity provider')
  t.equal((await jwks.gql(VIEWER, { auth: await sign(other.privateKey) })).status, 401, 'a key the IdP does not publish')
  t.equal((await jwks.gql(VIEWER, { auth: await sign(privateKey, { iss: 'https://evil.example' }) })).status, 401, 'wrong issuer')
  t.equal((await jwks.gql(VIEWER, { auth: await sign(privateKey, { aud: 'someone-else' }) })).status, 401, 'wrong audience')
  t.equal((await jwks.gql(VIEWER, { auth: await signToken({ sub: 'u', team: teamId, role: 'owner' }) })).status, 401, 'an HS256 token is not accepted in JWKS mode')
})
