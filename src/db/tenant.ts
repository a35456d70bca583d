/**
 * Tenant transactions: the second wall behind every query's own team filter.
 *
 * `asTenant(db, teamId, fn)` runs `fn` in a transaction that has switched to the role
 * `switchboard_app` and set `app.team_id`, both transaction-local (set_config(…, true) is
 * SET LOCAL), so a pooled connection never carries a tenant or the role past COMMIT/ROLLBACK.
 * Row-level security (migration 0008) then lets the statements see and write only that team's
 * rows, whatever their WHERE clauses say. Work that spans teams (looking a key up by its hash,
 * the request-log writer, retention, the refresh job, migrations) runs on `db` as the owner, in
 * the few places that say so.
 */
import { entityKind, is, sql } from 'drizzle-orm'
import { PostgresJsSession } from 'drizzle-orm/postgres-js/session'
import type { Sql } from 'postgres'
import type { Db, Tx } from './client.ts'

export const APP_ROLE = 'switchboard_app'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function asTenant<T> (db: Db, teamId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const session = (tx as unknown as { session: unknown }).session // drizzle's; internal in its types
    // Team ids are UUIDs: with nothing to escape, the statement goes as one simple-protocol
    // message. Drizzle's own statements with parameters are sent unprepared, and postgres.js
    // then waits for a Describe answer before it binds: two round trips, and nothing behind
    // them in the pipeline.
    const simple = UUID.test(teamId) ? `select set_config('role', '${APP_ROLE}', true), set_config('app.team_id', '${teamId}', true)` : undefined
    if (simple !== undefined && is(session, PostgresJsSession)) return await pipelined(session, simple, tx, fn)
    if (simple !== undefined && isPglite(session)) {
      await session.client.exec(simple)
      return await fn(tx)
    }
    await tx.execute(sql`select set_config('role', ${APP_ROLE}, true), set_config('app.team_id', ${teamId}, true)`)
    return await fn(tx)
  })
}

/**
 * postgres.js: the set_config is sent without waiting for its answer, so it shares a round trip
 * with fn's first statement. It still runs first: `then` queues it at once, every later query
 * of the transaction is queued after it, and they go out in that order on the transaction's one
 * connection. If it fails the transaction is aborted, so fn's statements fail too, and the
 * set_config's error is the one thrown, even when fn catches its own.
 */
async function pipelined<T> (session: { client: Sql }, setup: string, tx: Tx, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const sent = session.client.unsafe(setup).then(() => undefined, (err: unknown) => ({ err }))
  let result: T
  try {
    result = await fn(tx)
  } catch (err) {
    const failed = await sent
    throw failed === undefined ? err : failed.err
  }
  const failed = await sent
  if (failed !== undefined) throw failed.err
  return result
}

/** drizzle's PGlite session, without loading PGlite's module where PostgreSQL is used. */
function isPglite (session: unknown): session is { client: { exec(query: string): Promise<unknown> } } {
  return (session as { constructor?: Record<symbol, unknown> } | null)?.constructor?.[entityKind] === 'PgliteSession'
}
