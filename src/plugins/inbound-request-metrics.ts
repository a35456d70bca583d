/**
 * `switchboard_requests_total` and `switchboard_request_duration_seconds`: every inbound request,
 * by operation and HTTP status. Counted on the hot path in plain numbers (a Map lookup and two
 * increments) and turned into Prometheus series only when /metrics is scraped, through the
 * registry's `registerMetric`.
 *
 * Why not prom-client's Counter and Histogram here: their `inc` and `observe` validate and hash a
 * label object and find the bucket by its stringified bound on every call — about 2 µs of every
 * gateway request in the profile, for data read once per scrape. The exposition is the same as
 * theirs (same names, labels, cumulative `le` buckets, `_sum`, `_count`).
 */
import type { Metric, Registry } from 'prom-client'

/** Operation names come from clients: cap the label's cardinality so /metrics stays small. */
export const MAX_OPERATIONS = 200
export const OTHER_OPERATION = 'other'

interface Series {
  readonly labels: { readonly operation: string, readonly status: string }
  count: number
  sum: number
  /** Per bound, not cumulative; the last slot counts durations above every bound (+Inf). */
  readonly buckets: number[]
}

interface MetricValue { value: number, labels: Record<string, string | number>, metricName?: string }

export class InboundRequestMetrics {
  readonly #bounds: readonly number[]
  /** operation → status → series. */
  #series = new Map<string, Map<number, Series>>()

  constructor (registry: Registry, bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b)
    const register = (name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[]): void => {
      const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }), reset: () => { this.#series = new Map() } }
      registry.registerMetric(metric as unknown as Metric)
    }
    register('switchboard_requests_total', 'Inbound requests by operation and HTTP status', 'counter', () => this.#counts())
    register('switchboard_request_duration_seconds', 'Inbound request duration by operation and HTTP status', 'histogram', () => this.#histogram())
  }

  observe (operation: string, status: number, seconds: number): void {
    let byStatus = this.#series.get(operation)
    if (byStatus === undefined) {
      if (this.#series.size >= MAX_OPERATIONS && operation !== OTHER_OPERATION) { this.observe(OTHER_OPERATION, status, seconds); return }
      byStatus = new Map()
      this.#series.set(operation, byStatus)
    }
    let s = byStatus.get(status)
    if (s === undefined) {
      s = { labels: { operation, status: String(status) }, count: 0, sum: 0, buckets: new Array<number>(this.#bounds.length + 1).fill(0) }
      byStatus.set(status, s)
    }
    s.count++
    s.sum += seconds
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && seconds > bounds[i]!) i++
    s.buckets[i]!++
  }

  * #each (): Generator<Series> {
    for (const byStatus of this.#series.values()) yield * byStatus.values()
  }

  #counts (): MetricValue[] {
    return [...this.#each()].map((s) => ({ labels: { ...s.labels }, value: s.count }))
  }

  #histogram (): MetricValue[] {
    const name = 'switchboard_request_duration_seconds'
    const values: MetricValue[] = []
    for (const s of this.#each()) {
      let cumulative = 0
      this.#bounds.forEach((le, i) => {
        cumulative += s.buckets[i]!
        values.push({ metricName: `${name}_bucket`, labels: { le, ...s.labels }, value: cumulative })
      })
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count })
      values.push({ metricName: `${name}_sum`, labels: { ...s.labels }, value: s.sum })
      values.push({ metricName: `${name}_count`, labels: { ...s.labels }, value: s.count })
    }
    return values
  }
}
