/** Teams are created by operators (CLI) and on first start; GraphQL only reads the caller's own. */
import { count, eq } from 'drizzle-orm'
import { teams, type TeamRow } from '../../db/schema.ts'
import type { Db } from '../../db/client.ts'
import { badInput } from '../../errors.ts'
import { isUuid, newId } from '../ids.ts'
import { fail, ok, type Result } from '../result.ts'

export class TeamService {
  readonly #db: Db
  constructor (deps: { db: Db }) { this.#db = deps.db }

  async create (name: string): Promise<Result<TeamRow>> {
    const trimmed = name.trim()
    if (trimmed.length === 0 || trimmed.length > 200) return fail(badInput('team name must be 1 to 200 characters', { field: 'name' }))
    const [row] = await this.#db.insert(teams).values({ id: newId(), name: trimmed }).returning()
    return ok(row!)
  }

  async get (id: string): Promise<TeamRow | undefined> {
    if (!isUuid(id)) return undefined
    const [row] = await this.#db.select().from(teams).where(eq(teams.id, id)).limit(1)
    return row
  }

  async isEmpty (): Promise<boolean> {
    const [row] = await this.#db.select({ n: count() }).from(teams)
    return (row?.n ?? 0) === 0
  }
}
