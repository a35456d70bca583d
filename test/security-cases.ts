/**
 * The shared security cases every GraphQL operation must pass:
 * - no credentials → 401 UNAUTHENTICATED and no data;
 * - a valid principal without the required scope → 403 FORBIDDEN and nothing written;
 * - another team's id → NOT_FOUND, answered exactly as for an id that does not exist.
 * Test files describe their operations in a table and call `runSecurityCases`.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Test } from 'tap'
import type { TestApp } from './helper.ts'

type Tap = Test

export interface OperationCase {
  name: string
  query: string
  /** Scope the operation requires, or 'authenticated' when any principal may call it. */
  scope: string
  /** Variables for the forbidden and unauthenticated calls (ids of the caller's own team). */
  variables?: (own: Fixture) => Record<string, unknown>
  /**
   * Variables naming another team's object, and the same call with a random missing id:
   * both must answer NOT_FOUND with the same message.
   */
  crossTeam?: { foreign: (other: Fixture) => Record<string, unknown>, missing: () => Record<string, unknown> }
}

export interface Fixture { teamId: string, adminKey: string, keyId: string }

/**
 * The rows of `tables` as text, in a fixed order, without `usage_count` and `last_used_at`: a
 * call with a valid key counts as a use even when it is refused, and the batched usage flush may
 * land at any time. Compared with `t.same`, a difference names the row.
 */
export async function tableRows (app: TestApp, tables: readonly string[]): Promise<string[]> {
  const rows: string[] = []
  for (const table of tables) {
    const got = await app.database.rows<{ x: string }>(sql.raw(
      `select (to_jsonb(t) - 'usage_count' - 'last_used_at')::text as x from ${table} t order by x`))
    for (const r of got) rows.push(`${table} ${r.x}`)
  }
  return rows
}

/** Everything the operations under test could change. */
export const snapshot = (app: TestApp): Promise<string[]> => tableRows(app, ['api_keys', 'audit_events', 'graphql_policies', 'teams'])

/**
 * Runs as one subtest, fixtures included. Test files call this at their top level after their
 * own subtests, which tap starts at once: fixtures made outside a subtest were written while an
 * earlier subtest ran, and one asserting "no row written" saw their rows (a CI failure).
 */
export async function runSecurityCases (t: Tap, app: TestApp, cases: OperationCase[]): Promise<void> {
  await t.test('security cases', async (t) => {
    const own = await fixture(app, 'security-own')
    const other = await fixture(app, 'security-other')
    for (const c of cases) await securityCase(t, app, c, own, other)
  })
}

async function securityCase (t: Tap, app: TestApp, c: OperationCase, own: Fixture, other: Fixture): Promise<void> {
  await t.test(`${c.name}: security`, async (t) => {
    const variables = c.variables?.(own)

    const anon = await app.gql(c.query, { ...(variables !== undefined && { variables }) })
    t.equal(anon.status, 401, 'unauthenticated → 401')
    t.equal(anon.body.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
    t.equal(anon.body.data ?? null, null, 'no data without credentials')

    if (c.scope !== 'authenticated') {
      const wrong = await app.keyWith(own.teamId, [c.scope === 'sync:read' ? 'sync:write' : 'sync:read'])
      const before = await snapshot(app)
      const res = await app.gql(c.query, { auth: wrong.key, ...(variables !== undefined && { variables }) })
      t.equal(res.status, 403, 'wrong scope → 403')
      t.equal(res.body.errors?.[0]?.extensions.code, 'FORBIDDEN')
      t.same(await snapshot(app), before, 'nothing written')
    }

    if (c.crossTeam !== undefined) {
      const foreign = await app.gql(c.query, { auth: own.adminKey, variables: c.crossTeam.foreign(other) })
      const missing = await app.gql(c.query, { auth: own.adminKey, variables: c.crossTeam.missing() })
      t.equal(foreign.body.errors?.[0]?.extensions.code, 'NOT_FOUND', "another team's id → NOT_FOUND")
      t.equal(foreign.status, missing.status, 'same status as a missing id')
      t.equal(foreign.body.errors?.[0]?.message, missing.body.errors?.[0]?.message, 'same message as a missing id')
    }
  })
}

async function fixture (app: TestApp, name: string): Promise<Fixture> {
  const team = await app.seedTeam(name)
  const key = await app.keyWith(team.teamId, ['keys:read'])
  return { teamId: team.teamId, adminKey: team.adminKey, keyId: key.id }
}

export const randomId = (): string => randomUUID()
