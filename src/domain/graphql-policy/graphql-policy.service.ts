/**
 * Per-team GraphQL limits, never above the server's maxima. Read on every request, so the
 * effective policy is cached in-process for a few seconds (like API keys: a change made on
 * another instance applies within `ttlMs`; the instance that makes it applies it at once).
 * Reads and writes run as the team (asTenant), row-level security behind the team filter.
 */
import { eq } from 'drizzle-orm'
import { graphqlPolicies } from '../../db/schema.ts'
import type { Db, Queryable } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { badInput } from '../../errors.ts'
import { recordAudit } from '../audit/audit.ts'
import { actorOf, type Principal } from '../auth/principal.ts'
import { fail, ok, type Result } from '../result.ts'

export interface GraphqlPolicy { depthLimit: number, costLimit: number, introspection: boolean }
export interface PolicyMaxima { maxDepth: number, maxCost: number, introspection: boolean }

export class GraphqlPolicyService {
  readonly #db: Db
  readonly #max: PolicyMaxima
  readonly #ttlMs: number
  readonly #cache = new Map<string, { policy: GraphqlPolicy, at: number }>()

  constructor (deps: { db: Db, maxima: PolicyMaxima, ttlMs: number }) {
    this.#db = deps.db
    this.#max = deps.maxima
    this.#ttlMs = deps.ttlMs
  }

  get maxima (): PolicyMaxima { return this.#max }

  async effective (teamId: string): Promise<GraphqlPolicy> {
    const hit = this.cached(teamId)
    if (hit !== undefined) return hit
    const policy = await asTenant(this.#db, teamId, (tx) => this.#read(tx, teamId))
    if (this.#cache.size > 10_000) this.#cache.clear()
    this.#cache.set(teamId, { policy, at: Date.now() })
    return policy
  }

  /** The team's policy when this instance read it less than the cache TTL ago, synchronously (the request hot path). */
  cached (teamId: string): GraphqlPolicy | undefined {
    const hit = this.#cache.get(teamId)
    return hit !== undefined && Date.now() - hit.at < this.#ttlMs ? hit.policy : undefined
  }

  async update (p: Principal, input: Partial<GraphqlPolicy>, requestId?: string): Promise<Result<GraphqlPolicy>> {
    const result = await asTenant(this.#db, p.teamId, async (tx): Promise<Result<GraphqlPolicy>> => {
      const current = this.cached(p.teamId) ?? await this.#read(tx, p.teamId)
      const next = { ...current, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v != null)) } as GraphqlPolicy
      if (!Number.isInteger(next.depthLimit) || next.depthLimit < 1 || next.depthLimit > this.#max.maxDepth) {
        return fail(badInput(`depthLimit must be between 1 and ${this.#max.maxDepth}`, { field: 'depthLimit' }))
      }
      if (!Number.isInteger(next.costLimit) || next.costLimit < 1 || next.costLimit > this.#max.maxCost) {
        return fail(badInput(`costLimit must be between 1 and ${this.#max.maxCost}`, { field: 'costLimit' }))
      }
      const actor = actorOf(p)
      const values = { ...next, updatedBy: actor.label, updatedAt: new Date() }
      await tx.insert(graphqlPolicies).values({ teamId: p.teamId, ...values })
        .onConflictDoUpdate({ target: graphqlPolicies.teamId, set: values })
      await recordAudit(tx, { teamId: p.teamId, actor, action: 'graphql_policy.updated', target: { type: 'team', id: p.teamId }, metadata: { before: current, after: next }, requestId })
      return ok(this.#clamp(next))
    })
    if (result.ok) this.#cache.delete(p.teamId)
    return result
  }

  /** The team's stored policy within the maxima, or the maxima when it has none. */
  async #read (q: Queryable, teamId: string): Promise<GraphqlPolicy> {
    const [row] = await q.select().from(graphqlPolicies).where(eq(graphqlPolicies.teamId, teamId)).limit(1)
    return this.#clamp(row ?? { depthLimit: this.#max.maxDepth, costLimit: this.#max.maxCost, introspection: true })
  }

  #clamp (p: GraphqlPolicy): GraphqlPolicy {
    return {
      depthLimit: Math.min(p.depthLimit, this.#max.maxDepth),
      costLimit: Math.min(p.costLimit, this.#max.maxCost),
      introspection: p.introspection && this.#max.introspection
    }
  }
}
