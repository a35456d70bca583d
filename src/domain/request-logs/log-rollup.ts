/**
 * The hourly rollup of request logs (table `request_log_rollup`): how a batch of rows becomes
 * one upsert, and how percentiles are read back from the duration histograms.
 *
 * Durations go into log-scale buckets: bucket 0 holds [0, 1 µs], bucket i > 0 holds
 * (1 µs·γ^(i-1), 1 µs·γ^i] with γ = 2^(1/16). A bucket stands for 2·hi/(γ+1), which is within
 * α = (γ−1)/(γ+1) ≈ 2.17 % of every duration in it. A percentile is interpolated the way
 * percentile_cont does it (between the values at ranks ⌊p(n−1)⌋ and ⌈p(n−1)⌉), each rank's value
 * replaced by its bucket's representative, then clamped to the exact min and max: so the answer
 * is within α of the exact percentile_cont (plus 0.5 µs for sub-microsecond durations).
 */
import type { LogEntry } from './log-entry.ts'
import { arrayLiteral } from './pg-array.ts'

/** Sub-buckets per doubling. */
export const HISTOGRAM_SCALE = 16
const GAMMA = 2 ** (1 / HISTOGRAM_SCALE)
/** Relative error bound of a percentile read from the histogram. */
export const PERCENTILE_RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
/** Durations are in ms; the histogram starts at 1 µs. */
const UNIT_MS = 0.001
/** ~2^40 µs (12 days): anything longer shares the last bucket. */
const MAX_BUCKET = 40 * HISTOGRAM_SCALE
const SHIFT = 4_294_967_296 // 2^32

export function durationBucket (ms: number): number {
  if (!(ms > UNIT_MS)) return 0
  return Math.min(MAX_BUCKET, Math.ceil(Math.log2(ms / UNIT_MS) * HISTOGRAM_SCALE))
}

/** The same bucket in SQL (for raw rows and backfills); `col` is a trusted column expression. */
export const durationBucketSql = (col: string): string =>
  `(case when ${col} > ${UNIT_MS} then least(${MAX_BUCKET}, ceil(ln(${col} / ${UNIT_MS}) / ln(2) * ${HISTOGRAM_SCALE}))::bigint else 0::bigint end)`

export function bucketValue (bucket: number): number {
  return bucket === 0 ? UNIT_MS / 2 : UNIT_MS * GAMMA ** bucket * 2 / (GAMMA + 1)
}

/** A merged histogram: bucket → count. */
export type Histogram = Map<number, number>

export function addPacked (h: Histogram, packed: number | string): void {
  const v = Number(packed)
  const bucket = Math.floor(v / SHIFT)
  h.set(bucket, (h.get(bucket) ?? 0) + (v - bucket * SHIFT))
}

export function mergeInto (into: Histogram, from: Histogram): void {
  for (const [b, n] of from) into.set(b, (into.get(b) ?? 0) + n)
}

/** percentile_cont(p) estimated from a histogram of `total` values within [min, max]. */
export function percentile (h: Histogram, p: number, min: number, max: number): number | null {
  let total = 0
  for (const n of h.values()) total += n
  if (total === 0) return null
  const pos = p * (total - 1)
  const lo = Math.floor(pos)
  const frac = pos - lo
  const buckets = [...h.keys()].sort((a, b) => a - b)
  let seen = 0
  let low: number | undefined
  let high: number | undefined
  for (const b of buckets) {
    seen += h.get(b)!
    if (low === undefined && seen > lo) low = bucketValue(b)
    if (seen > lo + 1 || (seen > lo && frac === 0)) { high = bucketValue(b); break }
  }
  high ??= low!
  const v = low! + frac * (high - low!)
  return Math.min(max, Math.max(min, v))
}

/** One rollup row as the writer accumulates it. */
interface RollupAcc {
  teamId: string
  hour: number
  direction: string
  endpoint: string
  operation: string | null
  provider: string | null
  integrationId: string | null
  apiKeyId: string | null
  status: number | null
  success: boolean
  errorCodes: string[]
  calls: number
  sum: number
  min: number
  max: number
  hist: Map<number, number>
}

const HOUR = 3_600_000
// NUL cannot be stored in text (the COPY encoder drops it too): drop it before keying
const noNul = (s: string): string => (s.includes('\0') ? s.replaceAll('\0', '') : s)
const noNulOrNull = (s: string | null): string | null => (s === null ? null : noNul(s))

/** The batch summarised per team, hour and key (rows without a team are not rolled up). */
function aggregate (rows: readonly LogEntry[]): RollupAcc[] {
  const byKey = new Map<string, RollupAcc>()
  for (const r of rows) {
    if (r.teamId === null) continue
    const hour = Math.floor(r.createdAt.getTime() / HOUR) * HOUR
    const endpoint = noNul(r.endpoint)
    const operation = noNulOrNull(r.operation)
    const provider = noNulOrNull(r.provider)
    const errorCodes = r.errorCodes.map(noNul)
    // the same key as the table's unique key: null and '' differ by the \u0000 marker (stripped
    // from the values above), the codes' count tells [] from ['']
    const key = `${r.teamId}\u0001${hour}\u0001${r.direction}\u0001${endpoint}\u0001${operation ?? '\u0000'}\u0001${provider ?? '\u0000'}\u0001${r.integrationId ?? ''}\u0001${r.apiKeyId ?? ''}\u0001${r.status ?? ''}\u0001${r.success ? 1 : 0}\u0001${errorCodes.length}\u0001${errorCodes.join('\u0000')}`
    const d = r.durationMs
    const b = durationBucket(d)
    const acc = byKey.get(key)
    if (acc === undefined) {
      byKey.set(key, {
        teamId: r.teamId, hour, direction: r.direction, endpoint, operation, provider, integrationId: r.integrationId, apiKeyId: r.apiKeyId,
        status: r.status, success: r.success, errorCodes, calls: 1, sum: d, min: d, max: d, hist: new Map([[b, 1]]) })
    } else {
      acc.calls++
      acc.sum += d
      if (d < acc.min) acc.min = d
      if (d > acc.max) acc.max = d
      acc.hist.set(b, (acc.hist.get(b) ?? 0) + 1)
    }
  }
  // in key order, so concurrent batches lock shared rollup rows in the same order (no deadlock)
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, acc]) => acc)
}

const ROLLUP_COLUMNS = 'team_id, hour, direction, endpoint, operation, provider, integration_id, api_key_id, status, success, error_codes, calls, duration_sum, duration_min, duration_max, histogram'
const KEY_COLUMNS = 'team_id, hour, direction, endpoint, operation, provider, integration_id, api_key_id, status, success, error_codes'

/** Adds a batch (or a backfill) to the rollup: counts add up, histograms merge bucket by bucket. */
export const ROLLUP_CONFLICT = `on conflict (${KEY_COLUMNS}) do update set
  calls = r.calls + excluded.calls,
  duration_sum = r.duration_sum + excluded.duration_sum,
  duration_min = least(r.duration_min, excluded.duration_min),
  duration_max = greatest(r.duration_max, excluded.duration_max),
  histogram = (select array_agg((m.b << 32) | m.n order by m.b)
                 from (select v >> 32 as b, sum(v & 4294967295)::bigint as n from unnest(r.histogram || excluded.histogram) v group by 1) m)`

/**
 * One statement for a whole batch: every value travels as a Postgres array literal (text
 * parameters, the same on postgres.js and PGlite), unnested back into rows.
 */
export const ROLLUP_UPSERT = `insert into request_log_rollup as r (${ROLLUP_COLUMNS})
select t.team_id, t.hour, t.direction, t.endpoint, t.operation, t.provider, t.integration_id, t.api_key_id, t.status, t.success,
       t.error_codes::text[], t.calls, t.duration_sum, t.duration_min, t.duration_max, t.histogram::bigint[]
  from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::uuid[], $9::smallint[],
              $10::boolean[], $11::text[], $12::int[], $13::float8[], $14::float8[], $15::float8[], $16::text[])
       as t(team_id, hour, direction, endpoint, operation, provider, integration_id, api_key_id, status, success, error_codes, calls,
            duration_sum, duration_min, duration_max, histogram)
${ROLLUP_CONFLICT}`

/** Parameters of ROLLUP_UPSERT for a batch, or undefined when nothing in it is rolled up. */
export function rollupParams (rows: readonly LogEntry[]): string[] | undefined {
  const accs = aggregate(rows)
  if (accs.length === 0) return undefined
  const col = <T extends string | number | null>(f: (a: RollupAcc) => T): string => arrayLiteral(accs.map(f))
  return [
    col((a) => a.teamId),
    col((a) => new Date(a.hour).toISOString()),
    col((a) => a.direction),
    col((a) => a.endpoint),
    col((a) => a.operation),
    col((a) => a.provider),
    col((a) => a.integrationId),
    col((a) => a.apiKeyId),
    col((a) => a.status),
    col((a) => (a.success ? 't' : 'f')),
    col((a) => arrayLiteral(a.errorCodes)),
    col((a) => a.calls),
    col((a) => a.sum),
    col((a) => a.min),
    col((a) => a.max),
    col((a) => arrayLiteral([...a.hist].sort((x, y) => x[0] - y[0]).map(([b, n]) => b * SHIFT + n)))
  ]
}

/** Sets where the rollup is complete, if no writer did before: the next hour. */
export const ROLLUP_STATE_INIT = `insert into request_log_rollup_state (singleton, covered_from)
  values (true, date_trunc('hour', now(), 'UTC') + interval '1 hour') on conflict do nothing`
