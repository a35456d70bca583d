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
import { sql } from 'drizzle-orm'
import type { Db, Tx } from './client.ts'

export const APP_ROLE = 'switchboard_app'

export function asTenant<T> (db: Db, teamId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('role', ${APP_ROLE}, true), set_config('app.team_id', ${teamId}, true)`)
    return await fn(tx)
  })
}
