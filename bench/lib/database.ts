/**
 * A migrated, empty database for a benchmark: PGlite in memory, or a fresh database created on a
 * PostgreSQL server (and dropped afterwards) so a run never touches existing data.
 */
import { randomBytes } from 'node:crypto'
import { openDatabase, type Database } from '../../src/db/client.ts'

export interface BenchDatabase {
  database: Database
  /** "PGlite (memory)" or "PostgreSQL 15.x (127.0.0.1:5432)". */
  label: string
  /** Close the database and drop it when it was created here. */
  dispose(): Promise<void>
}

/** The local test server named by the brief; BENCH_DATABASE_URL overrides it. */
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'

/**
 * PGlite as `npm start` runs it: a store in a directory (here a temporary one), not `memory://`,
 * whose in-memory file system grows files by copying them and would overstate write costs.
 */
export async function pgliteDatabase (): Promise<BenchDatabase> {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-pglite-'))
  const database = await openDatabase({ kind: 'pglite', dataDir: join(dir, 'pglite'), migrateOnStart: true })
  await database.migrate()
  return {
    database,
    label: 'PGlite (file)',
    dispose: async () => { await database.close(); rmSync(dir, { recursive: true, force: true }) }
  }
}

/** Creates `sb_bench_<pid>_<random>` on the server at `serverUrl`, migrates it, drops it on dispose. */
export async function postgresDatabase (serverUrl: string): Promise<BenchDatabase> {
  const { default: postgres } = await import('postgres')
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  const name = `sb_bench_${process.pid}_${randomBytes(4).toString('hex')}`
  let version: string
  try {
    const [row] = await admin<Array<{ v: string }>>`select current_setting('server_version') as v`
    version = row?.v ?? '?'
    await admin.unsafe(`create database ${name}`)
  } catch (err) {
    await admin.end({ timeout: 1 })
    throw err
  }
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 10, migrateOnStart: false })
  await database.migrate()
  return {
    database,
    label: `PostgreSQL ${version.split(' ')[0]} (${url.host})`,
    async dispose () {
      await database.close()
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end({ timeout: 5 })
    }
  }
}

/**
 * Opens a benchmark database, measures on it and disposes of it; when it cannot be opened (no
 * server at the URL), a line saying so takes the place of the result.
 */
export async function onDatabase<R> (open: () => Promise<BenchDatabase>, what: string, measure: (db: BenchDatabase) => Promise<R>): Promise<R | string> {
  let db: BenchDatabase
  try {
    db = await open()
  } catch (err) {
    return `${what}: skipped, could not open (${(err as Error).message})`
  }
  try {
    return await measure(db)
  } finally {
    await db.dispose()
  }
}
