/**
 * The Node shim (src/runtime/ensure-node.mjs) stands in for its command like `exec`, and
 * `npm start` as an operator or a supervisor runs it: npm → (shell) → the Node shim → the
 * server. SIGTERM sent to npm must reach the server, which drains, releases the PGlite lock and
 * exits; npm exits with it. Before, npm died and left the server running, holding the lock.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JWT_SECRET, freePort } from '../helper.ts'

const root = new URL('../../', import.meta.url).pathname

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch { return false }
}
const portOpen = (port: number): Promise<boolean> => new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})
/** Another process's state has no event to wait on: poll it, up to a deadline. */
async function until (what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('SIGTERM to npm start stops the server and frees the data directory', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-npm-start-'))
  const lockFile = join(dataDir, 'pglite.lock')
  const port = await freePort()
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', JWT_SECRET, LOG_LEVEL: 'info', JOBS_ENABLED: 'false', npm_config_update_notifier: 'false' }
  const npm = spawn('npm', ['start'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  npm.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  npm.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const npmExited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)))

  await until('the server listens', () => {
    if (npm.exitCode !== null) throw new Error(`npm start exited:\n${out}`)
    return out.includes('Server listening')
  }, 120_000) // generous: a busy CI machine starts PGlite slowly
  // The lock names the server's pid: the process that must go away.
  const serverPid = Number(readFileSync(lockFile, 'utf8').split(' ')[0])
  t.ok(serverPid > 0 && serverPid !== npm.pid, `the server runs as pid ${serverPid}, below npm (${npm.pid})`)
  t.teardown(() => { if (alive(serverPid)) process.kill(serverPid, 'SIGKILL') })

  npm.kill('SIGTERM')
  const code = await npmExited
  await until('the server process is gone', () => !alive(serverPid), 10_000)
  t.pass('the server exited')
  t.notOk(existsSync(lockFile), 'the data-dir lock was released')
  t.notOk(await portOpen(port), 'the port is closed')
  t.match(out, /shutting down: finishing in-flight requests/, 'the server shut down gracefully')
  t.equal(code, 0, 'npm exits with the server\'s code')
})

// A command that counts the SIGINTs it receives and exits with that count shortly after the
// first (long enough for a duplicate to arrive).
const counter = `let n = 0
process.on('SIGINT', () => { if (n++ === 0) setTimeout(() => process.exit(n), 300) })
process.stdout.write('ready\\n')
setInterval(() => {}, 1000)`

function shim (args: string[]) {
  // detached: the shim leads its own process group, as npm's does under a terminal.
  const child = spawn(process.execPath, ['src/runtime/ensure-node.mjs', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  const ready = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()))
  const exited = new Promise<{ code: number | null, signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return { child, ready, exited }
}

t.test('the shim: a Ctrl-C reaches the command once; the exit code is the command\'s', async (t) => {
  const ctrlC = shim([process.execPath, '-e', counter])
  t.teardown(() => { try { process.kill(-ctrlC.child.pid!, 'SIGKILL') } catch {} })
  await ctrlC.ready
  // A terminal's Ctrl-C goes to the whole foreground group; npm forwards its copy to the shim.
  process.kill(-ctrlC.child.pid!, 'SIGINT')
  process.kill(ctrlC.child.pid!, 'SIGINT')
  t.same(await ctrlC.exited, { code: 1, signal: null }, 'the command saw one SIGINT and its exit code came through')

  const killed = shim([process.execPath, '-e', "process.stdout.write('ready\\n'); process.kill(process.pid, 'SIGKILL')"])
  t.same(await killed.exited, { code: 137, signal: null }, 'a command ended by SIGKILL: 128 + 9')
})
