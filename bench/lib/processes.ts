/** Parent-side handles on the server and load-generator child processes. */
import { fork, execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FromServer, ToServer } from './server-process.ts'
import type { LoadOptions, LoadResult } from './load-generator.ts'
import type { ServerKind } from './servers.ts'

const SERVER_ENTRY = fileURLToPath(new URL('./server-process.ts', import.meta.url))
const LOAD_ENTRY = fileURLToPath(new URL('./load-generator.ts', import.meta.url))

/** Environment of every server under test: production mode, no log output. */
export const SERVER_ENV = { NODE_ENV: 'production', LOG_LEVEL: 'silent' }

export interface ServerHandle {
  kind: ServerKind
  pid: number
  url: string
  headers: Record<string, string>
  /** CPU time (user + system, µs) the server process has used so far. */
  cpuMicros(): Promise<number>
  profile(file: string, during: () => Promise<void>): Promise<void>
  stop(): Promise<void>
}

export function startServer (kind: ServerKind, timeoutMs = 60_000): Promise<ServerHandle> {
  const child = fork(SERVER_ENTRY, [kind], {
    env: { ...process.env, ...SERVER_ENV },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const send = (m: ToServer): void => { child.send(m) }
  const next = (type: FromServer['type']): Promise<FromServer> => new Promise((resolve, reject) => {
    const onMessage = (m: FromServer): void => {
      if (m.type === 'error') { cleanup(); reject(new Error(`${kind} server: ${m.message}`)) } else if (m.type === type) { cleanup(); resolve(m) }
    }
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`${kind} server exited (${code}) before "${type}"`)) }
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${kind} server: no "${type}" within ${timeoutMs} ms`)) }, timeoutMs)
    const cleanup = (): void => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })

  return next('ready').then((m) => {
    if (m.type !== 'ready') throw new Error('unreachable')
    return {
      kind,
      pid: child.pid!,
      url: `http://127.0.0.1:${m.port}/graphql`,
      headers: m.headers,
      async cpuMicros () {
        const reply = next('cpu')
        send({ type: 'cpu' })
        const r = await reply
        return r.type === 'cpu' ? r.micros : Number.NaN
      },
      async profile (file, during) {
        send({ type: 'profile-start' })
        await during()
        const saved = next('profile-saved')
        send({ type: 'profile-stop', file })
        await saved
      },
      stop: () => new Promise<void>((resolve) => {
        if (child.exitCode !== null) { resolve(); return }
        const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
        child.once('exit', () => { clearTimeout(timer); resolve() })
        send({ type: 'stop' })
      })
    }
  }, (err: unknown) => {
    child.kill('SIGKILL')
    throw err
  })
}

/** Runs autocannon in its own process against one server. */
export function runLoad (opts: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [LOAD_ENTRY, JSON.stringify(opts)], { timeout: (opts.durationSeconds + 60) * 1000 }, (err, stdout, stderr) => {
      if (err !== null) { reject(new Error(`load generator failed: ${err.message}\n${stderr}`)); return }
      const line = stdout.trim().split('\n').at(-1) ?? ''
      try { resolve(JSON.parse(line) as LoadResult) } catch { reject(new Error(`load generator printed no result: ${stdout}\n${stderr}`)) }
    })
  })
}
