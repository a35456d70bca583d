/**
 * Prometheus metrics (prom-client) in a registry of this app instance's own, so several apps in
 * one process (tests) never collide. Other plugins feed the metrics through `app.metrics`:
 * - request-log.ts: request counts and durations, writer queue depth, flushed and dropped rows,
 *   outbound calls (every `app.requestLog.recordOutbound` counts one; do not count them again);
 * - the OAuth token refresher (a later issue): `tokenRefreshes.inc({ provider, outcome })`.
 * Served by routes/metrics.ts.
 */
import { createRequire } from 'node:module'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { InboundRequestMetrics } from './inbound-request-metrics.ts'

export interface Metrics {
  registry: Registry
  logRowsFlushed: Counter
  logRowsDropped: Counter<'reason'>
  /** Outbound provider calls; `outcome` is `success` or the integration error type. */
  outboundRequests: Counter<'provider' | 'outcome'>
  outboundDuration: Histogram<'provider'>
  /** OAuth token refreshes; `outcome` e.g. `success`, `invalid_grant`, `error`. */
  tokenRefreshes: Counter<'provider' | 'outcome'>
  /** Where the log-writer queue depth gauge reads from (set by the request-log plugin). */
  setLogQueueDepthSource(source: () => number): void
  /**
   * Count one inbound request in `switchboard_requests_total` and
   * `switchboard_request_duration_seconds`, by operation and HTTP status. Operations come from
   * clients, so the label keeps the first MAX_OPERATIONS distinct ones and calls the rest `other`.
   */
  observeRequest(operation: string, status: number, seconds: number): void
}

declare module 'fastify' {
  interface FastifyInstance { metrics: Metrics }
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** prom-client's default process and Node.js metrics, one module each (lib/metrics/<name>.js). */
type DefaultMetric = (registry: Registry, config: { prefix: string, eventLoopMonitoringPrecision: number }) => void
const require = createRequire(import.meta.url)
/**
 * prom-client's default metrics but `gc`: that one observes every garbage collection through a
 * PerformanceObserver, so Node builds a PerformanceEntry (with its deprecated-property getters) and
 * calls into JavaScript for each of the dozens of scavenges a second a busy gateway makes; about
 * 0.2 µs of every request in the gateway benchmark's profile. Heap sizes (`*_heap_*`) still show
 * what the collector keeps.
 */
const DEFAULT_METRICS = collectDefaultMetrics.metricsList.filter((name) => name !== 'gc')
  .map((name) => require(`prom-client/lib/metrics/${name}.js`) as DefaultMetric)

export function createMetrics (): Metrics {
  const registry = new Registry()
  // The options collectDefaultMetrics would pass (10 ms is its event-loop sampling default).
  for (const collect of DEFAULT_METRICS) collect(registry, { prefix: 'switchboard_', eventLoopMonitoringPrecision: 10 })
  let depthSource: () => number = () => 0
  new Gauge({ // eslint-disable-line no-new -- lives in the registry, read on each scrape
    name: 'switchboard_request_log_queue_depth',
    help: 'Request-log rows waiting to be written',
    registers: [registry],
    collect () { this.set(depthSource()) }
  })
  const inbound = new InboundRequestMetrics(registry, DURATION_BUCKETS)
  return {
    registry,
    logRowsFlushed: new Counter({ name: 'switchboard_request_log_rows_flushed_total', help: 'Request-log rows written to the database', registers: [registry] }),
    logRowsDropped: new Counter({ name: 'switchboard_request_log_rows_dropped_total', help: 'Request-log rows dropped (buffer full while the database was slow or down, or left at shutdown)', labelNames: ['reason'], registers: [registry] }),
    outboundRequests: new Counter({ name: 'switchboard_outbound_requests_total', help: 'Connector calls to providers by provider and outcome', labelNames: ['provider', 'outcome'], registers: [registry] }),
    outboundDuration: new Histogram({ name: 'switchboard_outbound_request_duration_seconds', help: 'Connector call duration by provider', labelNames: ['provider'], buckets: DURATION_BUCKETS, registers: [registry] }),
    tokenRefreshes: new Counter({ name: 'switchboard_token_refreshes_total', help: 'OAuth token refreshes by provider and outcome', labelNames: ['provider', 'outcome'], registers: [registry] }),
    setLogQueueDepthSource (source) { depthSource = source },
    observeRequest (operation, status, seconds) { inbound.observe(operation, status, seconds) }
  }
}

export const metricsPlugin = fp(async (app) => {
  app.decorate('metrics', createMetrics())
}, { name: 'switchboard-metrics', fastify: '5.x' })
