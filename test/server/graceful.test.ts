/**
 * Graceful close, in-process over real HTTP: a request in flight when close starts finishes
 * (with the database still open), a request arriving on that connection afterwards gets 503,
 * and close does not wait for keep-alive timeouts.
 */
import t from 'tap'
import { connect } from 'node:net'
import { sql } from 'drizzle-orm'
import { buildApp } from '../../src/app.ts'
import { testConfig, testDatabase } from '../helper.ts'

t.test('in-flight requests finish, late ones get 503, close is prompt', async (t) => {
  const { database } = await testDatabase(t)
  const app = await buildApp(testConfig({ JOBS_ENABLED: 'false' }), { database })
  // A slow route standing for any long request: it reads the database after a pause. Close
  // starts once the handler is running (not after a fixed sleep, which a busy machine outruns).
  let handlerStarted!: () => void
  const inFlight = new Promise<void>((resolve) => { handlerStarted = resolve })
  app.get('/slow', async () => {
    handlerStarted()
    await new Promise((resolve) => setTimeout(resolve, 400))
    return { rows: (await app.database.rows(sql`select 1 as one`)).length }
  })
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
  // Pipelined on the same connection after close began: served only once /slow is done.
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  await closing
  const took = Date.now() - started
  await closed

  const responses = received.split(/(?=HTTP\/1\.1 )/)
  t.match(responses[0], /^HTTP\/1\.1 200/, 'the in-flight request completed')
  t.match(responses[0], /\{"rows":1\}/, 'the database was still open while draining')
  t.match(responses[1] ?? '', /^HTTP\/1\.1 503/, 'a request arriving while closing gets 503')
  t.ok(took < 5000, `close resolved in ${took} ms, not after a keep-alive timeout`)
})
