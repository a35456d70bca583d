/**
 * Graceful close, in-process over real HTTP: a request in flight when close starts finishes
 * (with the database still open), a request arriving on that connection afterwards gets 503
 * (in the one error shape, with a request id, Retry-After and a request-log row), and close does
 * not wait for keep-alive timeouts.
 */
import t from 'tap'
import { connect } from 'node:net'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { testConfig, testDatabase } from '../helper.ts'

/**
 * An app listening on loopback with a slow route `handler`, and one keep-alive socket on which
 * GET /slow is in flight: close starts once the handler is running (not after a fixed sleep,
 * which a busy machine outruns). `later` is written on the same socket after close began.
 */
async function closingWithOneInFlight (t: Parameters<typeof testDatabase>[0], slow: (app: FastifyInstance) => Promise<unknown>, later: string) {
  const { database } = await testDatabase(t)
  const app = await buildApp(testConfig({ JOBS_ENABLED: 'false' }), { database })
  let handlerStarted!: () => void
  const inFlight = new Promise<void>((resolve) => { handlerStarted = resolve })
  app.get('/slow', async () => { handlerStarted(); return slow(app) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }

  const socket = connect(port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  let received = ''
  socket.on('data', (d: Buffer) => { received += d.toString() })
  const closed = new Promise((resolve) => socket.once('close', resolve))
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n')
  await inFlight

  const started = Date.now()
  const closing = app.close()
  socket.write(later)
  await closing
  const took = Date.now() - started
  await closed
  return { database, took, responses: received.split(/(?=HTTP\/1\.1 )/) }
}

t.test('in-flight requests finish, late ones get 503, close is prompt', async (t) => {
  // A slow route standing for any long request: it reads the database after a pause.
  // Pipelined on the same connection after close began: served only once /slow is done.
  const { took, responses } = await closingWithOneInFlight(t, async (app) => {
    await new Promise((resolve) => setTimeout(resolve, 400))
    return { rows: (await app.database.rows(sql`select 1 as one`)).length }
  }, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')

  t.match(responses[0], /^HTTP\/1\.1 200/, 'the in-flight request completed')
  t.match(responses[0], /\{"rows":1\}/, 'the database was still open while draining')
  t.match(responses[1] ?? '', /^HTTP\/1\.1 503/, 'a request arriving while closing gets 503')
  t.ok(took < 5000, `close resolved in ${took} ms, not after a keep-alive timeout`)
})

t.test('a request refused while closing gets the error shape, a request id, Retry-After and a log row', async (t) => {
  const body = JSON.stringify({ query: '{ viewer { scopes } }' })
  const { database, responses } = await closingWithOneInFlight(t, async () => {
    await new Promise((resolve) => setTimeout(resolve, 300))
    return { ok: true }
  }, `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)

  const refused = responses[1] ?? ''
  const [head = '', payload = ''] = refused.split('\r\n\r\n')
  const headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  t.match(head, /^HTTP\/1\.1 503/, 'refused with 503')
  t.match(headers['content-type'], /^application\/json/)
  t.match(headers['retry-after'], /^\d+$/, 'Retry-After tells clients when to try again')
  t.match(headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request id like every other answer')
  const answer = JSON.parse(payload) as { error: Record<string, unknown> }
  t.same(Object.keys(answer.error).sort(), ['code', 'message', 'requestId'], 'the one REST error shape')
  t.match(answer.error, { code: 'SERVICE_UNAVAILABLE', message: /shutting down/, requestId: headers['x-request-id'] })

  // The request log was flushed at close: the refusal has its row.
  const rows = await database.rows<{ status: number, error_codes: string[], endpoint: string }>(sql`select status, error_codes, endpoint from request_logs where request_id = ${headers['x-request-id']}`)
  t.same(rows.map((r) => ({ status: r.status, codes: r.error_codes })), [{ status: 503, codes: ['SERVICE_UNAVAILABLE'] }], 'one request_logs row')
})
