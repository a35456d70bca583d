import t from 'tap'
import { Redis } from 'ioredis'
import { buildApp } from '../../src/app.ts'
import { build, testConfig } from '../helper.ts'

const VIEWER = '{ viewer { scopes } }'

t.test('per-key limit: 429 with Retry-After and RATE_LIMITED; other keys unaffected', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_REQUESTS: '1000' } })
  const { teamId } = await app.seedTeam('limited')
  const small = await app.keyWith(teamId, ['keys:read'], { rateLimit: { requests: 3, windowMs: 60_000 } })
  const other = await app.keyWith(teamId, ['keys:read'])
  for (let i = 0; i < 3; i++) t.equal((await app.gql(VIEWER, { auth: small.key })).status, 200)
  const res = await app.gql(VIEWER, { auth: small.key })
  t.equal(res.status, 429)
  t.equal(res.body.errors?.[0]?.extensions.code, 'RATE_LIMITED')
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After is ${retryAfter}s`)
  t.equal((await app.gql(VIEWER, { auth: other.key })).status, 200, 'another key keeps its own budget')
})

t.test('each aliased root field counts as one operation', async (t) => {
  const app = await build(t)
  const { teamId } = await app.seedTeam('aliases')
  const k = await app.keyWith(teamId, ['keys:read'], { rateLimit: { requests: 12, windowMs: 60_000 } })
  const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: scopes { name }`).join(' ')} }`
  t.equal((await app.gql(aliased(10), { auth: k.key })).status, 200, '10 operations in one request')
  t.equal((await app.gql(aliased(2), { auth: k.key })).status, 200, '12 of 12 used')
  const over = await app.gql(aliased(1), { auth: k.key })
  t.equal(over.status, 429, 'the 13th operation is refused')
  t.ok(Number(over.headers['retry-after']) > 0)
  const other = await app.keyWith(teamId, ['keys:read'], { rateLimit: { requests: 5, windowMs: 60_000 } })
  const burst = await app.gql(aliased(6), { auth: other.key })
  t.equal(burst.status, 429, 'six aliases on a budget of five are refused before execution')
  t.equal(burst.body.errors?.[0]?.extensions.code, 'RATE_LIMITED')
})

t.test('the server default applies to keys without their own limit, and to users', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_REQUESTS: '2', RATE_LIMIT_WINDOW_MS: '60000' } })
  const { adminKey } = await app.seedTeam('default-limit')
  t.equal((await app.gql(VIEWER, { auth: adminKey })).status, 200)
  t.equal((await app.gql(VIEWER, { auth: adminKey })).status, 200)
  t.equal((await app.gql(VIEWER, { auth: adminKey })).status, 429)
})

t.test('with REDIS_URL, instances share the counters', async (t) => {
  const probe = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 })
  try { await probe.connect(); await probe.ping() } catch {
    t.fail('Redis must be running on 127.0.0.1:6379 (see README: test prerequisites)')
    return
  } finally { probe.disconnect() }

  const first = await build(t, { env: { REDIS_URL: 'redis://127.0.0.1:6379' } })
  const second = await buildApp(testConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }), { database: first.database })
  t.teardown(() => second.close())
  const { teamId } = await first.seedTeam('redis')
  const k = await first.keyWith(teamId, ['keys:read'], { rateLimit: { requests: 4, windowMs: 60_000 } })
  const onSecond = () => second.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${k.key}`, 'content-type': 'application/json' }, payload: { query: VIEWER } })
  t.equal((await first.gql(VIEWER, { auth: k.key })).status, 200)
  t.equal((await onSecond()).statusCode, 200)
  t.equal((await first.gql(VIEWER, { auth: k.key })).status, 200)
  t.equal((await onSecond()).statusCode, 200)
  t.equal((await first.gql(VIEWER, { auth: k.key })).status, 429, 'the fifth request across both instances is limited')
  t.equal((await onSecond()).statusCode, 429)
})

t.test('x-ratelimit headers: only with the 429 by default, on every response under RATE_LIMIT_HEADERS=always', async (t) => {
  // `exceeded` is what an unset RATE_LIMIT_HEADERS gives
  for (const mode of ['always', 'exceeded'] as const) {
    const app = await build(t, { env: mode === 'always' ? { RATE_LIMIT_HEADERS: 'always' } : {} })
    const { teamId } = await app.seedTeam(`headers-${mode}`)
    const k = await app.keyWith(teamId, ['keys:read'], { rateLimit: { requests: 2, windowMs: 60_000 } })
    const first = await app.gql(VIEWER, { auth: k.key })
    const second = await app.gql(VIEWER, { auth: k.key })
    t.equal(first.status, 200)
    if (mode === 'always') {
      t.equal(first.headers['x-ratelimit-limit'], '2', `${mode}: limit`)
      t.equal(first.headers['x-ratelimit-remaining'], '1', `${mode}: one left after the first`)
      t.equal(second.headers['x-ratelimit-remaining'], '0', `${mode}: none left after the second`)
      t.ok(Number(first.headers['x-ratelimit-reset']) > 0, `${mode}: reset in seconds`)
    } else {
      t.notOk('x-ratelimit-remaining' in first.headers, `${mode}: not on a success`)
    }
    const over = await app.gql(VIEWER, { auth: k.key })
    t.equal(over.status, 429)
    t.equal(over.headers['x-ratelimit-remaining'], '0', `${mode}: on the 429`)
    t.equal(over.headers['x-ratelimit-limit'], '2')
    t.ok(Number(over.headers['retry-after']) >= 1)
  }
})
