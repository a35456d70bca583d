/**
 * What operators read from the request log: pages of calls (newest first, keyset), one call,
 * and statistics over a time window. Every query is confined to the principal's team; another
 * team's id answers NOT_FOUND like a missing one. Also the retention purge.
 */
import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import { requestLogs, type RequestLogRow } from '../../db/schema.ts'
import type { Database, Db } from '../../db/client.ts'
import { badInput, notFound } from '../../errors.ts'
import type { Principal } from '../auth/principal.ts'
import type { Clock } from '../clock.ts'
import { isUuid } from '../ids.ts'
import { parsePage, toConnection, type Connection, type PageLimits } from '../pagination.ts'
import { fail, ok, type Result } from '../result.ts'
import { idFloor } from './log-ids.ts'

export interface RequestLogFilter {
  direction?: 'inbound' | 'outbound' | null
  integrationId?: string | null
  provider?: string | null
  apiKeyId?: string | null
  userId?: string | null
  operation?: string | null
  success?: boolean | null
  statusMin?: number | null
  statusMax?: number | null
  errorCode?: string | null
  requestId?: string | null
  /** Inclusive. */
  from?: Date | null
  /** Exclusive. */
  to?: Date | null
}

export type StatsBucket = 'hour' | 'day'
export interface EndpointStat { endpoint: string, calls: number, errors: number, avgDurationMs: number, p95DurationMs: number }
export interface UsageBucket { start: Date, calls: number, errors: number, avgDurationMs: number | null }
export interface RequestLogStats {
  from: Date
  to: Date
  totalCalls: number
  errorCount: number
  errorRate: number
  avgDurationMs: number | null
  p50DurationMs: number | null
  p95DurationMs: number | null
  p99DurationMs: number | null
  topEndpoints: EndpointStat[]
  slowestEndpoints: EndpointStat[]
  errorBreakdown: Array<{ code: string, count: number }>
  usage: UsageBucket[]
}

/** A page without totalCount: counting a large log table per page would cost more than the page. */
export type LogConnection<T> = Omit<Connection<T>, 'totalCount'>

const HOUR = 3_600_000
const DAY = 24 * HOUR
const BUCKET_MS: Record<StatsBucket, number> = { hour: HOUR, day: DAY }
/** Default window and longest allowed window per bucket size (bounds the number of buckets). */
const WINDOW: Record<StatsBucket, { default: number, max: number }> = {
  hour: { default: DAY, max: 31 * DAY },
  day: { default: 30 * DAY, max: 400 * DAY }
}
const TOP_N = 10

export interface RequestLogServiceDeps {
  db: Db
  rows: Database['rows']
  clock: Clock
  pages: PageLimits
}

export class RequestLogService {
  readonly #d: RequestLogServiceDeps
  constructor (deps: RequestLogServiceDeps) { this.#d = deps }

  async list (p: Principal, filter: RequestLogFilter | null | undefined, args: { first?: number | null, after?: string | null }): Promise<Result<LogConnection<RequestLogRow>>> {
    const page = parsePage(args, this.#d.pages)
    if (!page.ok) return page
    const where = whereOf(p.teamId, filter ?? {})
    if (!where.ok) return where
    const { limit, afterId } = page.value
    const rows = await this.#d.db.select().from(requestLogs)
      .where(afterId === undefined ? where.value : and(where.value, lt(requestLogs.id, afterId)))
      .orderBy(desc(requestLogs.id)).limit(limit + 1)
    const { totalCount: _, ...connection } = toConnection(rows, limit, 0)
    return ok(connection)
  }

  async get (p: Principal, id: string): Promise<Result<RequestLogRow>> {
    if (!isUuid(id)) return fail(notFound('Request log'))
    const [row] = await this.#d.db.select().from(requestLogs)
      .where(and(eq(requestLogs.teamId, p.teamId), eq(requestLogs.id, id))).limit(1)
    return row === undefined ? fail(notFound('Request log')) : ok(row)
  }

  async stats (p: Principal, filter: RequestLogFilter | null | undefined, bucket: StatsBucket): Promise<Result<RequestLogStats>> {
    const to = filter?.to ?? this.#d.clock.now()
    const from = filter?.from ?? new Date(to.getTime() - WINDOW[bucket].default)
    if (to.getTime() - from.getTime() > WINDOW[bucket].max) {
      return fail(badInput(`A ${bucket}ly breakdown covers at most ${WINDOW[bucket].max / DAY} days`, { field: 'filter.from' }))
    }
    const where = whereOf(p.teamId, { ...filter, from, to })
    if (!where.ok) return where
    const w = where.value
    const { rows } = this.#d
    const [overall, endpoints, errors, usage] = await Promise.all([
      rows<{ total: number, errors: number, avg: number | null, p50: number | null, p95: number | null, p99: number | null }>(sql`
        select count(*)::int as total, (count(*) filter (where not success))::int as errors, avg(duration_ms) as avg,
               percentile_cont(0.5) within group (order by duration_ms) as p50,
               percentile_cont(0.95) within group (order by duration_ms) as p95,
               percentile_cont(0.99) within group (order by duration_ms) as p99
          from request_logs where ${w}`),
      rows<{ endpoint: string, calls: number, errors: number, avg: number, p95: number }>(sql`
        select endpoint, count(*)::int as calls, (count(*) filter (where not success))::int as errors, avg(duration_ms) as avg,
               percentile_cont(0.95) within group (order by duration_ms) as p95
          from request_logs where ${w} group by endpoint order by calls desc, endpoint limit 500`),
      rows<{ code: string, n: number }>(sql`
        select code, count(*)::int as n from request_logs, unnest(error_codes) as code
         where ${w} and cardinality(error_codes) > 0 group by code order by n desc, code`),
      rows<{ ms: number, calls: number, errors: number, avg: number | null }>(sql`
        select (extract(epoch from date_trunc(${bucket}, created_at, 'UTC')) * 1000)::float8 as ms,
               count(*)::int as calls, (count(*) filter (where not success))::int as errors, avg(duration_ms) as avg
          from request_logs where ${w} group by 1 order by 1`)
    ])
    const o = overall[0]!
    const endpointStats = endpoints.map((e): EndpointStat => ({ endpoint: e.endpoint, calls: e.calls, errors: e.errors, avgDurationMs: Number(e.avg), p95DurationMs: Number(e.p95) }))
    return ok({
      from,
      to,
      totalCalls: o.total,
      errorCount: o.errors,
      errorRate: o.total === 0 ? 0 : o.errors / o.total,
      avgDurationMs: num(o.avg),
      p50DurationMs: num(o.p50),
      p95DurationMs: num(o.p95),
      p99DurationMs: num(o.p99),
      topEndpoints: endpointStats.slice(0, TOP_N),
      slowestEndpoints: [...endpointStats].sort((a, b) => b.p95DurationMs - a.p95DurationMs || a.endpoint.localeCompare(b.endpoint)).slice(0, TOP_N),
      errorBreakdown: errors.map((e) => ({ code: e.code, count: e.n })),
      usage: fillBuckets(usage, from, to, bucket)
    })
  }

  /** Delete rows older than `before`, `batchSize` at a time (short transactions, no long locks). */
  async purgeOlderThan (before: Date, batchSize = 5000): Promise<number> {
    const floor = idFloor(before)
    let total = 0
    for (;;) {
      const [res] = await this.#d.rows<{ n: number }>(sql`
        with gone as (
          delete from request_logs where id in (select id from request_logs where id < ${floor}::uuid order by id limit ${batchSize})
          returning 1)
        select count(*)::int as n from gone`)
      const n = res?.n ?? 0
      total += n
      if (n < batchSize) return total
    }
  }
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v))

function whereOf (teamId: string, f: RequestLogFilter): Result<SQL> {
  const t = requestLogs
  for (const field of ['integrationId', 'apiKeyId'] as const) {
    const v = f[field]
    if (v != null && !isUuid(v)) return fail(badInput(`filter.${field} is not a valid id`, { field: `filter.${field}` }))
  }
  if (f.statusMin != null && f.statusMax != null && f.statusMin > f.statusMax) return fail(badInput('filter.statusMin is above filter.statusMax', { field: 'filter.statusMin' }))
  if (f.from != null && f.to != null && f.from.getTime() > f.to.getTime()) return fail(badInput('filter.from is after filter.to', { field: 'filter.from' }))
  const conditions: Array<SQL | undefined> = [
    eq(t.teamId, teamId),
    f.direction != null ? eq(t.direction, f.direction) : undefined,
    f.integrationId != null ? eq(t.integrationId, f.integrationId) : undefined,
    f.provider != null ? eq(t.provider, f.provider) : undefined,
    f.apiKeyId != null ? eq(t.apiKeyId, f.apiKeyId) : undefined,
    f.userId != null ? eq(t.userId, f.userId) : undefined,
    f.operation != null ? eq(t.operation, f.operation) : undefined,
    f.success != null ? eq(t.success, f.success) : undefined,
    f.statusMin != null ? gte(t.status, f.statusMin) : undefined,
    f.statusMax != null ? lte(t.status, f.statusMax) : undefined,
    f.errorCode != null ? sql`${t.errorCodes} @> array[${f.errorCode}]::text[]` : undefined,
    f.requestId != null ? eq(t.requestId, f.requestId) : undefined,
    // time bounds as id bounds: ids are UUIDv7 of created_at (log-ids.ts)
    f.from != null ? gte(t.id, idFloor(f.from)) : undefined,
    f.to != null ? lt(t.id, idFloor(f.to)) : undefined
  ]
  return ok(and(...conditions)!)
}

function fillBuckets (rows: Array<{ ms: number, calls: number, errors: number, avg: number | null }>, from: Date, to: Date, bucket: StatsBucket): UsageBucket[] {
  const step = BUCKET_MS[bucket]
  const byStart = new Map(rows.map((r) => [Number(r.ms), r]))
  const out: UsageBucket[] = []
  for (let ms = Math.floor(from.getTime() / step) * step; ms < to.getTime(); ms += step) {
    const r = byStart.get(ms)
    out.push({ start: new Date(ms), calls: r?.calls ?? 0, errors: r?.errors ?? 0, avgDurationMs: r === undefined ? null : num(r.avg) })
  }
  return out
}
