/**
 * The operation_runs / operation_run_items repository: a long operation's row from queued to
 * succeeded/failed, its progress (written as it changes, serialized), and its records appended
 * page by page. Reads are team-scoped: another team's run id is NOT_FOUND. Every statement runs
 * as the run's team (asTenant: row-level security behind the team filters), in the job too.
 */
import { and, asc, count, eq, gt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { operationRunItems, operationRuns, type OperationRunRow } from '../../db/schema.ts'
import { badInput, notFound } from '../../errors.ts'
import type { Clock } from '../clock.ts'
import { isUuid, newId } from '../ids.ts'
import type { PageLimits } from '../pagination.ts'
import { fail, ok, type Result } from '../result.ts'

export interface NewRun { teamId: string, integrationId: string, provider: string, operation: string, input: Record<string, unknown>, createdBy: string }
export interface ItemPage { nodes: unknown[], pageInfo: { hasNextPage: boolean, endCursor: string | null }, totalCount: number }

export class OperationRuns {
  readonly #db: Db
  readonly #clock: Clock
  readonly #pages: PageLimits
  constructor (deps: { db: Db, clock: Clock, pages: PageLimits }) { this.#db = deps.db; this.#clock = deps.clock; this.#pages = deps.pages }

  async create (r: NewRun): Promise<OperationRunRow> {
    const [row] = await asTenant(this.#db, r.teamId, (tx) => tx.insert(operationRuns).values({ id: newId(), ...r, status: 'queued', createdAt: this.#clock.now() }).returning())
    return row!
  }

  async setJob (teamId: string, id: string, jobId: string): Promise<void> {
    await asTenant(this.#db, teamId, (tx) => tx.update(operationRuns).set({ jobId }).where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id))))
  }

  /** Claims a queued run (a redelivered job finds it no longer queued and does nothing). */
  async start (teamId: string, id: string): Promise<OperationRunRow | undefined> {
    const [row] = await asTenant(this.#db, teamId, (tx) => tx.update(operationRuns).set({ status: 'running', startedAt: this.#clock.now() })
      .where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id), eq(operationRuns.status, 'queued'))).returning())
    return row
  }

  async progress (teamId: string, id: string, progress: Record<string, unknown>): Promise<void> {
    await asTenant(this.#db, teamId, (tx) => tx.update(operationRuns).set({ progress }).where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id))))
  }

  /** A page of records and the run's count, in one transaction: the count never disagrees with the items. */
  async appendItems (teamId: string, id: string, from: number, items: unknown[]): Promise<void> {
    if (items.length === 0) return
    await asTenant(this.#db, teamId, async (tx) => {
      await tx.insert(operationRunItems).values(items.map((item, i) => ({ runId: id, seq: from + i, item })))
      await tx.update(operationRuns).set({ itemCount: sql`${operationRuns.itemCount} + ${items.length}` }).where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id)))
    })
  }

  async finish (teamId: string, id: string, outcome: { result: unknown } | { error: Record<string, unknown> }): Promise<void> {
    const done = 'result' in outcome
    await asTenant(this.#db, teamId, (tx) => tx.update(operationRuns).set({
      status: done ? 'succeeded' : 'failed',
      result: done ? outcome.result ?? null : null,
      error: done ? null : outcome.error,
      finishedAt: this.#clock.now()
    }).where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id))))
  }

  async get (teamId: string, id: string): Promise<Result<OperationRunRow>> {
    if (!isUuid(id)) return fail(notFound('Operation run'))
    const [row] = await asTenant(this.#db, teamId, (tx) => tx.select().from(operationRuns).where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id))).limit(1))
    return row === undefined ? fail(notFound('Operation run')) : ok(row)
  }

  /** The team of a run, for a job queued before jobs carried it. */
  async teamOf (id: string): Promise<string | undefined> {
    if (!isUuid(id)) return undefined
    // Cross-team (runs as the owner): the run's id is all such a job knows; its team comes from here.
    const [row] = await this.#db.select({ teamId: operationRuns.teamId }).from(operationRuns).where(eq(operationRuns.id, id)).limit(1)
    return row?.teamId
  }

  /** A run's records in provider order; the cursor is the position (opaque base64url). */
  async items (run: { teamId: string, id: string }, args: { first?: number | null, after?: string | null }): Promise<Result<ItemPage>> {
    const limit = args.first ?? this.#pages.defaultPageSize
    if (!Number.isInteger(limit) || limit < 1 || limit > this.#pages.maxPageSize) return fail(badInput(`first must be between 1 and ${this.#pages.maxPageSize}`, { field: 'first' }))
    let after = -1
    if (args.after != null) {
      const decoded = Buffer.from(args.after, 'base64url').toString('utf8')
      if (!/^seq:\d{1,15}$/.test(decoded)) return fail(badInput('after is not a valid cursor', { field: 'after' }))
      after = Number(decoded.slice(4))
    }
    // operation_run_items has no team_id: its policy shows the items of runs the tenant can see.
    const { rows, total } = await asTenant(this.#db, run.teamId, async (tx) => ({
      rows: await tx.select().from(operationRunItems).where(and(eq(operationRunItems.runId, run.id), gt(operationRunItems.seq, after))).orderBy(asc(operationRunItems.seq)).limit(limit + 1),
      total: (await tx.select({ n: count() }).from(operationRunItems).where(eq(operationRunItems.runId, run.id)))[0]
    }))
    const nodes = rows.slice(0, limit)
    const last = nodes.at(-1)
    return ok({ nodes: nodes.map((r) => r.item), pageInfo: { hasNextPage: rows.length > limit, endCursor: last === undefined ? null : Buffer.from(`seq:${last.seq}`).toString('base64url') }, totalCount: total?.n ?? 0 })
  }
}
