/**
 * What operators read from the request log: pages of calls (newest first, keyset), one call,
 * and statistics over a time window. Every query is confined to the principal's team, by its
 * filter and by running as the team (asTenant, row-level security); another team's id answers
 * NOT_FOUND like a missing one. Also the rollup backfill and the retention purge, which span teams.
 */
import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import { requestLogRollup, requestLogs, type RequestLogRow } from '../../db/schema.ts'
import type { Database, Db, Queryable } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { badInput, notFound } from '../../errors.ts'
import type { Principal } from '../auth/principal.ts'
import type { Clock } from '../clock.ts'
import { isUuid } from '../ids.ts'
import { parsePage, toConnection, type Connection, type PageLimits } from '../pagination.ts'
import { fail, ok, type Result } from '../result.ts'
import { idFloor } from './log-ids.ts'
import { addPacked, durationBucketSql, mergeInto, percentile, ROLLUP_STATE_INIT, type Histogram } from './log-rollup.ts'

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
    const rows = await asTenant(this.#d.db, p.teamId, (tx) => tx.select().from(requestLogs)
      .where(afterId === undefined ? where.value : and(where.value, lt(requestLogs.id, afterId)))
      .orderBy(desc(requestLogs.id)).limit(limit + 1))
    const { totalCount: _, ...connection } = toConnection(rows, limit, 0)
    return ok(connection)
  }

  async get (p: Principal, id: string): Promise<Result<RequestLogRow>> {
    if (!isUuid(id)) return fail(notFound('Request log'))
    const [row] = await asTenant(this.#d.db, p.teamId, (tx) => tx.select().from(requestLogs)
      .where(and(eq(requestLogs.teamId, p.teamId), eq(requestLogs.id, id))).limit(1))
    return row === undefined ? fail(notFound('Request log')) : ok(row)
  }

  /**
   * Statistics over [from, to). Whole hours since the rollup's `covered_from` come from
   * `request_log_rollup`; the partial hours at the edges, older hours and filters the rollup
   * cannot answer (requestId, userId) come from the raw rows. Both are summed the same way:
   * counts, error counts and averages are exact; percentiles come from the merged duration
   * histograms (log-rollup.ts), within PERCENTILE_RELATIVE_ERROR (2.2 %) of percentile_cont.
   */
  async stats (p: Principal, filter: RequestLogFilter | null | undefined, bucket: StatsBucket): Promise<Result<RequestLogStats>> {
    const to = filter?.to ?? this.#d.clock.now()
    const from = filter?.from ?? new Date(to.getTime() - WINDOW[bucket].default)
    if (to.getTime() - from.getTime() > WINDOW[bucket].max) {
      return fail(badInput(`A ${bucket}ly breakdown covers at most ${WINDOW[bucket].max / DAY} days`, { field: 'filter.from' }))
    }
    const f: RequestLogFilter = { ...filter, from, to }
    const checked = whereOf(p.teamId, f)
    if (!checked.ok) return checked

    // Which part of the window the rollup answers: whole hours, from where it is complete.
    let r1 = Math.ceil(from.getTime() / HOUR) * HOUR
    const r2 = Math.floor(to.getTime() / HOUR) * HOUR
    const rollupable = f.requestId == null && f.userId == null
    if (rollupable && r1 < r2) {
      // Cross-team (runs as the owner): the rollup's one coverage mark belongs to no team (the tenant role has no grant on it).
      const [state] = await this.#d.rows<{ ms: number | null }>(sql`select (extract(epoch from covered_from) * 1000)::float8 as ms from request_log_rollup_state`)
      const covered = state?.ms == null ? Infinity : Number(state.ms)
      r1 = Math.max(r1, covered === -Infinity ? r1 : covered)
    }
    const useRollup = rollupable && r1 < r2
    const rawRanges: Array<[Date, Date]> = useRollup
      ? ([[from, new Date(r1)], [new Date(r2), to]] as Array<[Date, Date]>).filter(([a, b]) => a.getTime() < b.getTime())
      : [[from, to]]
    const parts: SQL[] = rawRanges.map(([a, b]) => sql`
      select created_at as at, endpoint, success, error_codes, 1 as calls, duration_ms as dsum, duration_ms as dmin, duration_ms as dmax,
             array[(${sql.raw(durationBucketSql('duration_ms'))} << 32) | 1] as hist
        from request_logs where ${(whereOf(p.teamId, { ...f, from: a, to: b }) as { value: SQL }).value}`)
    if (useRollup) {
      parts.push(sql`
      select hour as at, endpoint, success, error_codes, calls, duration_sum as dsum, duration_min as dmin, duration_max as dmax, histogram as hist
        from request_log_rollup where ${rollupWhere(p.teamId, f, new Date(r1), new Date(r2))}`)
    }
    const src = sql`(${sql.join(parts, sql` union all `)}) s`

    const [endpoints, histograms, errors, usage] = await asTenant(this.#d.db, p.teamId, (tx) => Promise.all([
      rowsOn<{ endpoint: string, calls: number, errors: number, sum: number, min: number, max: number }>(tx, sql`
        select endpoint, sum(calls)::int as calls, coalesce(sum(calls) filter (where not success), 0)::int as errors,
               sum(dsum)::float8 as sum, min(dmin)::float8 as min, max(dmax)::float8 as max
          from ${src} group by endpoint`),
      rowsOn<{ endpoint: string, h: number }>(tx, sql`
        select endpoint, ((h >> 32) * 4294967296 + sum(h & 4294967295))::float8 as h
          from ${src}, unnest(hist) as h group by endpoint, h >> 32`),
      rowsOn<{ code: string, n: number }>(tx, sql`
        select code, sum(calls)::int as n from ${src}, unnest(error_codes) as code group by code order by n desc, code`),
      rowsOn<{ ms: number, calls: number, errors: number, sum: number }>(tx, sql`
        select (extract(epoch from date_trunc(${bucket}, at, 'UTC')) * 1000)::float8 as ms,
               sum(calls)::int as calls, coalesce(sum(calls) filter (where not success), 0)::int as errors, sum(dsum)::float8 as sum
          from ${src} group by 1 order by 1`)
    ]))

    const histOf = new Map<string, Histogram>()
    for (const { endpoint, h } of histograms) {
      let hist = histOf.get(endpoint)
      if (hist === undefined) histOf.set(endpoint, hist = new Map())
      addPacked(hist, h)
    }
    const all: Histogram = new Map()
    let total = 0
    let errorCount = 0
    let sum = 0
    let min = Infinity
    let max = -Infinity
    for (const e of endpoints) {
      total += e.calls
      errorCount += e.errors
      sum += Number(e.sum)
      min = Math.min(min, Number(e.min))
      max = Math.max(max, Number(e.max))
      mergeInto(all, histOf.get(e.endpoint) ?? new Map())
    }
    const top = [...endpoints].sort((a, b) => b.calls - a.calls || (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0)).slice(0, 500)
    const endpointStats = top.map((e): EndpointStat => ({
      endpoint: e.endpoint,
      calls: e.calls,
      errors: e.errors,
      avgDurationMs: Number(e.sum) / e.calls,
      p95DurationMs: percentile(histOf.get(e.endpoint) ?? new Map(), 0.95, Number(e.min), Number(e.max)) ?? 0
    }))
    return ok({
      from,
      to,
      totalCalls: total,
      errorCount,
      errorRate: total === 0 ? 0 : errorCount / total,
      avgDurationMs: total === 0 ? null : sum / total,
      p50DurationMs: percentile(all, 0.5, min, max),
      p95DurationMs: percentile(all, 0.95, min, max),
      p99DurationMs: percentile(all, 0.99, min, max),
      topEndpoints: endpointStats.slice(0, TOP_N),
      slowestEndpoints: [...endpointStats].sort((a, b) => b.p95DurationMs - a.p95DurationMs || a.endpoint.localeCompare(b.endpoint)).slice(0, TOP_N),
      errorBreakdown: errors.map((e) => ({ code: e.code, count: e.n })),
      usage: fillBuckets(usage, from, to, bucket)
    })
  }

  /**
   * Roll up every raw row older than the rollup's `covered_from` (rows written before the rollup
   * existed, or inserted around the writer) and mark the whole history covered. Idempotent; the
   * rollup table is locked meanwhile, so concurrent writers wait instead of being counted twice.
   */
  async rollUpHistory (): Promise<number> {
    // Cross-team (runs as the owner): the backfill rolls up every team's old rows at once.
    return await this.#d.db.transaction(async (tx) => {
      const q = <T>(query: SQL): Promise<T[]> => rowsOn<T>(tx, query)
      await q(sql`lock table request_log_rollup in exclusive mode`)
      await q(sql.raw(ROLLUP_STATE_INIT))
      const [state] = await q<{ at: string }>(sql`select covered_from::text as at from request_log_rollup_state for update`)
      if (state!.at === '-infinity') return 0
      const [cf] = await q<{ floor: string }>(sql`select (extract(epoch from covered_from) * 1000)::float8 as floor from request_log_rollup_state`)
      const floor = idFloor(new Date(Number(cf!.floor)))
      await q(sql`delete from request_log_rollup where hour < (select covered_from from request_log_rollup_state)`)
      const [done] = await q<{ n: number }>(sql`
        with ins as (
          insert into request_log_rollup as r (team_id, hour, direction, endpoint, operation, provider, integration_id, api_key_id, status, success, error_codes,
                                               calls, duration_sum, duration_min, duration_max, histogram)
          select team_id, hour, direction, endpoint, operation, provider, integration_id, api_key_id, status, success, error_codes,
                 sum(n)::int, sum(s), min(mn), max(mx), array_agg((b << 32) | n order by b)
            from (select team_id, date_trunc('hour', created_at, 'UTC') as hour, direction, endpoint, operation, provider, integration_id, api_key_id,
                         status, success, error_codes, ${sql.raw(durationBucketSql('duration_ms'))} as b,
                         count(*) as n, sum(duration_ms) as s, min(duration_ms) as mn, max(duration_ms) as mx
                    from request_logs where team_id is not null and id < ${floor}::uuid
                   group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12) x
           group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
          returning calls)
        select coalesce(sum(calls), 0)::int as n from ins`)
      await q(sql`update request_log_rollup_state set covered_from = '-infinity'`)
      return done?.n ?? 0
    })
  }

  /** Delete rows older than `before`, `batchSize` at a time (short transactions, no long locks). */
  async purgeOlderThan (before: Date, batchSize = 5000): Promise<number> {
    const floor = idFloor(before)
    let total = 0
    // Cross-team (runs as the owner): retention deletes every team's old rows.
    for (;;) {
      const [res] = await this.#d.rows<{ n: number }>(sql`
        with gone as (
          delete from request_logs where id in (select id from request_logs where id < ${floor}::uuid order by id limit ${batchSize})
          returning 1)
        select count(*)::int as n from gone`)
      const n = res?.n ?? 0
      total += n
      if (n < batchSize) break
    }
    // the rollup keeps the hour `before` falls in: its raw rows are only partly gone
    await this.#d.rows(sql`delete from request_log_rollup where hour < date_trunc('hour', ${before.toISOString()}::timestamptz, 'UTC')`)
    return total
  }
}

/** Rows of a raw statement on the database or a transaction, whatever the driver's result shape. */
async function rowsOn<T> (q: Queryable, query: SQL): Promise<T[]> {
  const res = await q.execute(query) as unknown as T[] | { rows: T[] }
  return Array.isArray(res) ? res : res.rows
}

function whereOf (teamId: string, f: RequestLogFilter): Result<SQL> {
  const t = requestLogs
  for (const field of ['integrationId', 'apiKeyId'] as const) {
    const v = f[field]
    if (v != null && !isUuid(v)) return fail(badInput(`filter.${field} is not a valid id`, { field: `filter.${field}` }))
  }
  if (f.statusMin != null && f.statusMax != null && f.statusMin > f.statusMax) return fail(badInput('filter.statusMin is above filter.statusMax', { field: 'filter.statusMin' }))
  if (f.from != null && f.to != null && f.from.getTime() > f.to.getTime()) return fail(badInput('filter.from is after filter.to', { field: 'filter.from' }))
  const conditions: Array<SQL | undefined> = [
    ...sharedConditions(t, teamId, f),
    f.userId != null ? eq(t.userId, f.userId) : undefined,
    f.requestId != null ? eq(t.requestId, f.requestId) : undefined,
    // time bounds as id bounds: ids are UUIDv7 of created_at (log-ids.ts)
    f.from != null ? gte(t.id, idFloor(f.from)) : undefined,
    f.to != null ? lt(t.id, idFloor(f.to)) : undefined
  ]
  return ok(and(...conditions)!)
}

/** The filter conditions both the raw table and the rollup have columns for. */
function sharedConditions (t: typeof requestLogs | typeof requestLogRollup, teamId: string, f: RequestLogFilter): Array<SQL | undefined> {
  return [
    eq(t.teamId, teamId),
    f.direction != null ? eq(t.direction, f.direction) : undefined,
    f.integrationId != null ? eq(t.integrationId, f.integrationId) : undefined,
    f.provider != null ? eq(t.provider, f.provider) : undefined,
    f.apiKeyId != null ? eq(t.apiKeyId, f.apiKeyId) : undefined,
    f.operation != null ? eq(t.operation, f.operation) : undefined,
    f.success != null ? eq(t.success, f.success) : undefined,
    f.statusMin != null ? gte(t.status, f.statusMin) : undefined,
    f.statusMax != null ? lte(t.status, f.statusMax) : undefined,
    f.errorCode != null ? sql`${t.errorCodes} @> array[${f.errorCode}]::text[]` : undefined
  ]
}

/** The rollup's share of the filter (everything but requestId and userId, which it has no column for). */
function rollupWhere (teamId: string, f: RequestLogFilter, from: Date, to: Date): SQL {
  const t = requestLogRollup
  return and(
    ...sharedConditions(t, teamId, f),
    sql`${t.hour} >= ${from.toISOString()}::timestamptz`,
    sql`${t.hour} < ${to.toISOString()}::timestamptz`
  )!
}

function fillBuckets (rows: Array<{ ms: number, calls: number, errors: number, sum: number }>, from: Date, to: Date, bucket: StatsBucket): UsageBucket[] {
  const step = BUCKET_MS[bucket]
  const byStart = new Map(rows.map((r) => [Number(r.ms), r]))
  const out: UsageBucket[] = []
  for (let ms = Math.floor(from.getTime() / step) * step; ms < to.getTime(); ms += step) {
    const r = byStart.get(ms)
    out.push({ start: new Date(ms), calls: r?.calls ?? 0, errors: r?.errors ?? 0, avgDurationMs: r === undefined ? null : Number(r.sum) / r.calls })
  }
  return out
}
