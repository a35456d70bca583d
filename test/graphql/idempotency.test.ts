/**
 * Idempotency-Key on /graphql mutations: one execution per key and credential within the TTL, the
 * stored answer replayed to a retry, 409 IDEMPOTENCY_KEY_REUSED for the same key with another body, 409 while the first
 * request is still running. Real database, real app; the clock is the test clock.
 */
import { connect } from 'node:net'
import t from 'tap'
import { sql } from 'drizzle-orm'
import { requestHash } from '../../src/domain/idempotency/idempotency-request.ts'
import { build, signToken, testClock } from '../helper.ts'
import { tableRows } from '../security-cases.ts'

const clock = testClock()
const app = await build(t, { clock })
const { seedTeam, keyWith } = app
const TTL_MS = app.config.idempotency.ttlSeconds * 1000

const CREATE = 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id name } } }'
const VIEWER = '{ viewer { scopes } }'

interface Sent { status: number, headers: Record<string, unknown>, payload: string, body: any }

/** POST /graphql with a credential and an Idempotency-Key; the raw payload is kept to compare answers byte for byte. */
async function send (auth: string, key: string | undefined, query: string, variables?: Record<string, unknown>): Promise<Sent> {
  const res = await app.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}`, ...(key !== undefined && { 'idempotency-key': key }) },
    payload: JSON.stringify({ query, variables })
  })
  return { status: res.statusCode, headers: res.headers, payload: res.payload, body: res.json() }
}

const create = (auth: string, key: string | undefined, name: string): Promise<Sent> =>
  send(auth, key, CREATE, { input: { name, scopes: ['keys:read'] } })

/** How many API keys of this name the team has: how many times the mutation really ran. */
async function keysNamed (teamId: string, name: string): Promise<number> {
  const [row] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from api_keys where team_id = ${teamId} and name = ${name}`)
  return row!.n
}

const storedKeys = async (teamId: string): Promise<number> => {
  const [row] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from idempotency_keys where team_id = ${teamId}`)
  return row!.n
}

/** A claim of an API key's key for a createApiKey request that has not answered (as if its process had died). */
const inFlight = (teamId: string, apiKeyId: string, key: string, variables: Record<string, unknown>) =>
  app.app.idempotency.claim({ teamId, principal: `key:${apiKeyId}`, key, requestHash: requestHash({ query: CREATE, variables }), requestId: `test-${key}` })

const replayed = (r: Sent): boolean => r.headers['idempotency-replayed'] === 'true'

t.test('the same key and body twice: executed once, the stored answer replayed', async (t) => {
  const { teamId, adminKey } = await seedTeam('replay')
  const first = await create(adminKey, 'replay-1', 'replay bot')
  t.equal(first.status, 200)
  t.notOk(replayed(first), 'the first answer is not a replay')
  const second = await create(adminKey, 'replay-1', 'replay bot')
  t.equal(second.status, 200)
  t.ok(replayed(second), 'the retry carries Idempotency-Replayed: true')
  t.equal(second.payload, first.payload, 'the retry gets the first answer byte for byte (the same key id and secret)')
  t.equal(await keysNamed(teamId, 'replay bot'), 1, 'one key was created')

  // The variables in another key order are the same request.
  const reordered = await send(adminKey, 'replay-1', CREATE, { input: { scopes: ['keys:read'], name: 'replay bot' } })
  t.ok(replayed(reordered), 'JSON key order does not make another request')
  t.equal(await keysNamed(teamId, 'replay bot'), 1)
})

t.test('the stored answer is encrypted: the secret it carries is in no table', async (t) => {
  const { teamId, adminKey } = await seedTeam('sealed')
  const first = await create(adminKey, 'sealed-1', 'sealed bot')
  const secret: string = first.body.data.createApiKey.secret
  const rows = (await tableRows(app, ['idempotency_keys'])).filter((r) => r.includes(teamId))
  t.equal(rows.length, 1, 'one stored key')
  t.notOk(rows.join('\n').includes(secret.slice(12)), 'the secret is not stored in plaintext')
  t.notOk(rows.join('\n').includes('keys:read'), 'neither the request nor the answer is readable')
  const again = await create(adminKey, 'sealed-1', 'sealed bot')
  t.equal(again.body.data.createApiKey.secret, secret, 'and the replay still returns it')
})

t.test('the same key with another body: 409 IDEMPOTENCY_KEY_REUSED and nothing runs', async (t) => {
  const { teamId, adminKey } = await seedTeam('reuse')
  t.equal((await create(adminKey, 'reuse-1', 'first body')).status, 200)
  const before = await tableRows(app, ['api_keys'])
  const other = await create(adminKey, 'reuse-1', 'second body')
  t.equal(other.status, 409)
  t.equal(other.body.errors[0].extensions.code, 'IDEMPOTENCY_KEY_REUSED')
  t.ok(other.body.errors[0].extensions.requestId, 'the error carries the request id')
  t.notOk(replayed(other))
  t.same(await tableRows(app, ['api_keys']), before, 'nothing written')
  t.equal(await keysNamed(teamId, 'second body'), 0)
  // Another operation name on the same text is another request too.
  const named = await send(adminKey, 'reuse-1', 'mutation A { revokeApiKey(id: "00000000-0000-0000-0000-000000000000") { id } }')
  t.equal(named.status, 409)
})

t.test('a key whose first request is still running: 409 IDEMPOTENCY_KEY_IN_USE, Retry-After: 1', async (t) => {
  const { teamId, adminKey, adminKeyId } = await seedTeam('in-flight')
  const first = await create(adminKey, 'flight-1', 'flight bot')
  t.equal(first.status, 200)
  // A request in flight is a claim without an answer: make one for a new key directly.
  const variables = { input: { name: 'never', scopes: ['keys:read'] } }
  const claim = await inFlight(teamId, adminKeyId, 'flight-2', variables)
  t.equal(claim.kind, 'claimed')
  const res = await send(adminKey, 'flight-2', CREATE, variables)
  t.equal(res.status, 409)
  t.equal(res.body.errors[0].extensions.code, 'IDEMPOTENCY_KEY_IN_USE')
  t.equal(res.headers['retry-after'], '1')
  t.equal(await keysNamed(teamId, 'never'), 0, 'nothing ran')
  const other = await send(adminKey, 'flight-2', CREATE, { input: { name: 'other', scopes: ['keys:read'] } })
  t.equal(other.status, 409, 'another body is refused as reuse even while the first runs')
})

t.test('both at once: exactly one executes, the other gets 409 or the replay', async (t) => {
  const { teamId, adminKey } = await seedTeam('race')
  const answers = await Promise.all([1, 2, 3].map(() => create(adminKey, 'race-1', 'race bot')))
  t.equal(await keysNamed(teamId, 'race bot'), 1, 'one key was created')
  const executed = answers.filter((a) => a.status === 200 && !replayed(a))
  t.equal(executed.length, 1, 'one request executed')
  for (const a of answers) {
    if (a === executed[0]) continue
    if (a.status === 409) t.equal(a.body.errors[0].extensions.code, 'IDEMPOTENCY_KEY_IN_USE')
    else t.ok(replayed(a) && a.payload === executed[0]!.payload, 'or the stored answer')
  }
})

t.test('keys belong to a team and a credential: the same key elsewhere is another operation', async (t) => {
  const a = await seedTeam('scope-a')
  const b = await seedTeam('scope-b')
  const ra = await create(a.adminKey, 'shared-key', 'shared bot')
  const rb = await create(b.adminKey, 'shared-key', 'shared bot')
  t.equal(rb.status, 200)
  t.notOk(replayed(rb), 'team B is not given team A\'s answer')
  t.not(rb.body.data.createApiKey.apiKey.id, ra.body.data.createApiKey.apiKey.id)
  t.equal(await keysNamed(a.teamId, 'shared bot'), 1)
  t.equal(await keysNamed(b.teamId, 'shared bot'), 1)

  // Another credential of team A: its own operation, never the first one's answer (with its secret).
  const second = await keyWith(a.teamId, ['keys:write', 'keys:read'])
  const rs = await create(second.key, 'shared-key', 'shared bot')
  t.equal(rs.status, 200)
  t.notOk(replayed(rs))
  t.equal(await keysNamed(a.teamId, 'shared bot'), 2)
  const reader = await keyWith(a.teamId, ['keys:read'])
  const rr = await create(reader.key, 'shared-key', 'shared bot')
  t.equal(rr.status, 403, 'a credential without the scope is refused, not served a stored answer')
  t.equal(rr.body.errors[0].extensions.code, 'FORBIDDEN')

  // A user (JWT) of team A is a credential of its own too, and is replayed to itself.
  const token = await signToken({ sub: 'user-1', team: a.teamId, role: 'admin' })
  const u1 = await create(token, 'shared-key', 'shared bot')
  const u2 = await create(token, 'shared-key', 'shared bot')
  t.equal(u1.status, 200)
  t.notOk(replayed(u1))
  t.ok(replayed(u2))
  t.equal(await keysNamed(a.teamId, 'shared bot'), 3)
})

t.test('a client error is stored and replayed; a retryable failure is released', async (t) => {
  const { teamId, adminKey } = await seedTeam('failures')
  const bad = await create(adminKey, 'bad-1', '  ')
  t.equal(bad.status, 400)
  t.equal(bad.body.errors[0].extensions.code, 'BAD_USER_INPUT')
  const badAgain = await create(adminKey, 'bad-1', '  ')
  t.ok(replayed(badAgain), 'the same invalid request gets the stored 400')
  t.equal(badAgain.payload, bad.payload)

  // Three aliased mutations on a budget of two: 429 RATE_LIMITED, which tells the client to retry.
  const small = await keyWith(teamId, ['keys:write', 'keys:read'], { rateLimit: { requests: 2, windowMs: 60_000 } })
  const three = `mutation { ${[1, 2, 3].map((i) => `k${i}: createApiKey(input: { name: "burst", scopes: ["keys:read"] }) { apiKey { id } }`).join(' ')} }`
  const limited = await send(small.key, 'burst-1', three)
  t.equal(limited.status, 429)
  const [row] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from idempotency_keys where key = 'burst-1'`)
  t.equal(row!.n, 0, 'the claim was released')
  const retry = await send(small.key, 'burst-1', three)
  t.equal(retry.status, 429)
  t.notOk(replayed(retry), 'the retry ran again instead of replaying the failure')
  t.equal(await keysNamed(teamId, 'burst'), 0)
})

t.test('the key must be 1 to 255 characters: otherwise 400 BAD_USER_INPUT and nothing runs', async (t) => {
  const { teamId, adminKey } = await seedTeam('key-length')
  for (const [label, key] of [['256 characters', 'k'.repeat(256)], ['empty', '']] as const) {
    const res = await create(adminKey, key, 'length bot')
    t.equal(res.status, 400, label)
    t.equal(res.body.errors[0].extensions.code, 'BAD_USER_INPUT', label)
  }
  t.equal(await keysNamed(teamId, 'length bot'), 0)
  t.equal(await storedKeys(teamId), 0)
  const longest = await create(adminKey, 'k'.repeat(255), 'length bot')
  t.equal(longest.status, 200, '255 characters is allowed')
  t.ok(replayed(await create(adminKey, 'k'.repeat(255), 'length bot')))
})

t.test('a query with the header runs normally each time', async (t) => {
  const { teamId, adminKey } = await seedTeam('queries')
  for (const key of ['query-1', 'query-1', 'x'.repeat(300)]) {
    const res = await send(adminKey, key, VIEWER)
    t.equal(res.status, 200)
    t.notOk(replayed(res))
  }
  t.equal(await storedKeys(teamId), 0, 'nothing stored for queries')
  const plain = await create(adminKey, undefined, 'no key')
  const plain2 = await create(adminKey, undefined, 'no key')
  t.not(plain.body.data.createApiKey.apiKey.id, plain2.body.data.createApiKey.apiKey.id, 'without the header a mutation runs each time')
})

t.test('a client that loses the answer gets it on retry: it is stored before it is sent', async (t) => {
  const { teamId, adminKey } = await seedTeam('lost')
  await app.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.app.server.address() as { port: number }
  const body = JSON.stringify({ query: CREATE, variables: { input: { name: 'lost bot', scopes: ['keys:read'] } } })
  // A real connection that drops as the answer starts to arrive: the client sees a failure.
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${adminKey}\r\n` +
        `Idempotency-Key: lost-1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    })
    socket.once('data', () => { socket.destroy(); resolve() })
    socket.on('error', reject)
  })
  const retry = await create(adminKey, 'lost-1', 'lost bot')
  t.equal(retry.status, 200)
  t.ok(replayed(retry), 'the retry is answered from the stored answer')
  t.equal(await keysNamed(teamId, 'lost bot'), 1, 'the key was created once')
})

// These move the shared clock forward: they run last.
t.test('an abandoned claim is taken over once its lease has passed', async (t) => {
  const { teamId, adminKey, adminKeyId } = await seedTeam('abandoned')
  await inFlight(teamId, adminKeyId, 'crashed-1', { input: { name: 'lease bot', scopes: ['keys:read'] } })
  t.equal((await create(adminKey, 'crashed-1', 'lease bot')).status, 409, 'in flight at first')
  clock.advance(app.app.idempotency.leaseMs + 1000)
  const res = await create(adminKey, 'crashed-1', 'lease bot')
  t.equal(res.status, 200, 'the process that claimed it is presumed dead')
  t.notOk(replayed(res))
  t.equal(await keysNamed(teamId, 'lease bot'), 1)
})

t.test('after the TTL the key executes again, and the expired rows are purged', async (t) => {
  const { teamId, adminKey } = await seedTeam('ttl')
  await create(adminKey, 'ttl-1', 'ttl bot')
  clock.advance(TTL_MS - 1000)
  t.ok(replayed(await create(adminKey, 'ttl-1', 'ttl bot')), 'still replayed just before the TTL')
  clock.advance(2000)
  const res = await create(adminKey, 'ttl-1', 'ttl bot')
  t.equal(res.status, 200)
  t.notOk(replayed(res), 'executed again after the TTL')
  t.equal(await keysNamed(teamId, 'ttl bot'), 2)

  t.ok(await storedKeys(teamId) > 0)
  clock.advance(TTL_MS + 1000)
  const purged = await app.app.idempotency.purgeExpired()
  t.ok(purged >= 1, `${purged} expired rows purged`)
  t.equal(await storedKeys(teamId), 0, 'nothing of this team is left')
})
