/** Whether a team named by a JWT exists, cached briefly so JWT requests skip the lookup. */
import type { TeamService } from '../teams/team.service.ts'
import type { TeamDirectory } from './authenticator.ts'

export class CachedTeamDirectory implements TeamDirectory {
  readonly #teams: TeamService
  readonly #ttlMs: number
  readonly #known = new Map<string, number>()

  constructor (deps: { teams: TeamService, ttlMs: number }) {
    this.#teams = deps.teams
    this.#ttlMs = deps.ttlMs
  }

  async exists (teamId: string, beforeLookup?: () => Promise<void>): Promise<boolean> {
    const at = this.#known.get(teamId)
    if (at !== undefined && Date.now() - at < this.#ttlMs) return true
    await beforeLookup?.()
    const found = (await this.#teams.get(teamId)) !== undefined
    if (found) {
      if (this.#known.size > 50_000) this.#known.clear()
      this.#known.set(teamId, Date.now())
    }
    return found
  }
}
