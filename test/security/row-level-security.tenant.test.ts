/**
 * asTenant's own guarantees, whatever the driver does with the set_config it sends first (on
 * PostgreSQL it is not awaited before fn runs, so it shares a round trip with fn's first
 * statement): fn's very first statement already runs as switchboard_app for the team, and a
 * set_config that fails fails the whole transaction with its own error, even when fn swallows
 * the failures of its statements, and nothing fn wrote is committed.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../../src/db/client.ts'
import { integrations, teams } from '../../src/db/schema.ts'
import { errorCodes } from '../../src/db/errors.ts'
import { APP_ROLE, asTenant } from '../../src/db/tenant.ts'
import { newId } from '../../src/domain/ids.ts'
import { dbKind, testDatabase } from '../helper.ts'
import { twoTeams } from './rls-fixtures.ts'

t.test('fn\'s first statement already runs as the tenant', async (t) => {
  const { database } = await testDatabase(t)
  const db = database.db
  const { a, b } = await twoTeams(db)
  for (let i = 0; i < 5; i++) { // new and cached prepared statements alike
    const first = await asTenant(db, a, (tx) => tx.select({ name: integrations.name }).from(integrations))
    t.same(first.map((r) => r.name), ['a-int'], `a query builder statement first, no team filter: only A's row (${i})`)
    const awaited = await asTenant(db, a, async (tx) => await tx.select({ name: integrations.name }).from(integrations))
    t.same(awaited.map((r) => r.name), ['a-int'], `the same, awaited inside fn (${i})`)
    const raw: unknown = await asTenant(db, a, (tx) => tx.execute(sql`select current_user as "user", current_setting('app.team_id', true) as team`))
    const row = (Array.isArray(raw) ? raw : (raw as { rows: unknown[] }).rows)[0] // postgres.js: the rows; PGlite: { rows }
    t.same(row, { user: APP_ROLE, team: a }, `a raw statement first: role and team already set (${i})`)
    const both = await asTenant(db, b, (tx) => Promise.all([
      tx.select({ name: integrations.name }).from(integrations),
      tx.select({ name: teams.name }).from(teams)
    ]))
    t.same(both.map((rows) => rows.map((r) => r.name)), [['b-int'], ['b']], `two statements sent at once: both as B (${i})`)
  }
  const [after] = await database.rows<{ team: string | null }>(sql`select nullif(current_setting('app.team_id', true), '') as team`)
  t.equal(after?.team ?? null, null, 'nothing carried past the transaction')
})

t.test('a set_config that fails fails the transaction with its own error; nothing is committed', async (t) => {
  const { database } = await testDatabase(t)
  const db = database.db
  const a = newId()
  await db.insert(teams).values({ id: a, name: 'a' })
  // A NUL byte is refused by the server (SQLSTATE 22021) in the set_config's parameter.
  const broken = `${a}\u0000`
  const swallowed: unknown[] = []
  const err = await asTenant(db, broken, async (tx) => {
    try {
      await tx.insert(integrations).values({ id: newId(), teamId: a, provider: 'rest_api', name: 'planted', status: 'connected', authMode: 'api_key' })
    } catch (e) {
      swallowed.push(e) // fn hides its statement's failure and returns normally
    }
    return 'fn finished'
  }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof Error, 'asTenant rejects although fn returned')
  t.ok(errorCodes(err).includes('22021'), `with the set_config's error (${errorCodes(err).join(', ')})`)
  if (swallowed.length > 0) {
    // fn ran before the set_config's answer came back: its statement failed in the aborted transaction.
    t.ok(errorCodes(swallowed[0]).includes('25P02'), `fn's statement failed too: ${errorCodes(swallowed[0]).join(', ')}`)
  }
  t.equal((await db.select().from(integrations)).length, 0, 'nothing fn wrote was committed')

  const thrown = await asTenant(db, broken, async () => { throw new Error('fn\'s own') }).then(() => undefined, (e: unknown) => e)
  t.ok(errorCodes(thrown).includes('22021') || (thrown as Error).message === 'fn\'s own', 'fn throwing as well: still rejects')

  const ok = await asTenant(db, a, async () => 'no statements at all')
  t.equal(ok, 'no statements at all', 'fn without statements: its result')
  const own = await asTenant(db, a, async () => { throw new Error('fn\'s own') }).then(() => undefined, (e: unknown) => e as Error)
  t.equal(own?.message, 'fn\'s own', 'with a good set_config, fn\'s own error is the one thrown')
})

t.test('a login that may not become switchboard_app: fn runs in the same round trip, fails, and the role error is thrown', { skip: dbKind === 'pglite' && 'PostgreSQL only: PGlite has one superuser' }, async (t) => {
  const { url } = await testDatabase(t)
  const { default: postgres } = await import('postgres')
  const admin = postgres(url!, { max: 1, onnotice: () => {} })
  const role = `sb_not_tenant_${process.pid}_${randomBytes(3).toString('hex')}`
  await admin.unsafe(`create role ${role} login nosuperuser nobypassrls`)
  const asRole = new URL(url!)
  asRole.username = role
  const other = await openDatabase({ kind: 'postgres', url: asRole.toString(), poolSize: 1, migrateOnStart: false })
  t.teardown(async () => {
    await other.close()
    await admin.unsafe(`drop role if exists ${role}`)
    await admin.end()
  })
  const swallowed: unknown[] = []
  const err = await asTenant(other.db, newId(), async (tx) => {
    try {
      await tx.select().from(integrations)
    } catch (e) {
      swallowed.push(e)
    }
    return 'fn finished'
  }).then(() => undefined, (e: unknown) => e)
  t.ok(errorCodes(err).includes('42501'), `rejects with the set_config's error: permission denied to set role (${errorCodes(err).join(', ')})`)
  t.equal(swallowed.length, 1, 'fn\'s statement was sent before that answer came back')
  t.ok(errorCodes(swallowed[0]).includes('25P02'), `and failed in the aborted transaction (${errorCodes(swallowed[0]).join(', ')})`)
  const [row] = await other.rows<{ one: number }>(sql`select 1 as one`)
  t.equal(row?.one, 1, 'the connection serves the next statement')
})
