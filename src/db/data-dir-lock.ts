/**
 * PGlite is one process's database: two processes opening the same directory corrupt it.
 * The first process to open `./data/pglite` writes a lock file with its pid; any other
 * process (a second server, the CLI) gets a clear DataDirLockedError instead of a broken store.
 * A lock left by a dead process (or by our own pid after a container restart) is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'

export class DataDirLockedError extends Error {
  readonly pid: number
  constructor (dataDir: string, pid: number) {
    super(`The embedded database at ${dataDir} is in use by another Switchboard process (pid ${pid}). ` +
      'Stop that process first (or run this command through it), or set DATABASE_URL to use a PostgreSQL server that several processes can share.')
    this.name = 'DataDirLockedError'
    this.pid = pid
  }
}

export interface DataDirLock { release(): void }

function alive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function acquireDataDirLock (dataDir: string): DataDirLock {
  const file = join(dirname(dataDir), `${dataDir.split('/').at(-1)}.lock`)
  mkdirSync(dirname(file), { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      let released = false
      return {
        release () {
          if (released) return
          released = true
          rmSync(file, { force: true })
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number(readFileSync(file, 'utf8').trim())
      if (alive(holder)) throw new DataDirLockedError(dataDir, holder)
      rmSync(file, { force: true }) // stale: its process is gone
    }
  }
  throw new Error(`Could not lock ${dataDir}`)
}
