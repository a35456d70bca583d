/**
 * One database type for both drivers: postgres.js against a real server, or PGlite (embedded,
 * WASM Postgres) when no DATABASE_URL is set. Everything above this file sees `Db` only.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type { PGlite } from '@electric-sql/pglite'
import * as schema from './schema.ts'
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.ts'
import type { Config } from '../config.ts'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
/** Anything queries can run on: the database or an open transaction. */
export type Queryable = Db | Tx

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url))

export interface Database {
  db: Db
  kind: 'pglite' | 'postgres'
  /** Apply pending migrations (serialised across instances on Postgres by an advisory lock). */
  migrate(): Promise<void>
  /** True when the newest migration in ./drizzle is applied. */
  migrationsCurrent(): Promise<boolean>
  /** Rows of a raw statement, whatever the driver's result shape. */
  rows<T = Record<string, unknown>>(query: ReturnType<typeof sql>): Promise<T[]>
  /**
   * Postgres only: the connection string, for parts that need a client of their own (pg-boss's
   * pool, the request-log bulk writer: `drizzle(client)` changes the client it is given).
   */
  connectionString: string | undefined
  /** PGlite only: the embedded instance, for adapters that must share its single connection. */
  pglite: PGlite | undefined
  /**
   * LISTEN on `channel` (one notification = one `onMessage(payload)`), on both drivers: a
   * dedicated connection on PostgreSQL, in-process on PGlite. `onListening` runs each time the
   * listener is (re)established; after a reconnect it is the only sign that notifications sent
   * meanwhile were missed. Resolves once listening, with the function that stops it.
   */
  listen(channel: string, onMessage: (payload: string) => void, onListening?: () => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

const MIGRATION_LOCK_KEY = 727_274_001

export async function openDatabase (config: Config['database']): Promise<Database> {
  return config.kind === 'postgres' ? openPostgres(config.url, config.poolSize) : openPglite(config.dataDir)
}

async function openPostgres (url: string, poolSize: number): Promise<Database> {
  const { default: postgres } = await import('postgres')
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const client = postgres(url, { max: poolSize, onnotice: () => {}, connection: { application_name: 'switchboard' } })
  const db = drizzle({ client, schema }) as unknown as Db
  const rows = async <T>(query: ReturnType<typeof sql>): Promise<T[]> => [...(await db.execute(query) as unknown as T[])]
  return {
    db,
    kind: 'postgres',
    rows,
    connectionString: url,
    pglite: undefined,
    listen: (channel, onMessage, onListening) => listenPostgres(client, channel, onMessage, onListening),
    async migrate () {
      // A dedicated single connection so the advisory lock and the migration share a session.
      const lockClient = postgres(url, { max: 1, onnotice: () => {} })
      try {
        await lockClient`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
        const { migrate } = await import('drizzle-orm/postgres-js/migrator')
        await migrate(drizzle({ client: lockClient }), { migrationsFolder: MIGRATIONS_FOLDER })
        await lockClient`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
      } finally {
        await lockClient.end({ timeout: 5 })
      }
    },
    migrationsCurrent: () => migrationsCurrent(rows),
    async close () { await client.end({ timeout: 5 }) }
  }
}

async function openPglite (dataDir: string): Promise<Database> {
  const lock: DataDirLock | undefined = dataDir.startsWith('memory://') ? undefined : acquireDataDirLock(dataDir)
  try {
    const { PGlite } = await import('@electric-sql/pglite')
    const { drizzle } = await import('drizzle-orm/pglite')
    const client = await PGlite.create(dataDir)
    const db = drizzle({ client, schema }) as unknown as Db
    const rows = async <T>(query: ReturnType<typeof sql>): Promise<T[]> => (await db.execute(query) as unknown as { rows: T[] }).rows
    return {
      db,
      kind: 'pglite',
      rows,
      connectionString: undefined,
      pglite: client,
      async listen (channel, onMessage, onListening) {
        const stop = await client.listen(channel, onMessage)
        onListening?.() // in-process: established once, never lost
        return async () => { if (!client.closed) await stop() }
      },
      async migrate () {
        const { migrate } = await import('drizzle-orm/pglite/migrator')
        await migrate(db as never, { migrationsFolder: MIGRATIONS_FOLDER })
      },
      migrationsCurrent: () => migrationsCurrent(rows),
      async close () {
        try { if (!client.closed) await client.close() } finally { lock?.release() }
      }
    }
  } catch (err) {
    lock?.release()
    throw err
  }
}

/**
 * postgres.js keeps one listener connection per client and re-issues LISTEN after it drops,
 * calling `onlisten` again each time.
 */
async function listenPostgres (client: import('postgres').Sql, channel: string, onMessage: (payload: string) => void, onListening?: () => void): Promise<() => Promise<void>> {
  const { unlisten } = await client.listen(channel, onMessage, onListening)
  return async () => { await unlisten().catch(() => {}) } // the client may already be ending
}

interface Journal { entries: Array<{ tag: string, when: number }> }

let journalCache: Journal | undefined
function journal (): Journal {
  journalCache ??= JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as Journal
  return journalCache
}

async function migrationsCurrent (rows: Database['rows']): Promise<boolean> {
  const newest = journal().entries.at(-1)
  if (newest === undefined) return true
  try {
    const applied = await rows<{ created_at: string | number }>(
      sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`)
    return applied.length > 0 && Number(applied[0]!.created_at) >= newest.when
  } catch {
    return false // no migrations table yet
  }
}
