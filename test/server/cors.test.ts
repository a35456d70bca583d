/**
 * CORS for browser clients (CORS_ORIGINS): off by default, an exact allow-list echoed back
 * with Vary: Origin, `*` never with credentials, and a preflight for /graphql that allows what
 * a client sends and exposes the request id.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import type { Database } from '../../src/db/client.ts'
import { testConfig, testDatabase } from '../helper.ts'

const APP = 'https://app.example.com'
const EVIL = 'https://evil.example'

const corsHeaders = (headers: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-')))

const preflight = (app: FastifyInstance, origin: string) => app.inject({
  method: 'OPTIONS',
  url: '/graphql',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' }
})
const post = (app: FastifyInstance, origin: string) => app.inject({
  method: 'POST',
  url: '/graphql',
  headers: { origin, 'content-type': 'application/json' },
  payload: { query: '{ viewer { scopes } }' }
})

let database: Database
t.before(async () => { database = (await testDatabase(t)).database })

async function appWith (t: { teardown(fn: () => unknown): void }, env: Record<string, string>): Promise<FastifyInstance> {
  const app = await buildApp(testConfig({ JOBS_ENABLED: 'false', ...env }), { database })
  t.teardown(() => app.close())
  return app
}

t.test('off by default: no Access-Control-* header on anything, preflights are not answered', async (t) => {
  const app = await appWith(t, {})
  const answer = await post(app, APP)
  t.equal(answer.statusCode, 401, 'the request itself is served as usual')
  t.same(corsHeaders(answer.headers), {})
  const pre = await preflight(app, APP)
  t.equal(pre.statusCode, 404)
  t.same(corsHeaders(pre.headers), {})
})

t.test('an allow-list: listed origins are echoed with Vary: Origin and credentials; others get nothing', async (t) => {
  const app = await appWith(t, { CORS_ORIGINS: `${APP}, http://localhost:5173` })

  const allowed = await post(app, APP)
  t.equal(allowed.headers['access-control-allow-origin'], APP)
  t.match(allowed.headers.vary, /\bOrigin\b/)
  t.equal(allowed.headers['access-control-allow-credentials'], 'true')
  t.match(allowed.headers['access-control-expose-headers'], /\bx-request-id\b/, 'the browser may read the request id')

  const pre = await preflight(app, APP)
  t.equal(pre.statusCode, 204, 'preflight for /graphql answered')
  t.equal(pre.headers['access-control-allow-origin'], APP)
  t.match(pre.headers['access-control-allow-methods'], /\bPOST\b/)
  for (const header of ['authorization', 'content-type', 'idempotency-key']) {
    t.match(pre.headers['access-control-allow-headers'], new RegExp(`\\b${header}\\b`), `${header} allowed`)
  }
  t.ok(Number(pre.headers['access-control-max-age']) > 0, 'preflights are cached')

  const denied = await post(app, EVIL)
  t.same(corsHeaders(denied.headers), {}, 'an unlisted origin gets no Access-Control-* header')
  t.match(denied.headers.vary, /\bOrigin\b/, 'caches still key on the origin')
  const deniedPre = await preflight(app, EVIL)
  t.not(deniedPre.statusCode, 204)
  t.same(corsHeaders(deniedPre.headers), {}, 'nor a preflight answer')
  const prefix = await post(app, `${APP}.evil.example`)
  t.same(corsHeaders(prefix.headers), {}, 'origins match exactly, not by prefix')
})

t.test('`*`: any origin, never with credentials', async (t) => {
  const app = await appWith(t, { CORS_ORIGINS: '*' })
  const answer = await post(app, EVIL)
  t.equal(answer.headers['access-control-allow-origin'], '*')
  t.notOk('access-control-allow-credentials' in answer.headers, 'no Access-Control-Allow-Credentials')
  const pre = await preflight(app, EVIL)
  t.equal(pre.statusCode, 204)
  t.equal(pre.headers['access-control-allow-origin'], '*')
  t.notOk('access-control-allow-credentials' in pre.headers)
})
