/**
 * Every accepted socket has its peer address read (and cached by Node) as it is accepted, so no
 * later `req.ip` changes the socket's shape mid-life: such a change made V8 throw away optimised
 * HTTP and stream code every time an API-key cache miss read the address (see app.ts).
 */
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { buildApp } from '../../src/app.ts'
import { testConfig, testDatabase } from '../helper.ts'

t.test('a connection has its peer address cached before any request reads it', async (t) => {
  const { database } = await testDatabase(t)
  const app = await buildApp(testConfig({ JOBS_ENABLED: 'false' }), { database })
  t.teardown(() => app.close())
  app.get('/peer', async (req) => ({ ip: req.ip }))
  // Listeners run in the order they were added: this one runs after the app's own.
  const cachedAtAccept = new Promise<boolean>((resolve) => {
    app.server.once('connection', (socket: Socket) => { resolve(Object.hasOwn(socket, '_peername')) })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }

  const client = connect(port, '127.0.0.1')
  t.teardown(() => { client.destroy() })
  t.equal(await cachedAtAccept, true, 'the peer address is on the socket as soon as it is accepted')

  // And the address requests see is the client's, as before.
  let received = ''
  client.on('data', (d: Buffer) => { received += d.toString() })
  client.write('GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await new Promise((resolve) => client.once('close', resolve))
  t.match(received, /^HTTP\/1\.1 200/)
  t.same(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)), { ip: '127.0.0.1' })
})
