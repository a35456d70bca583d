/**
 * Reading the audit trail (written by `recordAudit` inside the transactions that make the
 * changes). A team's events newest first, keyset-paginated on UUIDv7 ids, read as the team
 * (asTenant).
 */
import { and, desc, eq, gte, lt } from 'drizzle-orm'
import { auditEvents } from '../../db/schema.ts'
import type { Db } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { badInput } from '../../errors.ts'
import type { Principal } from '../auth/principal.ts'
import { parsePage, toConnection, type PageLimits } from '../pagination.ts'
import { fail, ok, type Result } from '../result.ts'
import type { LogConnection } from './request-log.service.ts'

export interface AuditEventFilter {
  action?: string | null
  actorType?: string | null
  actorId?: string | null
  targetType?: string | null
  targetId?: string | null
  requestId?: string | null
  /** Inclusive. */
  from?: Date | null
  /** Exclusive. */
  to?: Date | null
}

export type AuditEventRow = typeof auditEvents.$inferSelect

export class AuditEventService {
  readonly #d: { db: Db, pages: PageLimits }
  constructor (deps: { db: Db, pages: PageLimits }) { this.#d = deps }

  async list (p: Principal, filter: AuditEventFilter | null | undefined, args: { first?: number | null, after?: string | null }): Promise<Result<LogConnection<AuditEventRow>>> {
    const page = parsePage(args, this.#d.pages)
    if (!page.ok) return page
    const f = filter ?? {}
    if (f.from != null && f.to != null && f.from.getTime() > f.to.getTime()) return fail(badInput('filter.from is after filter.to', { field: 'filter.from' }))
    const t = auditEvents
    const { limit, afterId } = page.value
    const rows = await asTenant(this.#d.db, p.teamId, (tx) => tx.select().from(t).where(and(
      eq(t.teamId, p.teamId),
      f.action != null ? eq(t.action, f.action) : undefined,
      f.actorType != null ? eq(t.actorType, f.actorType) : undefined,
      f.actorId != null ? eq(t.actorId, f.actorId) : undefined,
      f.targetType != null ? eq(t.targetType, f.targetType) : undefined,
      f.targetId != null ? eq(t.targetId, f.targetId) : undefined,
      f.requestId != null ? eq(t.requestId, f.requestId) : undefined,
      f.from != null ? gte(t.createdAt, f.from) : undefined,
      f.to != null ? lt(t.createdAt, f.to) : undefined,
      afterId !== undefined ? lt(t.id, afterId) : undefined
    )).orderBy(desc(t.id)).limit(limit + 1))
    const { totalCount: _, ...connection } = toConnection(rows, limit, 0)
    return ok(connection)
  }
}
