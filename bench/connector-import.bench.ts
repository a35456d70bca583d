/**
 * Issue 5: importing products from the Shopify fake through the connector layer — the real
 * Shopify connector (`shopifyCommerce.listProducts`, GraphQL cursor pages of 250) over the shared
 * outbound client (governor, circuit breaker, retries, request-log hook, real HTTP transport),
 * each page handed to a sink that serialises it as the run writer would (JSON of every record)
 * and drops it. Measures records/s and the importer process's peak RSS for 10, 40 (10,000
 * products) and 100 pages: a streaming import keeps RSS flat however many pages there are.
 *
 * Processes: the fake runs in its own child process (its memory is not counted); each import
 * size runs in a fresh child process, so its peak RSS (`process.resourceUsage().maxRSS`) is its
 * own. Rounds are interleaved; medians reported.
 *
 *   node bench/connector-import.bench.ts        Knobs: BENCH_ROUNDS (3)
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { envInt, fmtInt, fmtNum, median, table } from './lib/report.ts'

const SELF = fileURLToPath(import.meta.url)
const PAGE = 250
const SIZES = [10, 40, 100]
const ROUNDS = Math.max(1, envInt('BENCH_ROUNDS', 3))
const log = (msg: string): void => { process.stderr.write(`[connector-import] ${msg}\n`) }

interface Measurement { pages: number, records: number, seconds: number, peakRssMiB: number, baselineRssMiB: number, retainedHeapMiB: number, requests: number }

async function fakeMode (): Promise<void> {
  const { startShopify } = await import('../test/fakes/shopify.ts')
  const fake = await startShopify({ products: PAGE * Math.max(...SIZES) })
  fake.oauth.accessTokens.add('bench-token')
  process.send!({ origin: fake.server.origin })
  process.on('message', () => { void fake.close().then(() => process.exit(0)) })
}

async function importMode (origin: string, pages: number): Promise<void> {
  const { shopifyCommerce, shopifyConnector } = await import('../src/connectors/providers/shopify.connector.ts')
  const { apiClient } = await import('../src/connectors/outbound/api-client.ts')
  const { Breakers } = await import('../src/connectors/outbound/breakers.ts')
  const { RateGovernor } = await import('../src/connectors/outbound/governor.ts')
  const { fetchHttpClient } = await import('../src/connectors/http.ts')
  const { OutboundGuard } = await import('../src/connectors/outbound/guard.ts')
  let requests = 0
  const api = apiClient({
    // The fake stands where deployment config would point Shopify: a trusted origin.
    http: fetchHttpClient({ timeoutMs: 10_000, guard: new OutboundGuard({ allowPrivate: false, trustedOrigins: [origin] }) }),
    breakers: new Breakers({ threshold: 5, halfOpenMs: 10_000 }),
    governor: new RateGovernor({ maxWaitMs: 30_000 }),
    settings: { maxAttempts: 4, backoffInitialMs: 128, backoffMaxMs: 30_000, timeoutMs: 10_000 },
    recordOutbound: () => { requests++ }
  }, {
    provider: 'shopify', teamId: 't', integrationId: 'i', requestId: 'bench', dialect: shopifyConnector.dialect,
    tokens: { current: async () => 'bench-token', refreshAfterRejection: async () => { throw new Error('unexpected 401') }, markInvalid: async () => {} }
  })
  const ctx = {
    provider: 'shopify', api, urls: { api: `${origin}/bench-shop.myshopify.com/admin/api/2025-07` },
    integration: { id: 'i', teamId: 't', config: {}, accountMetadata: {} },
    files: { fetch: async () => { throw new Error('no files') } }, progress: () => {}, emit: async () => {}
  }
  global.gc?.()
  const baseline = process.memoryUsage().rss
  let records = 0; let bytes = 0; let seen = 0
  const started = performance.now()
  for await (const page of shopifyCommerce.listProducts(ctx, { pageSize: PAGE })) {
    bytes += JSON.stringify(page).length // the run writer's serialisation; the page is then dropped
    records += page.length
    if (++seen >= pages) break
  }
  const seconds = (performance.now() - started) / 1000
  if (bytes === 0) throw new Error('nothing imported')
  const peakRssMiB = process.resourceUsage().maxRSS / 1024
  global.gc?.()
  const m: Measurement = { pages: seen, records, seconds, peakRssMiB, baselineRssMiB: baseline / 2 ** 20, retainedHeapMiB: process.memoryUsage().heapUsed / 2 ** 20, requests }
  process.stdout.write(JSON.stringify(m))
}

function runImport (origin: string, pages: number): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, ['--import-run', origin, String(pages)], { execArgv: [...process.execArgv, '--expose-gc'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
    child.on('exit', (code) => code === 0 ? resolve(JSON.parse(out) as Measurement) : reject(new Error(`import of ${pages} pages exited ${code}`)))
  })
}

async function main (): Promise<void> {
  const fake: ChildProcess = fork(SELF, ['--fake'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const origin = await new Promise<string>((resolve) => fake.once('message', (m: { origin: string }) => resolve(m.origin)))
  log(`fake Shopify at ${origin} (child process ${fake.pid}), ${PAGE * Math.max(...SIZES)} products`)
  const results = new Map<number, Measurement[]>(SIZES.map((s) => [s, []]))
  try {
    await runImport(origin, 2) // warm-up (JIT, fake's caches)
    for (let r = 0; r < ROUNDS; r++) {
      for (const pages of SIZES) {
        const m = await runImport(origin, pages)
        results.get(pages)!.push(m)
        log(`round ${r + 1}: ${pages} pages, ${fmtInt(m.records / m.seconds)} records/s, peak RSS ${fmtNum(m.peakRssMiB, 1)} MiB`)
      }
    }
  } finally {
    fake.send('stop')
  }
  const peak = (pages: number) => median(results.get(pages)!.map((m) => m.peakRssMiB))
  const rows = SIZES.map((pages) => {
    const ms = results.get(pages)!
    const m = ms[0]!
    return [String(pages), fmtInt(m.records), fmtNum(median(ms.map((x) => x.seconds)), 2), fmtInt(median(ms.map((x) => x.records / x.seconds))),
      fmtNum(median(ms.map((x) => x.baselineRssMiB)), 1), fmtNum(peak(pages), 1), `${fmtNum(peak(pages) / peak(10), 2)}×`, fmtNum(median(ms.map((x) => x.retainedHeapMiB)), 1), String(m.requests)]
  })
  const growth = peak(100) / peak(10)
  process.stdout.write([
    '## Connector import: Shopify products through the connector layer',
    '',
    `Fake Shopify GraphQL Admin API in a child process; each import in a fresh child process (peak RSS = its maxRSS); ${PAGE} products a page; median of ${ROUNDS} interleaved rounds. Records are serialised page by page and dropped (what the run writer holds at a time), not written to a database.`,
    '',
    table(['pages', 'products', 'seconds', 'records/s', 'RSS before (MiB)', 'peak RSS (MiB)', 'peak vs 10 pages', 'heap after GC (MiB)', 'requests logged'], rows),
    '',
    `RSS does not grow with pages: ${growth <= 1.15 ? '✅' : '❌'} peak at 100 pages is ${fmtNum(growth, 2)}× the peak at 10 pages (target ≤ 1.15×); the heap left after a GC at the end (what the import retained) is the same for every size.`,
    ''
  ].join('\n') + '\n')
}

const args = process.argv.slice(2)
if (args[0] === '--fake') await fakeMode()
else if (args[0] === '--import-run') await importMode(args[1]!, Number(args[2]))
else await main()
