/**
 * One database type for both drivers: postgres.js against a real server, or PGlite (embedded,
 * WASM Postgres) when no DATABASE_URL is set. Everything above this file sees `Db` only.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type { PGlite } from '@electric-sql/pglite'
import type { Options as PostgresOptions, PendingQuery, Sql, TransactionSql } from 'postgres'
import * as schema from './schema.ts'
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.ts'
import { DatabaseGate, type GateLog } from './availability.ts'
import { DatabaseUnavailableError, isDatabaseUnavailable, worthOneRetry } from './errors.ts'
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
  /** Resolves when the database answers `select 1` within the connect timeout; never hangs (readiness). */
  ping(): Promise<void>
  /**
   * Postgres only: the connection string, for parts that need a client of their own (pg-boss's
   * pool, the request-log bulk writer: `drizzle(client)` changes the client it is given).
   */
  connectionString: string | undefined
  /**
   * Postgres only: a postgres.js client of its own (`drizzle(client)` changes the client it is
   * given), with the same bounded connect timeout and reconnect backoff as the pool.
   */
  ownClient: ((options: { applicationName: string, max: number, idleTimeoutSeconds?: number, onclose?: () => void }) => Sql) | undefined
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

/** Default for DATABASE_CONNECT_TIMEOUT_MS, and PGlite's bound on a health query. */
const DEFAULT_CONNECT_TIMEOUT_MS = 1000
/** Longest reconnect backoff. postgres.js's own grows to 10–20 s across the pool after ~7 failures. */
const MAX_BACKOFF_SECONDS = 0.25
/** How often the outage probe asks whether PostgreSQL answers again. */
const PROBE_MS = 200

export async function openDatabase (config: Config['database'], opts: { log?: GateLog } = {}): Promise<Database> {
  return config.kind === 'postgres'
    ? openPostgres(config.url, config.poolSize, config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, opts.log)
    : openPglite(config.dataDir)
}

/**
 * postgres.js options that bound every wait for a connection: connecting gives up after the
 * connect timeout, and the reconnect backoff (shared by a client's connections, reset only by a
 * successful connect) stops growing at MAX_BACKOFF_SECONDS, so a client serves again within a
 * fraction of a second of PostgreSQL's return.
 */
export function boundedOptions (connectTimeoutMs: number): Pick<PostgresOptions<Record<string, never>>, 'connect_timeout' | 'backoff' | 'onnotice'> {
  return {
    connect_timeout: connectTimeoutMs / 1000,
    backoff: (retries: number) => Math.min(MAX_BACKOFF_SECONDS, 0.01 * 2 ** retries) * (0.5 + Math.random() / 2),
    onnotice: () => {}
  }
}

function withTimeout<T> (work: PromiseLike<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(onTimeout()), ms) })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

async function openPostgres (url: string, poolSize: number, connectTimeoutMs: number, log: GateLog | undefined): Promise<Database> {
  const { default: postgres } = await import('postgres')
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const bounded = boundedOptions(connectTimeoutMs)
  const ownClient: NonNullable<Database['ownClient']> = ({ applicationName, max, idleTimeoutSeconds, onclose }) => postgres(url, {
    ...bounded,
    max,
    ...(idleTimeoutSeconds !== undefined && { idle_timeout: idleTimeoutSeconds }),
    ...(onclose !== undefined && { onclose }),
    connection: { application_name: applicationName }
  })
  const newPool = (): Sql => postgres(url, { ...bounded, max: poolSize, connection: { application_name: 'switchboard' } })
  const pool = new RenewablePool(newPool())
  const gate = new DatabaseGate({
    probeMs: PROBE_MS,
    log,
    onRecovered: () => { pool.renew(newPool()) },
    // A connection of its own each time: the pool's may wait out a backoff or hold a stale error.
    async probe () {
      const probe = postgres(url, { ...bounded, max: 1, fetch_types: false, connection: { application_name: 'switchboard-probe' } })
      try {
        await withTimeout(probe`select 1`, connectTimeoutMs, () => new DatabaseUnavailableError('probe timed out'))
      } finally {
        void probe.end({ timeout: 0 })
      }
    }
  })
  // LISTEN runs on a client of its own (postgres.js gives it a dedicated connection that reconnects by itself), so renewing the pool leaves it alone.
  let listener: Sql | undefined
  const db = drizzle({ client: guardedClient(pool, gate), schema }) as unknown as Db
  const rows = async <T>(query: ReturnType<typeof sql>): Promise<T[]> => [...(await db.execute(query) as unknown as T[])]
  return {
    db,
    kind: 'postgres',
    rows,
    async ping () {
      await withTimeout(rows(sql`select 1`), connectTimeoutMs, () => {
        const err = new DatabaseUnavailableError(`no answer to select 1 within ${connectTimeoutMs} ms`)
        gate.failed(err)
        return err
      })
    },
    connectionString: url,
    ownClient,
    pglite: undefined,
    listen: (channel, onMessage, onListening) => listenPostgres(listener ??= ownClient({ applicationName: 'switchboard-listen', max: 1 }), channel, onMessage, onListening),
    async migrate () {
      // A dedicated single connection so the advisory lock and the migration share a session.
      const lockClient = postgres(url, { ...bounded, max: 1 })
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
    async close () {
      gate.close()
      await Promise.all([pool.close(), listener?.end({ timeout: 5 })])
    }
  }
}

const READ_ONLY = /^\s*select\b/i

/**
 * The query pool, replaced after a connection failure. postgres.js 3.4.9 reuses each pool slot's
 * connection object for good, and a socket that closes with a small write still pending leaves
 * that object unable to send its next start-up message (its write timer is cleared but not
 * reset): the slot then times out on every connect, long after PostgreSQL is back. A fresh pool
 * has no such state; the old one finishes what it is running and is closed.
 */
class RenewablePool {
  #current: Sql
  constructor (first: Sql) { this.#current = first }
  get current (): Sql { return this.#current }

  renew (next: Sql): void {
    const previous = this.#current
    // drizzle adjusts parsers and serializers on the client it is given (and postgres.js adds the array types it fetched): keep them.
    Object.assign(next.options.parsers, previous.options.parsers)
    Object.assign(next.options.serializers, previous.options.serializers)
    this.#current = next
    void previous.end({ timeout: 5 }).catch(() => {})
  }

  close (): Promise<void> { return this.#current.end({ timeout: 5 }) }
}

/**
 * The pool as drizzle sees it (drizzle calls `unsafe` and `begin`), with the outage rules:
 * refused at once while the gate is closed; one retry when worthOneRetry says a retry can cure the
 * error (the stale error postgres.js replays on a reconnected socket); any other unavailability
 * closes the gate.
 */
function guardedClient (pool: RenewablePool, gate: DatabaseGate): Sql {
  const guarded = async <T>(exec: () => PromiseLike<T>, retry: (err: unknown) => boolean): Promise<T> => {
    gate.check()
    try {
      return await exec()
    } catch (err) {
      if (!retry(err)) { gate.failed(err); throw err }
      try {
        return await exec()
      } catch (again) {
        gate.failed(again)
        throw again
      }
    }
  }

  // drizzle awaits `unsafe(…)` or `unsafe(…).values()`; the query is made only then, once per attempt.
  const unsafe = (query: string, params?: unknown[], options?: object): unknown => {
    const readOnly = READ_ONLY.test(query)
    const attempt = (values: boolean) => (): PendingQuery<never> => {
      const q = pool.current.unsafe(query, params as never, options as never)
      return (values ? q.values() : q) as PendingQuery<never>
    }
    let whole: Promise<unknown> | undefined
    return {
      values: () => guarded(attempt(true), (err) => worthOneRetry(err, readOnly)),
      then: (ok: (v: unknown) => unknown, ko: (e: unknown) => unknown) => (whole ??= guarded(attempt(false), (err) => worthOneRetry(err, readOnly))).then(ok, ko)
    }
  }

  const begin = (...args: unknown[]): Promise<unknown> => {
    const fn = args.pop() as (tx: TransactionSql) => unknown
    let started = false
    return guarded(() => {
      started = false
      return transaction(pool.current, args as [string?], (tx) => { started = true; return fn(tx) })
    }, (err) => !started && worthOneRetry(err, true)) // a retry only when the callback never ran
  }

  return new Proxy(pool.current, {
    get (_target, prop) {
      if (prop === 'unsafe') return unsafe
      if (prop === 'begin') return begin
      return Reflect.get(pool.current, prop) as unknown
    }
  })
}

/**
 * `client.begin`, safe against a connection that dies inside the transaction. postgres.js then
 * rejects `begin`, but its own `rollback` after the callback fails is written to the closed
 * socket from a setImmediate, an uncaught TypeError that ends the process (porsager/postgres#1154,
 * #1208). So once the connection is gone, the callback's failure is not handed back to
 * postgres.js (it never settles: there is nothing to roll back on a closed session), and queries
 * the callback still makes are refused here instead of reaching the dead connection.
 */
function transaction (client: Sql, options: [string?], fn: (tx: TransactionSql) => unknown): Promise<unknown> {
  let gone = false
  const run = async (tx: TransactionSql): Promise<unknown> => {
    try {
      return await fn(guardedTransaction(tx, () => gone))
    } catch (err) {
      if (isDatabaseUnavailable(err)) {
        // The connection's close rejects `begin` synchronously with the queries: one turn is enough to see it.
        await new Promise((resolve) => setImmediate(resolve))
        if (gone) return await new Promise(() => {})
      }
      throw err
    }
  }
  const done = options[0] === undefined ? client.begin(run) : client.begin(options[0], run)
  done.then(undefined, () => { gone = true })
  return done
}

function guardedTransaction (tx: TransactionSql, gone: () => boolean): TransactionSql {
  const refused = (): Promise<never> => Promise.reject(new DatabaseUnavailableError('the transaction\'s connection was lost'))
  return new Proxy(tx, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop === 'unsafe') {
        return (...a: unknown[]) => gone()
          ? { values: refused, then: (ok: (v: unknown) => unknown, ko: (e: unknown) => unknown) => refused().then(ok, ko) }
          : (value as (...b: unknown[]) => unknown).apply(target, a)
      }
      if (prop === 'savepoint') return (...a: unknown[]) => gone() ? refused() : (value as (...b: unknown[]) => unknown).apply(target, a)
      return value
    }
  })
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
      async ping () {
        await withTimeout(rows(sql`select 1`), DEFAULT_CONNECT_TIMEOUT_MS, () => new DatabaseUnavailableError('the embedded database did not answer'))
      },
      connectionString: undefined,
      ownClient: undefined,
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
