/**
 * Child-process entry for the load generator: `node bench/lib/load-generator.ts '<json options>'`.
 * Runs autocannon (programmatic API) against a loopback URL and prints one JSON line with the
 * figures the benchmarks use. Kept in its own process so it never shares a core's event loop
 * with the server under test.
 */
import { createRequire } from 'node:module'

export interface LoadOptions {
  url: string
  body: string
  headers: Record<string, string>
  connections: number
  durationSeconds: number
}

export interface LoadResult {
  requestsPerSecond: number
  total: number
  non2xx: number
  errors: number
  timeouts: number
  latencyP50Ms: number
  latencyP99Ms: number
  durationSeconds: number
}

interface AutocannonResult {
  requests: { mean: number, total: number }
  latency: { p50: number, p99: number }
  non2xx: number
  errors: number
  timeouts: number
  duration: number
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>

// autocannon ships no types; it is a dev dependency of bench/ only.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

const opts = JSON.parse(process.argv[2] ?? '{}') as LoadOptions
const url = new URL(opts.url)
if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') {
  throw new Error(`load generator only targets loopback, not ${url.hostname}`)
}

const r = await autocannon({
  url: opts.url,
  method: 'POST',
  headers: { 'content-type': 'application/json', ...opts.headers },
  body: opts.body,
  connections: opts.connections,
  pipelining: 1,
  duration: opts.durationSeconds
})
const result: LoadResult = {
  requestsPerSecond: r.requests.total / r.duration,
  total: r.requests.total,
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
  latencyP50Ms: r.latency.p50,
  latencyP99Ms: r.latency.p99,
  durationSeconds: r.duration
}
process.stdout.write(JSON.stringify(result) + '\n')
