/**
 * The operation_runs / operation_run_items repository: a long operation's row from queued to
 * succeeded/failed, its progress (written as it changes, serialized), and its records appended
 * page by page. Reads are team-scoped: another team's run id is NOT_FOUND.
 */
import { and, asc, count, eq, gt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
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
    const [row] = await this.#db.insert(operationRuns).values({ id: newId(), ...r, status: 'queued', createdAt: this.#clock.now() }).returning()
    return row!
  }

  async setJob (id: string, jobId: string): Promise<void> {
    await this.#db.update(operationRuns).set({ jobId }).where(eq(operationRuns.id, id))
  }

  /** Claims a queued run (a redelivered job finds it no longer queued and does nothing). */
  async start (id: string): Promise<OperationRunRow | undefined> {
    const [row] = await this.#db.update(operationRuns).set({ status: 'running', startedAt: this.#clock.now() })
      .where(and(eq(operationRuns.id, id), eq(operationRuns.status, 'queued'))).returning()
    return row
  }

  async progress (id: string, progress: Record<string, unknown>): Promise<void> {
    await this.#db.update(operationRuns).set({ progress }).where(eq(operationRuns.id, id))
  }

  async appendItems (id: string, from: number, items: unknown[]): Promise<void> {
    if (items.length === 0) return
    await this.#db.insert(operationRunItems).values(items.map((item, i) => ({ runId: id, seq: from + i, item })))
    await this.#db.update(operationRuns).set({ itemCount: sql`${operationRuns.itemCount} + ${items.length}` }).where(eq(operationRuns.id, id))
  }

  async finish (id: string, outcome: { result: unknown } | { error: Record<string, unknown> }): Promise<void> {
    const done = 'result' in outcome
    await this.#db.update(operationRuns).set({
      status: done ? 'succeeded' : 'failed',
      result: done ? outcome.result ?? null : null,
      error: done ? null : outcome.error,
      finishedAt: this.#clock.now()
    }).where(eq(operationRuns.id, id))
  }

  async get (teamId: string, id: string): Promise<Result<OperationRunRow>> {
    if (!isUuid(id)) return fail(notFound('Operation run'))
    const [row] = await this.#db.select().from(operationRuns).where(and(eq(operationRuns.teamId, teamId), eq(operationRuns.id, id))).limit(1)
    return row === undefined ? fail(notFound('Operation run')) : ok(row)
  }

  async byId (id: string): Promise<OperationRunRow | undefined> {
    const [row] = await this.#db.select().from(operationRuns).where(eq(operationRuns.id, id)).limit(1)
    return row
  }

  /** The run's records in provider order; the cursor is the position (opaque base64url). */
  async items (runId: string, args: { first?: number | null, after?: string | null }): Promise<Result<ItemPage>> {
    const limit = args.first ?? this.#pages.defaultPageSize
    if (!Number.isInteger(limit) || limit < 1 || limit > this.#pages.maxPageSize) return fail(badInput(`first must be between 1 and ${this.#pages.maxPageSize}`, { field: 'first' }))
    let after = -1
    if (args.after != null) {
      const decoded = Buffer.from(args.after, 'base64url').toString('utf8')
      if (!/^seq:\d{1,15}$/.test(decoded)) return fail(badInput('after is not a valid cursor', { field: 'after' }))
      after = Number(decoded.slice(4))
    }
    const [rows, [total]] = await Promise.all([
      this.#db.select().from(operationRunItems).where(and(eq(operationRunItems.runId, runId), gt(operationRunItems.seq, after))).orderBy(asc(operationRunItems.seq)).limit(limit + 1),
      this.#db.select({ n: count() }).from(operationRunItems).where(eq(operationRunItems.runId, runId))
    ])
    const nodes = rows.slice(0, limit)
    const last = nodes.at(-1)
    return ok({ nodes: nodes.map((r) => r.item), pageInfo: { hasNextPage: rows.length > limit, endCursor: last === undefined ? null : Buffer.from(`seq:${last.seq}`).toString('base64url') }, totalCount: total?.n ?? 0 })
  }
}
