/**
 * The shared outbound client's behaviour, provider by provider, against each fake's own error
 * bodies: Retry-After honoured, expired token refreshed and the call retried once, revoked token
 * → INVALID_CREDENTIALS + needs_reauth, 5xx retried then the circuit opens (fast
 * UPSTREAM_UNAVAILABLE, other providers unaffected, a probe closes it), other 4xx not retried,
 * timeout. (Shopify's own file covers the same for its GraphQL endpoint.)
 */
import t from 'tap'
import { SHOPIFY_GRAPHQL, type ShopifyFake } from '../fakes/shopify.ts'
import type { FakeReply } from '../fakes/base.ts'
import { integrationStatus, outboundRows, run, setup } from './connector-helper.ts'

const CASES = [
  { provider: 'google_drive', op: 'list_folders', input: { max: 1 }, route: 'GET /drive/v3/files', throttle: { status: 429, headers: { 'retry-after': '0.2' }, body: { error: { code: 429, message: 'Rate Limit Exceeded', status: 'RESOURCE_EXHAUSTED' } } } },
  { provider: 'dropbox', op: 'list_folders', input: { max: 1 }, route: 'POST /2/files/list_folder', throttle: { status: 429, headers: { 'retry-after': '0.2' }, body: { error_summary: 'too_many_write_operations/..', error: { reason: { '.tag': 'too_many_write_operations' } } } } },
  { provider: 'figma', op: 'get_account', input: {}, route: 'GET /v1/me', throttle: { status: 429, headers: { 'retry-after': '0.2', 'x-figma-rate-limit-type': 'low' }, body: { status: 429, err: 'Rate limit exceeded' } } },
  { provider: 'notion', op: 'get_account', input: {}, route: 'GET /v1/users/me', throttle: { status: 429, headers: { 'retry-after': '0.2' }, body: { object: 'error', status: 429, code: 'rate_limited', message: 'You have been rate limited.' } } },
  { provider: 'slack', op: 'get_account', input: {}, route: 'POST /api/auth.test', throttle: { status: 429, headers: { 'retry-after': '0.2' }, body: { ok: false, error: 'ratelimited' } } }
] as const

t.test('outbound client behaviour per provider', async (t) => {
  const s = await setup(t)
  const shopifyId = await s.connectTo('shopify', { shop: 'ada-shop' })
  ;(s.fakes.shopify as ShopifyFake).data.seed(3)

  for (const c of CASES) {
    await t.test(c.provider, async (t) => {
      const fake = s.fakes[c.provider]
      const id = await s.connectTo(c.provider)
      const calls = () => fake.server.count(c.route)
      const call = async () => { const r = await run(s, id, c.op, c.input as Record<string, unknown>); if ('errors' in r) throw new Error(JSON.stringify(r.errors)); return r }

      t.equal((await call()).success, true, 'happy path')

      let before = calls()
      let started = Date.now()
      fake.server.fail(c.route, c.throttle as FakeReply, 1)
      t.equal((await call()).success, true, '429 then success')
      t.ok(Date.now() - started >= 190, `waited for Retry-After (${Date.now() - started} ms)`)
      t.equal(calls() - before, 2)

      before = fake.server.count(fake.refreshRoute)
      fake.oauth.expireAccessTokens()
      t.equal((await call()).success, true, 'expired token: refreshed and retried')
      t.equal(fake.server.count(fake.refreshRoute) - before, 1, 'one refresh')

      before = calls()
      fake.server.fail(c.route, { status: 400, body: { error: 'bad request' } }, 1)
      const bad = await call()
      t.equal(bad.error?.code, 'API_ERROR', '4xx other than 408/429')
      t.equal(calls() - before, 1, 'not retried')

      before = calls()
      fake.server.fail(c.route, { status: 502, body: 'Bad Gateway' })
      const failing = await call()
      t.equal(failing.error?.code, 'CONNECTION_FAILED', '5xx retried until attempts ran out')
      t.equal(failing.error?.platform, c.provider)
      t.equal(calls() - before, 3, 'three attempts')
      started = Date.now()
      const open = await call()
      t.equal(open.error?.code, 'UPSTREAM_UNAVAILABLE', 'circuit open')
      t.ok(Date.now() - started < 200, 'fails fast')
      t.equal(calls() - before, 3, 'no call while open')
      const other = await run(s, shopifyId, 'get_products', { first: 1 })
      t.equal(!('errors' in other) && other.success, true, 'another provider is unaffected')
      fake.server.clear(c.route)
      await new Promise((resolve) => setTimeout(resolve, 350))
      t.equal((await call()).success, true, 'the probe after halfOpenAfter succeeds and closes it')

      fake.server.delays[c.route] = 1000
      started = Date.now()
      const slow = await call()
      delete fake.server.delays[c.route]
      t.equal(slow.error?.code, 'NETWORK_ERROR', 'timeout')
      t.ok(Date.now() - started < 900, 'aborted at PROVIDER_TIMEOUT_MS')
      await new Promise((resolve) => setTimeout(resolve, 700))

      fake.oauth.revokeEverything()
      const revoked = await call()
      t.equal(revoked.error?.code, 'INVALID_CREDENTIALS')
      t.equal(await integrationStatus(s, id), 'needs_reauth')
      const rows = await outboundRows(s, c.provider)
      t.ok(rows.length >= 12, 'a request-log row for every attempt')
      t.ok(rows.every((r) => !r.path.includes('?') && !r.path.includes('at_')), 'path only, no token or query')
    })
  }
  t.ok(SHOPIFY_GRAPHQL)
})
