/**
 * Row-level security, the second wall (our security checklist §1.4 tests 4 and 5), on the
 * database under test: every table with a team_id has RLS enabled and forced, the tenant role is
 * neither owner, superuser nor BYPASSRLS, and inside asTenant a statement with no team filter
 * at all sees and writes only its own team's rows, and nothing when no team is set.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { apiKeys, integrations, outboxEvents, teams } from '../../src/db/schema.ts'
import { APP_ROLE, asTenant } from '../../src/db/tenant.ts'
import { newId } from '../../src/domain/ids.ts'
import { testDatabase } from '../helper.ts'
import { twoTeams } from './rls-fixtures.ts'

t.test('catalog: every table with team_id has forced RLS; the tenant role cannot bypass it', async (t) => {
  const { database } = await testDatabase(t)
  const tables = await database.rows<{ table: string, rls: boolean, forced: boolean, owner: string }>(sql`
    select c.relname as "table", c.relrowsecurity as rls, c.relforcerowsecurity as forced, pg_get_userbyid(c.relowner) as owner
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p')
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'team_id' and not a.attisdropped)
    order by 1`)
  t.ok(tables.length >= 12, `found the tenant tables (${tables.map((r) => r.table).join(', ')})`)
  t.same(tables.filter((r) => !r.rls || !r.forced).map((r) => r.table), [], 'no tenant table without enabled and forced RLS')
  t.notOk(tables.some((r) => r.owner === APP_ROLE), 'the tenant role owns no table')
  const [role] = await database.rows<{ super: boolean, bypass: boolean, login: boolean }>(sql`select rolsuper as super, rolbypassrls as bypass, rolcanlogin as login from pg_roles where rolname = ${APP_ROLE}`)
  t.same(role, { super: false, bypass: false, login: false }, 'switchboard_app: NOSUPERUSER, NOBYPASSRLS, NOLOGIN')
  const policies = await database.rows<{ table: string }>(sql`select tablename as "table" from pg_policies where schemaname = 'public' and ${APP_ROLE} = any(roles)`)
  t.same(tables.filter((r) => !policies.some((p) => p.table === r.table)).map((r) => r.table), [], 'each tenant table has a policy for the tenant role')
})

t.test('as the tenant: another team\'s rows are invisible and unwritable; no team, no rows', async (t) => {
  const { database } = await testDatabase(t)
  const db = database.db
  const { a, b } = await twoTeams(db)
  const key = (teamId: string, name: string) => ({ id: newId(), teamId, name, prefix: 'sb_live_test', keyHash: newId() + newId(), scopes: ['keys:read'], createdBy: 'test', expiresAt: new Date(Date.now() + 86_400_000) })
  await db.insert(apiKeys).values([key(a, 'a-key'), key(b, 'b-key')])

  // No WHERE on team: only the policy stands between team A and team B's rows.
  const seen = await asTenant(db, a, async (tx) => ({
    keys: (await tx.select({ name: apiKeys.name }).from(apiKeys)).map((r) => r.name),
    ints: (await tx.select({ name: integrations.name }).from(integrations)).map((r) => r.name),
    teams: (await tx.select({ name: teams.name }).from(teams)).map((r) => r.name)
  }))
  t.same(seen.keys, ['a-key'], 'api_keys: only A\'s')
  t.same(seen.ints, ['a-int'], 'integrations: only A\'s')
  t.same(seen.teams, ['a'], 'teams: only A itself')

  const updated = await asTenant(db, a, (tx) => tx.update(integrations).set({ name: 'renamed' }).returning({ id: integrations.id }))
  t.equal(updated.length, 1, 'an unfiltered UPDATE touches only A\'s row')
  const bRow = await db.select({ name: integrations.name }).from(integrations).where(sql`${integrations.teamId} = ${b}`)
  t.equal(bRow[0]!.name, 'b-int', 'B\'s row is unchanged')

  const err = await asTenant(db, a, (tx) => tx.insert(apiKeys).values(key(b, 'planted'))).then(() => undefined, (e: unknown) => e as { code?: string, cause?: { code?: string } })
  t.equal(err?.cause?.code ?? err?.code, '42501', 'inserting a row for team B: SQLSTATE 42501')
  t.equal((await db.select().from(apiKeys).where(sql`${apiKeys.name} = 'planted'`)).length, 0, 'nothing planted')

  // outbox_events draws its id from a sequence: the tenant may insert its own events, not B's.
  await asTenant(db, a, (tx) => tx.insert(outboxEvents).values({ teamId: a, topic: 'test.event', payload: {} }))
  const outboxErr = await asTenant(db, a, (tx) => tx.insert(outboxEvents).values({ teamId: b, topic: 'test.event', payload: {} })).then(() => undefined, (e: unknown) => e as { code?: string, cause?: { code?: string } })
  t.equal(outboxErr?.cause?.code ?? outboxErr?.code, '42501', 'an outbox event for team B: SQLSTATE 42501')
  t.equal((await db.select().from(outboxEvents)).length, 1, 'only A\'s event was written')

  const none = await db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('role', ${APP_ROLE}, true)`)
    return tx.select({ name: apiKeys.name }).from(apiKeys)
  })
  t.same(none, [], 'the tenant role with no team set sees no rows')

  const after = await database.rows<{ u: string, team: string | null }>(sql`select current_user as u, current_setting('app.team_id', true) as team`)
  t.not(after[0]!.u, APP_ROLE, 'the role ends with the transaction')
  t.notOk(after[0]!.team, 'so does the team')
})
