import t from 'tap'
import { Writable } from 'node:stream'
import pino from 'pino'
import Fastify from 'fastify'
import { loggerOptions, makeChildLoggersLazy } from '../../src/logger.ts'
import { build } from '../helper.ts'

t.test('credentials never reach the logs', async (t) => {
  let logs = ''
  const sink = new Writable({ write (chunk, _enc, cb) { logs += chunk.toString(); cb() } })
  const logger = pino({ ...loggerOptions({ logLevel: 'trace' }) }, sink)
  // With Fastify's per-request lines on, so the request URL (and its query string) is logged too.
  const app = await build(t, { env: { LOG_REQUESTS: 'true' }, app: { loggerInstance: logger } })
  const { adminKey, teamId } = await app.seedTeam('logs')
  await app.gql('{ viewer { scopes } }', { auth: adminKey })
  await app.app.inject({ method: 'POST', url: `/graphql?api_key=${adminKey}&code=abc123&state=s3cr3t`, headers: { 'content-type': 'application/json' }, payload: { query: '{ viewer { scopes } }' } })
  const created = await app.gql('mutation { createApiKey(input: { name: "line\\nbreak", scopes: ["keys:read"] }) { secret } }', { auth: adminKey })
  const secret = created.body.data?.createApiKey.secret as string
  app.app.log.info({ req: { headers: { authorization: `Bearer ${adminKey}`, 'x-api-key': adminKey } }, token: 'tok_live', nested: { clientSecret: 'cs_live' } }, 'explicit object')
  t.ok(logs.length > 0, 'something was logged')
  t.notOk(logs.includes(adminKey), 'the API key appears in no log line')
  t.notOk(logs.includes(secret), 'a newly created secret appears in no log line')
  t.notOk(logs.includes('abc123') || logs.includes('s3cr3t'), 'query strings are not logged')
  t.notOk(logs.includes('tok_live') || logs.includes('cs_live'), 'token and secret fields are redacted')
  t.match(logs, /\[Redacted\]/)
  for (const line of logs.trim().split('\n')) JSON.parse(line) // every entry is one JSON line
  t.ok(teamId)
})

t.test("Fastify's per-request lines only with LOG_REQUESTS=true", async (t) => {
  for (const on of [false, true]) {
    let logs = ''
    const sink = new Writable({ write (chunk, _enc, cb) { logs += chunk.toString(); cb() } })
    const app = await build(t, { env: on ? { LOG_REQUESTS: 'true' } : {}, app: { loggerInstance: pino({ ...loggerOptions({ logLevel: 'info' }) }, sink) } })
    const res = await app.app.inject({ method: 'GET', url: '/healthz' })
    t.equal(res.statusCode, 200)
    const messages = logs.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { msg?: string }).msg)
    if (on) t.ok(messages.includes('incoming request') && messages.includes('request completed'), 'both lines with LOG_REQUESTS=true')
    else t.notOk(messages.includes('incoming request') || messages.includes('request completed'), 'neither line by default')
  }
})

t.test('a request logger becomes a pino child only when something is logged, with the request id bound', async (t) => {
  let logs = ''
  const sink = new Writable({ write (chunk, _enc, cb) { logs += chunk.toString(); cb() } })
  const logger = pino({ ...loggerOptions({ logLevel: 'info' }) }, sink)
  let children = 0
  const child = logger.child.bind(logger)
  logger.child = ((...args: Parameters<typeof child>) => { children++; return child(...args) }) as typeof logger.child
  const app = await build(t, { app: { loggerInstance: logger } })
  const { adminKey } = await app.seedTeam('lazy-log')

  const before = children
  const quiet = await app.gql('{ viewer { scopes } }', { auth: adminKey })
  t.equal(quiet.status, 200)
  t.equal(children, before, 'a request that logs nothing made no child logger')

  // The same factory on an app of its own, with a route that logs.
  const probeApp = Fastify({ loggerInstance: logger, genReqId: () => 'probe-request-id' })
  makeChildLoggersLazy(probeApp.log)
  t.teardown(() => probeApp.close())
  probeApp.get('/log-probe', async (req) => { req.log.warn({ probe: true }, 'probe line'); req.log.info('second line'); return { ok: true } })
  await probeApp.ready()
  const beforeProbe = children
  const res = await probeApp.inject({ method: 'GET', url: '/log-probe' })
  t.equal(res.statusCode, 200)
  t.equal(children, beforeProbe + 1, 'one child for the request that logged, however many lines')
  const lines = logs.trim().split('\n').map((l) => JSON.parse(l) as { msg?: string, reqId?: string, probe?: boolean, level: number })
  const probe = lines.find((l) => l.msg === 'probe line')
  t.equal(probe?.reqId, 'probe-request-id', 'the line carries the request id')
  t.equal(probe?.probe, true)
  t.equal(lines.find((l) => l.msg === 'second line')?.reqId, 'probe-request-id')
})
