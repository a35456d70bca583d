/** Provider signals the outbound client reads, as pure functions: Retry-After, Shopify pacing, Dropbox header JSON, private addresses. */
import t from 'tap'
import { retryAfterMs } from '../../src/connectors/outbound/classify.ts'
import { classifyShopify, paceShopify } from '../../src/connectors/providers/shopify.connector.ts'
import { classifyDropbox, headerSafeJson } from '../../src/connectors/providers/dropbox.connector.ts'
import { classifySlack } from '../../src/connectors/providers/slack.connector.ts'
import { classifyFigma } from '../../src/connectors/providers/figma.connector.ts'
import { classifyGoogle } from '../../src/connectors/providers/google-drive.connector.ts'
import { isPrivateAddress as isPrivate } from '../../src/connectors/outbound/guard.ts'

const res = (status: number, body: unknown, headers: Record<string, string> = {}) => ({ status, body, headers: new Headers(headers) })
const cost = (available: number, requested = 100, restoreRate = 50) => ({ extensions: { cost: { requestedQueryCost: requested, throttleStatus: { maximumAvailable: 1000, currentlyAvailable: available, restoreRate } } } })

t.test('Retry-After: seconds (with decimals) or an HTTP date', async (t) => {
  t.equal(retryAfterMs(res(429, null, { 'retry-after': '2.0' })), 2000)
  const at = new Date(Date.now() + 5000).toUTCString()
  const ms = retryAfterMs(res(429, null, { 'retry-after': at }))!
  t.ok(ms > 3000 && ms <= 5000)
  t.equal(retryAfterMs(res(429, null)), null)
})

t.test('Shopify: THROTTLED waits for the bucket to hold the query cost; pacing from throttleStatus and the call-limit header', async (t) => {
  t.same(classifyShopify(res(200, { errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED' } }], ...cost(0) })), { kind: 'throttled', retryAfterMs: 2000 })
  t.equal(paceShopify(res(200, { data: {}, ...cost(50) })), 1000, '50 points short at 50/s')
  t.equal(paceShopify(res(200, { data: {}, ...cost(900) })), null, 'enough left')
  t.equal(paceShopify(res(200, {}, { 'x-shopify-shop-api-call-limit': '39/40' })), 500, 'REST bucket nearly full')
  t.equal(paceShopify(res(200, {}, { 'x-shopify-shop-api-call-limit': '10/40' })), null)
  t.equal(classifyShopify(res(401, { errors: '[API] Invalid API key or access token' }))?.kind, 'auth')
  t.same(classifyShopify(res(200, { errors: [{ message: 'Field x doesn\'t exist' }] })), { kind: 'error', code: 'API_ERROR', message: 'Field x doesn\'t exist', retryable: false })
})

t.test('Dropbox: expired vs invalid token, retry_after in the body, 409 not retried; header-safe JSON', async (t) => {
  t.same(classifyDropbox(res(401, { error_summary: 'expired_access_token/..', error: { '.tag': 'expired_access_token' } })), { kind: 'auth', expired: true, message: 'expired_access_token/..' })
  t.equal((classifyDropbox(res(401, { error: { '.tag': 'invalid_access_token' } })) as { expired: boolean }).expired, false)
  t.same(classifyDropbox(res(429, { error: { reason: { '.tag': 'too_many_requests' }, retry_after: 3 } })), { kind: 'throttled', retryAfterMs: 3000 })
  t.equal((classifyDropbox(res(409, { error_summary: 'path/conflict/file/..' })) as { retryable: boolean }).retryable, false)
  t.equal(headerSafeJson({ path: '/Müller/ü.png' }), '{"path":"/M\\u00fcller/\\u00fc.png"}')
})

t.test('Slack, Figma, Google quirks', async (t) => {
  t.same(classifySlack(res(200, { ok: false, error: 'token_expired' })), { kind: 'auth', expired: true, message: 'token_expired' })
  t.equal(classifySlack(res(200, { ok: false, error: 'ratelimited' }))?.kind, 'throttled')
  t.equal(classifySlack(res(200, { ok: true })), undefined)
  t.same(classifyFigma(res(403, { status: 403, err: 'Token expired' })), { kind: 'auth', expired: true, message: 'Token expired' })
  t.equal(classifyFigma(res(403, { status: 403, err: 'File not shared' })), undefined, 'other 403s are plain errors')
  t.equal(classifyGoogle(res(403, { error: { errors: [{ reason: 'userRateLimitExceeded' }] } }))?.kind, 'throttled')
  t.equal(classifyGoogle(res(403, { error: { errors: [{ reason: 'insufficientPermissions' }] } })), undefined)
})

t.test('private addresses refused for file downloads', async (t) => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1']) t.ok(isPrivate(ip), ip)
  for (const ip of ['8.8.8.8', '172.32.0.1', '2606:4700::1111']) t.notOk(isPrivate(ip), ip)
})
