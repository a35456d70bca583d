/**
 * The hot-path request metrics expose exactly what prom-client's own Counter and Histogram would
 * for the same observations, and cap the operation label's cardinality.
 */
import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { InboundRequestMetrics, MAX_OPERATIONS } from '../../src/plugins/inbound-request-metrics.ts'

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

function promClientPair () {
  const registry = new Registry()
  const requests = new Counter({ name: 'switchboard_requests_total', help: 'Inbound requests by operation and HTTP status', labelNames: ['operation', 'status'], registers: [registry] })
  const duration = new Histogram({ name: 'switchboard_request_duration_seconds', help: 'Inbound request duration by operation and HTTP status', labelNames: ['operation', 'status'], buckets: BOUNDS, registers: [registry] })
  return {
    registry,
    observe (operation: string, status: number, seconds: number) {
      const labels = { operation, status: String(status) }
      requests.inc(labels)
      duration.observe(labels, seconds)
    }
  }
}

t.test('same exposition as prom-client Counter + Histogram', async (t) => {
  const ours = new Registry()
  const inbound = new InboundRequestMetrics(ours, BOUNDS)
  const reference = promClientPair()
  // On a bound, between bounds, below the first, above the last; several series.
  const samples: Array<[string, number, number]> = [
    ['query A', 200, 0.005], ['query A', 200, 0.0051], ['query A', 200, 0.0001], ['query A', 200, 11],
    ['query A', 429, 0.02], ['mutation B', 200, 0.3], ['POST /oauth/start', 302, 2.5], ['query A', 200, 1]
  ]
  for (const [op, status, s] of samples) { inbound.observe(op, status, s); reference.observe(op, status, s) }
  t.equal(await ours.metrics(), await reference.registry.metrics())
  t.match(await ours.getSingleMetricAsString('switchboard_requests_total'), /switchboard_requests_total\{operation="query A",status="200"\} 5/)
  ours.resetMetrics()
  t.notMatch(await ours.metrics(), /operation=/, 'reset empties every series')
})

t.test('operations beyond the cap are counted as "other"', async (t) => {
  const registry = new Registry()
  const inbound = new InboundRequestMetrics(registry, BOUNDS)
  for (let i = 0; i < MAX_OPERATIONS + 5; i++) inbound.observe(`query Op${i}`, 200, 0.01)
  inbound.observe('query Op0', 200, 0.01)
  const text = await registry.getSingleMetricAsString('switchboard_requests_total')
  t.match(text, /operation="query Op0",status="200"\} 2/, 'a known operation keeps its own series')
  t.match(text, /operation="other",status="200"\} 5/, 'the five past the cap share one series')
  t.notMatch(text, new RegExp(`operation="query Op${MAX_OPERATIONS}"`))
})
