/**
 * Our security checklist, §1.1 (API keys), the cases the API-key and authentication tests do not
 * already pin down:
 * - test 3: an unknown, expired, disabled or revoked key costs the same work as any other: one
 *   indexed lookup by hash on its first use (and the same 401 body, checked in
 *   test/auth/authentication.test.ts);
 * - test 7: with the default AUTH_FAILURES_PER_MINUTE (100), the 101st bad key from one IP in a
 *   minute is 429 before any lookup, while another IP is unaffected.
 * Each case uses an IP of its own (inject's remoteAddress), so their failure counts stay apart.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { generateApiKey } from '../../src/domain/api-keys/api-key-format.ts'
import { build } from '../helper.ts'

const VIEWER = '{ viewer { scopes } }'
const app = await build(t)
const verifier = app.app.services.keyVerifier

const call = (key: string, ip: string) => app.app.inject({
  method: 'POST', url: '/graphql', remoteAddress: ip,
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  payload: { query: VIEWER }
})

t.test('unknown, expired, disabled and revoked keys: one lookup each on first use, the same 401', async (t) => {
  const { teamId, adminKey } = await app.seedTeam('same-work')
  const expired = await app.keyWith(teamId, ['keys:read'])
  await app.database.rows(sql`update api_keys set expires_at = now() - interval '1 second' where id = ${expired.id}`)
  const disabled = await app.keyWith(teamId, ['keys:read'])
  const revoked = await app.keyWith(teamId, ['keys:read'])
  const admin = (query: string, id: string) => app.gql(query, { auth: adminKey, variables: { id } })
  t.equal((await admin('mutation($id: ID!) { updateApiKey(id: $id, input: { enabled: false }) { id } }', disabled.id)).status, 200)
  t.equal((await admin('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', revoked.id)).status, 200)

  const work: Record<string, number> = {}
  const bodies = new Set<string>()
  for (const [label, key] of Object.entries({ unknown: generateApiKey(), expired: expired.key, disabled: disabled.key, revoked: revoked.key })) {
    const before = verifier.lookups
    const res = await call(key, '192.0.2.3')
    work[label] = verifier.lookups - before
    t.equal(res.statusCode, 401, label)
    const { requestId: _, ...ext } = res.json().errors[0].extensions
    bodies.add(JSON.stringify({ ...res.json(), errors: [{ ...res.json().errors[0], extensions: ext }] }))
  }
  t.same(work, { unknown: 1, expired: 1, disabled: 1, revoked: 1 }, 'each costs exactly one indexed lookup, no more, no less')
  t.equal(bodies.size, 1, 'one 401 body for all four')
})

t.test('the default limit: 100 bad keys per minute from one IP, then 429 before any lookup', async (t) => {
  t.equal(app.config.rateLimit.authFailuresPerMinute, 100, 'the default AUTH_FAILURES_PER_MINUTE')
  const { adminKey } = await app.seedTeam('brute-default')
  const ip = '198.51.100.7'
  const statuses = new Map<number, number>()
  for (let i = 0; i < 100; i++) {
    const res = await call(generateApiKey(), ip)
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
  }
  t.same([...statuses], [[401, 100]], 'the first 100 bad keys are each a 401')
  const lookups = verifier.lookups
  const blocked = await call(generateApiKey(), ip)
  t.equal(blocked.statusCode, 429, 'the 101st in the minute is 429')
  t.equal(blocked.json().errors[0].extensions.code, 'RATE_LIMITED')
  t.ok(Number(blocked.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(verifier.lookups, lookups, 'no database lookup for the blocked IP')
  t.equal((await call(adminKey, '198.51.100.8')).statusCode, 200, 'another IP is unaffected')
})
