/**
 * Teams are created by operators (CLI) and on first start; GraphQL only reads the caller's own,
 * as that team (asTenant: the tenant role sees its own team row and no other).
 */
import { count, eq } from 'drizzle-orm'
import { teams, type TeamRow } from '../../db/schema.ts'
import type { Db } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { badInput } from '../../errors.ts'
import { isUuid, newId } from '../ids.ts'
import { fail, ok, type Result } from '../result.ts'

export class TeamService {
  readonly #db: Db
  constructor (deps: { db: Db }) { this.#db = deps.db }

  async create (name: string): Promise<Result<TeamRow>> {
    const trimmed = name.trim()
    if (trimmed.length === 0 || trimmed.length > 200) return fail(badInput('team name must be 1 to 200 characters', { field: 'name' }))
    // Cross-team (runs as the owner): a team is created before there is a tenant, and the tenant role cannot write teams.
    const [row] = await this.#db.insert(teams).values({ id: newId(), name: trimmed }).returning()
    return ok(row!)
  }

  /** The team `id`, read as that team: the viewer's own team, or whether a JWT's team exists. */
  async get (id: string): Promise<TeamRow | undefined> {
    if (!isUuid(id)) return undefined
    const [row] = await asTenant(this.#db, id, (tx) => tx.select().from(teams).where(eq(teams.id, id)).limit(1))
    return row
  }

  async isEmpty (): Promise<boolean> {
    // Cross-team (runs as the owner): first start asks whether any team exists at all.
    const [row] = await this.#db.select({ n: count() }).from(teams)
    return (row?.n ?? 0) === 0
  }
}
