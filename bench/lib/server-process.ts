/**
 * Child-process entry for one server under test: `node bench/lib/server-process.ts <kind>`.
 * Listens on 127.0.0.1 (random port) and talks to the parent over IPC:
 *   → { type: 'ready', port, headers }            once listening
 *   ← { type: 'cpu' } → { type: 'cpu', micros }   CPU time (user + system) used so far
 *   ← { type: 'profile-start' } / { type: 'profile-stop', file }   V8 CPU profile of a window
 *   → { type: 'profile-saved', file }
 *   ← { type: 'stop' }                             close and exit
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'

export type ToServer = { type: 'stop' } | { type: 'cpu' } | { type: 'profile-start' } | { type: 'profile-stop', file: string }
export type FromServer =
  | { type: 'ready', port: number, headers: Record<string, string> }
  | { type: 'cpu', micros: number }
  | { type: 'profile-saved', file: string }
  | { type: 'error', message: string }

const send = (m: FromServer): void => { process.send?.(m) }

const kind = process.argv[2] ?? ''
// Switchboard starts here as `npm start` does (src/server.ts): runtime/keep-next-tick-fast.ts
// first, before the app's modules load. The other servers load as they would on their own.
if (kind.startsWith('switchboard')) await import('../../src/runtime/keep-next-tick-fast.ts')
const { buildServer, isServerKind } = await import('./servers.ts')
if (!isServerKind(kind)) {
  send({ type: 'error', message: `unknown server kind "${kind}"` })
  process.exit(2)
}

try {
  const server = await buildServer(kind)
  const port = await server.listen()
  let session: Session | undefined

  process.on('message', (m: ToServer) => {
    void (async () => {
      if (m.type === 'cpu') {
        const { user, system } = process.cpuUsage()
        send({ type: 'cpu', micros: user + system })
      } else if (m.type === 'profile-start') {
        session = new Session()
        session.connect()
        await session.post('Profiler.enable')
        await session.post('Profiler.setSamplingInterval', { interval: 100 })
        await session.post('Profiler.start')
      } else if (m.type === 'profile-stop' && session !== undefined) {
        const { profile } = await session.post('Profiler.stop')
        writeFileSync(m.file, JSON.stringify(profile))
        session.disconnect()
        session = undefined
        send({ type: 'profile-saved', file: m.file })
      } else if (m.type === 'stop') {
        await server.close()
        process.exit(0)
      }
    })().catch((err: Error) => { send({ type: 'error', message: err.stack ?? err.message }) })
  })
  process.on('disconnect', () => { process.exit(0) })
  send({ type: 'ready', port, headers: server.headers })
} catch (err) {
  send({ type: 'error', message: (err as Error).stack ?? String(err) })
  process.exit(1)
}
