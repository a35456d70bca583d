/**
 * Row-level security with the deployment most production databases have: the app connects as a
 * plain login role that owns the tables (no SUPERUSER, no BYPASSRLS), unlike the tests' own
 * superuser, which RLS never applies to. Migrations run as that owner; an administrator grants
 * it membership of switchboard_app (docs/security.md). Then: tenant transactions still work, the
 * owner's cross-team work still sees every team, and the request-log writer still writes, although
 * PostgreSQL refuses COPY into a forced-RLS table for anyone but a superuser or BYPASSRLS role.
 * PostgreSQL only (PGlite has one superuser); it creates a role and a database and drops both.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../../src/db/client.ts'
import { integrations, requestLogs } from '../../src/db/schema.ts'
import { asTenant } from '../../src/db/tenant.ts'
import { logIdAt } from '../../src/domain/request-logs/log-ids.ts'
import type { LogEntry } from '../../src/domain/request-logs/log-entry.ts'
import { postgresCopySink } from '../../src/domain/request-logs/log-sinks.ts'
import { dbKind } from '../helper.ts'
import { twoTeams } from './rls-fixtures.ts'

t.test('a non-superuser table owner: tenant transactions, cross-team reads and the log writer', { skip: dbKind === 'pglite' && 'PostgreSQL only: PGlite runs as its one superuser' }, async (t) => {
  const { default: postgres } = await import('postgres')
  const adminUrl = new URL(process.env.DATABASE_URL!)
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} })
  const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`
  const role = `sb_owner_${suffix}`
  const name = `sb_owner_db_${suffix}`
  await admin.unsafe(`create role ${role} login nosuperuser nobypassrls`)
  await admin.unsafe(`create database ${name} owner ${role}`)
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.unsafe(`drop role if exists ${role}`)
    await admin.end()
  })
  const url = new URL(adminUrl.toString())
  url.username = role
  url.pathname = `/${name}`
  const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 2, migrateOnStart: false })
  t.teardown(() => database.close())
  // The role exists on this server already (other databases' migrations); make sure, as an administrator would.
  await admin.unsafe(`do $$ begin create role switchboard_app nologin nosuperuser nobypassrls; exception when duplicate_object or unique_violation then null; end $$`)
  await admin.unsafe(`grant switchboard_app to ${role}`)
  await database.migrate()

  const [owner] = await database.rows<{ owner: string, forced: boolean }>(sql`select pg_get_userbyid(relowner) as owner, relforcerowsecurity as forced from pg_class where relname = 'request_logs'`)
  t.same(owner, { owner: role, forced: true }, 'the login role owns request_logs, whose RLS is forced')

  const db = database.db
  const { a, b } = await twoTeams(db)
  t.equal((await db.select().from(integrations)).length, 2, 'the owner\'s cross-team work sees every team')
  const seen = await asTenant(db, a, (tx) => tx.select({ name: integrations.name }).from(integrations))
  t.same(seen.map((r) => r.name), ['a-int'], 'a tenant transaction sees its own team only')

  const sink = await postgresCopySink(database.ownClient!)
  t.teardown(() => sink.close())
  const entry = (i: number): LogEntry => {
    const createdAt = new Date(Date.now() - 1000 + i)
    return {
      id: logIdAt(createdAt), createdAt, direction: 'inbound', teamId: i % 2 === 0 ? a : b, requestId: `r-${i}`, principalKind: null, apiKeyId: null,
      userId: null, operationType: 'rest', operation: null, rootFields: [], endpoint: 'GET /x', method: 'GET', path: '/x', status: 200,
      success: true, errorCodes: [], errorMessage: null, durationMs: 1.5, cost: null, integrationId: null, provider: null, attempt: null,
      clientIp: null, userAgent: null
    }
  }
  await sink.write([entry(1), entry(2), entry(3)])
  await sink.write([entry(4), entry(5)])
  const stored = await db.select({ requestId: requestLogs.requestId }).from(requestLogs)
  t.same(stored.map((r) => r.requestId).sort(), ['r-1', 'r-2', 'r-3', 'r-4', 'r-5'], 'every row of both batches written, once')
  // Both lanes refused COPY at the same moment: each moves to the staging table, none throws.
  const fresh = await postgresCopySink(database.ownClient!)
  t.teardown(() => fresh.close())
  await Promise.all([fresh.write([entry(6)]), fresh.write([entry(8)])])
  t.equal((await db.select().from(requestLogs)).length, 7, 'two concurrent first writes both landed')
  const aLogs = await asTenant(db, a, (tx) => tx.select({ requestId: requestLogs.requestId }).from(requestLogs))
  t.same(aLogs.map((r) => r.requestId).sort(), ['r-2', 'r-4', 'r-6', 'r-8'], 'a tenant reads only its own log rows')
})
