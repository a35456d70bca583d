/**
 * PGlite is one process's database: two processes opening the same directory corrupt it.
 * The first process to open `./data/pglite` takes `./data/pglite.lock` (its pid and a random
 * token); any other process (a second server, the CLI) gets a clear DataDirLockedError instead
 * of a broken store.
 *
 * Every step is atomic, because starts race (a supervisor restarting a crashed server while an
 * operator runs the CLI):
 * - Taking: the lock is written in full under a temporary name and hard-linked into place; the
 *   link fails if the name exists, so one process wins and nobody reads a half-written lock.
 * - Taking over a stale lock (its process is dead, or it carries our own pid after a container
 *   restart): removing it needs a guard file named after that very lock, created the same
 *   exclusive way. Of several processes that found the same stale lock, one removes it; the
 *   others find the new owner's lock when they try again. A lock is removed only by its owner
 *   or by the holder of its guard, and only while it still holds the token they read.
 * - After taking it, the owner reads it back (re-checks) before using the directory.
 */
import { createHash, randomUUID } from 'node:crypto'
import { linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export class DataDirLockedError extends Error {
  readonly pid: number
  constructor (dataDir: string, pid: number) {
    super((pid === process.pid
      ? `The embedded database at ${dataDir} is already open in this process. `
      : `The embedded database at ${dataDir} is in use by another Switchboard process (pid ${pid}). `) +
      'Stop that process first (or run this command through it), or set DATABASE_URL to use a PostgreSQL server that several processes can share.')
    this.name = 'DataDirLockedError'
    this.pid = pid
  }
}

export interface DataDirLock { release(): void }

/** Tokens of the locks this process holds: a lock with our pid and one of these is live. */
const held = new Set<string>()
/** Tries before giving up on a lock that keeps changing hands (each try is microseconds). */
const MAX_TRIES = 200
/** A lock file still empty after this long lost its writer (only on file systems without hard links). */
const EMPTY_LOCK_GRACE_MS = 5000

export function acquireDataDirLock (dataDir: string): DataDirLock {
  const file = join(dirname(dataDir), `${basename(dataDir)}.lock`)
  mkdirSync(dirname(file), { recursive: true })
  const token = newToken()
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    if (placeExclusive(file, token)) {
      // Re-check: only a lock that still holds our token is ours (a process of an older
      // version, which removed stale locks without a guard, could have replaced it).
      if (readLock(file)?.token !== token) continue
      held.add(token)
      return lockHandle(file, token)
    }
    const holder = readLock(file)
    if (holder === undefined) continue // released in the meantime
    if (holder.state === 'live') throw new DataDirLockedError(dataDir, holder.pid)
    if (holder.state === 'writing') pause()
    else removeIfStill(file, holder.token)
  }
  throw new Error(`Could not lock ${dataDir}: its lock file ${file} kept changing hands`)
}

function lockHandle (file: string, token: string): DataDirLock {
  let released = false
  return {
    release () {
      if (released) return
      released = true
      held.delete(token)
      // Never someone else's: if ours was taken over, the lock under the name is theirs now.
      if (readLock(file)?.token === token) rmSync(file, { force: true })
    }
  }
}

const newToken = (): string => `${process.pid} ${randomUUID()}`

/**
 * Removes `file` if it still holds `stale` (a lock or guard whose process is dead). The guard is
 * named after `stale`, so only processes removing this very lock contend for it. A guard whose
 * own process died is removed the same way, one level up.
 */
function removeIfStill (file: string, stale: string, depth = 0): void {
  const guard = `${file}.${createHash('sha256').update(stale).digest('base64url').slice(0, 16)}`
  const mine = newToken()
  if (!placeExclusive(guard, mine)) {
    const other = readLock(guard)
    if (other?.state === 'dead' && depth < 3) removeIfStill(guard, other.token, depth + 1)
    else pause() // another process is removing it right now
    return
  }
  try {
    if (readLock(file)?.token === stale) rmSync(file, { force: true })
  } finally {
    rmSync(guard, { force: true })
  }
}

/** Creates `file` holding `token` unless the name exists; true when it did. */
function placeExclusive (file: string, token: string): boolean {
  const temporary = `${file}.${randomUUID()}.tmp`
  writeFileSync(temporary, token, { mode: 0o600 })
  try {
    linkSync(temporary, file)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') return createExclusive(file, token)
    throw err
  } finally {
    rmSync(temporary, { force: true })
  }
}

/** For file systems without hard links: O_EXCL create, then write (readers may see it empty briefly). */
function createExclusive (file: string, token: string): boolean {
  let fd: number
  try {
    fd = openSync(file, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try { writeSync(fd, token) } finally { closeSync(fd) }
  return true
}

interface LockHolder { token: string, pid: number, state: 'live' | 'dead' | 'writing' }

function readLock (file: string): LockHolder | undefined {
  let token: string
  try {
    token = readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  // `<pid> <random>`; earlier versions wrote the pid alone.
  const pid = Number(token.split(' ')[0])
  if (token === '') return { token, pid: 0, state: emptyFor(file) }
  return { token, pid, state: holderAlive(pid, token) ? 'live' : 'dead' }
}

function emptyFor (file: string): 'writing' | 'dead' {
  try {
    return Date.now() - statSync(file).mtimeMs < EMPTY_LOCK_GRACE_MS ? 'writing' : 'dead'
  } catch {
    return 'writing' // gone already: the caller tries again
  }
}

function holderAlive (pid: number, token: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  // Our own pid: ours only if this process took it; otherwise a previous life of this pid
  // (containers restart with the same pid).
  if (pid === process.pid) return held.has(token)
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A short synchronous wait while another process finishes a step (opening a database is synchronous here). */
function pause (): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
}
