/**
 * src/runtime/keep-next-tick-fast.ts: after full GCs run while no tick object is alive,
 * `process.nextTick` still defines its tick objects' properties on V8's fast path (the feedback
 * at those keys stays monomorphic), both in a bare process that imports the module and in the
 * real server entry.
 * What V8 recorded is read with %DebugPrint (--allow-natives-syntax), which prints a function's
 * feedback. The bare-process check has a control run without the module: it shows that the
 * hazard is real on this Node, so the check can fail. The real-entry check has no control run
 * (that would need a second entry without the import); it fails when src/server.ts stops
 * importing the module before the shell (checked by removing the import: it then prints MEGAMORPHIC).
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JWT_SECRET, freePort } from '../helper.ts'

const root = new URL('../../', import.meta.url).pathname
const moduleUrl = new URL('../../src/runtime/keep-next-tick-fast.ts', import.meta.url).href

/** The feedback states V8 printed for nextTick's tick-object literal keys, in order. */
function literalKeyStates (debugPrint: string): string[] {
  return [...debugPrint.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!)
}

const printNextTickFeedback = "new Function('f', '%DebugPrint(f)')(process.nextTick)"

function bareProcess (pin: boolean): string[] {
  const script = `
    ${pin ? `await import(${JSON.stringify(moduleUrl)})` : ''}
    const pause = () => new Promise((resolve) => setTimeout(resolve, 10))
    const noop = () => {}
    for (let i = 0; i < 10; i++) process.nextTick(noop, 1, 2)
    await pause()
    // In a timer callback no tick object is alive: full GCs free what only they kept.
    for (let i = 0; i < 4; i++) globalThis.gc()
    await pause()
    for (let i = 0; i < 10; i++) process.nextTick(noop, 1, 2)
    await pause()
    ${printNextTickFeedback}`
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`)
  return literalKeyStates(r.stdout)
}

t.test('a bare process: nextTick stays monomorphic across full GCs with the module imported first', async (t) => {
  const { tickObjectPinned } = await import(moduleUrl) as typeof import('../../src/runtime/keep-next-tick-fast.ts')
  t.equal(tickObjectPinned(), true, 'the module holds a tick object')
  const control = bareProcess(false)
  t.ok(control.includes('MEGAMORPHIC'), `without it, V8 gives up on the literal's keys (${control.join(', ')})`)
  const pinned = bareProcess(true)
  t.ok(pinned.length >= 5, 'the feedback of every literal key was printed')
  t.same(new Set(pinned), new Set(['MONOMORPHIC']), `with it, every key keeps its map (${pinned.join(', ')})`)
})

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function inspector (url: string): Promise<{ call: (method: string, params?: object) => Promise<unknown>, close: () => void }> {
  const ws = new WebSocket(url)
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject })
  let nextId = 1
  const pending = new Map<number, (result: unknown) => void>()
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number, result?: unknown }
    if (m.id !== undefined) pending.get(m.id)?.(m.result)
  }
  return {
    call: (method, params = {}) => new Promise((resolve) => {
      const id = nextId++
      pending.set(id, resolve)
      ws.send(JSON.stringify({ id, method, params }))
    }),
    close: () => { ws.close() }
  }
}

t.test('the real entry (src/server.ts): nextTick is still monomorphic after boot, full GCs and requests', async (t) => {
  const port = await freePort()
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-tick-')), PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, LOG_LEVEL: 'info', JOBS_ENABLED: 'false' }
  // stdout to a file: %DebugPrint writes with C stdio, which loses output on the non-blocking
  // pipe Node makes of a piped stdout whenever the pipe is momentarily full.
  const stdoutFile = join(env.DATA_DIR!, 'stdout')
  const stdoutFd = openSync(stdoutFile, 'w')
  const child = spawn(process.execPath, ['--allow-natives-syntax', '--inspect=127.0.0.1:0', 'src/server.ts'], { cwd: root, env, stdio: ['ignore', stdoutFd, 'pipe'] })
  closeSync(stdoutFd)
  t.teardown(() => { child.kill('SIGKILL') })
  const stdout = (): string => readFileSync(stdoutFile, 'utf8')
  let err = ''
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 60_000
  while (!stdout().includes('Server listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${stdout()}\n${err}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const wsUrl = /ws:\/\/\S+/.exec(err)?.[0]
  if (wsUrl === undefined) throw new Error(`no inspector URL:\n${err}`)
  const devtools = await inspector(wsUrl)
  t.teardown(() => { devtools.close() })

  const statuses: number[] = []
  const requests = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) statuses.push((await fetch(`http://127.0.0.1:${port}/healthz`)).status)
  }
  await requests()
  // The boot already ran full GCs; these make sure some ran while the server was idle.
  for (let i = 0; i < 4; i++) await devtools.call('HeapProfiler.collectGarbage')
  await requests()
  t.same(new Set(statuses), new Set([200]), 'the server answered every request')
  // C stdio buffers what %DebugPrint writes, and this exit path does not flush it: four more
  // copies push at least the first out of the buffer.
  for (let i = 0; i < 5; i++) await devtools.call('Runtime.evaluate', { expression: printNextTickFeedback })
  devtools.close()
  child.kill('SIGTERM')
  await exited

  const states = literalKeyStates(stdout())
  t.ok(states.length >= 5, 'the feedback of every literal key was printed')
  t.same(new Set(states), new Set(['MONOMORPHIC']), `every key kept its map (${states.length} printed: ${[...new Set(states)].join(', ')})`)
})
