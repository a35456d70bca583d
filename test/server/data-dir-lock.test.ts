/**
 * The PGlite data-dir lock under contention: several processes race for the same directory,
 * with no lock, with a stale lock left by a killed process, and with a stale lock in the
 * older pid-only format. Each round must end with exactly one owner; everyone else is refused.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { acquireDataDirLock, DataDirLockedError } from '../../src/db/data-dir-lock.ts'

const lockModule = new URL('../../src/db/data-dir-lock.ts', import.meta.url).pathname

// A contender: on `go <dataDir> <at>` it spins until the shared start time, then tries to take
// the lock and answers `<dataDir> owner|locked|error …`. Locks it takes are held until it exits.
const contenderSource = `
import { createInterface } from 'node:readline'
import { acquireDataDirLock } from ${JSON.stringify(lockModule)}
for await (const line of createInterface({ input: process.stdin })) {
  const [, dir, at] = line.split(' ')
  while (Date.now() < Number(at)) {}
  let outcome
  try { acquireDataDirLock(dir); outcome = 'owner' } catch (err) { outcome = err.name === 'DataDirLockedError' ? 'locked' : 'error ' + err.message }
  process.stdout.write(dir + ' ' + outcome + '\\n')
}
`

interface Contender { child: ChildProcess, answers: Map<string, (outcome: string) => void>, exited: Promise<void> }

function contender (): Contender {
  const child = spawn(process.execPath, ['--input-type=module', '-e', contenderSource], { stdio: ['pipe', 'pipe', 'inherit'] })
  const answers = new Map<string, (outcome: string) => void>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const at = line.indexOf(' ')
    answers.get(line.slice(0, at))?.(line.slice(at + 1))
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, answers, exited }
}

/** All contenders try `dataDir` at the same moment; resolves with their outcomes. */
function race (contenders: Contender[], dataDir: string, delayMs = 10): Promise<string[]> {
  const at = Date.now() + delayMs
  return Promise.all(contenders.map((c) => new Promise<string>((resolve) => {
    c.answers.set(dataDir, resolve)
    c.child.stdin!.write(`go ${dataDir} ${at}\n`)
  })))
}

const lockFile = (dataDir: string): string => `${dataDir}.lock`

t.test('concurrent starts: exactly one owner each round, with or without a stale lock', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sb-lock-race-'))
  const ROUNDS = 30
  const dirs = (kind: string) => Array.from({ length: ROUNDS }, (_, i) => { const d = join(root, `${kind}-${i}`); mkdirSync(d); return join(d, 'pglite') })
  const fresh = dirs('fresh')
  const stale = dirs('stale')
  const legacy = dirs('legacy')

  // Stale locks made the real way: a process takes them and is killed.
  const victim = contender()
  const taken: string[] = []
  for (const dir of stale) taken.push(...await race([victim], dir, 0))
  t.ok(taken.every((o) => o === 'owner'), 'a process took the locks')
  victim.child.kill('SIGKILL')
  await victim.exited
  t.ok(stale.every((dir) => existsSync(lockFile(dir))), 'the killed process left its locks behind')
  // The format of earlier versions: the pid alone.
  for (const dir of legacy) writeFileSync(lockFile(dir), String(victim.child.pid))

  const contenders = Array.from({ length: 4 }, contender)
  t.teardown(async () => {
    for (const c of contenders) c.child.kill('SIGKILL')
    await Promise.all(contenders.map((c) => c.exited))
  })

  for (const [kind, list] of [['no lock', fresh], ['stale lock', stale], ['stale pid-only lock', legacy]] as const) {
    const bad: string[] = []
    for (const dir of list) {
      const outcomes = await race(contenders, dir)
      const owners = outcomes.filter((o) => o === 'owner').length
      const others = outcomes.filter((o) => o !== 'owner' && o !== 'locked')
      if (owners !== 1 || others.length > 0) bad.push(`${dir}: ${outcomes.join(', ')}`)
    }
    t.same(bad, [], `${kind}: one owner in each of ${list.length} rounds`)
  }
})

t.test('in one process: held locks refuse, release frees, a taken-over lock is not removed by its old holder', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sb-lock-'))
  const dataDir = join(root, 'pglite')
  const lock = acquireDataDirLock(dataDir)
  t.throws(() => acquireDataDirLock(dataDir), DataDirLockedError, 'a second open in the same process is refused too')
  lock.release()
  t.notOk(existsSync(lockFile(dataDir)), 'released')
  const again = acquireDataDirLock(dataDir)
  t.match(readFileSync(lockFile(dataDir), 'utf8'), new RegExp(`^${process.pid}\\b`), 'the lock names its process')

  // Someone else's lock now stands under the name (e.g. ours was judged stale and taken over).
  writeFileSync(lockFile(dataDir), `${process.ppid} another-owner`)
  again.release()
  t.equal(readFileSync(lockFile(dataDir), 'utf8'), `${process.ppid} another-owner`, 'release leaves a lock that is not ours')
})
