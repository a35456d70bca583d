/**
 * Issue 6, comparison 4: API-key verification latency, `app.services.keyVerifier.verify(key)` of
 * the app buildApp makes, warm (in-process cache hit) and cold (cache entry dropped with
 * `invalidate(hash)` first, so the key is looked up by its SHA-256 hash in the database), on
 * PGlite in memory and on a PostgreSQL server (a fresh database created there and dropped).
 * Target: warm p99 < 1 ms.
 *
 *   node bench/api-key-verification.bench.ts
 * Knobs: BENCH_ROUNDS (3), BENCH_WARM_N (10000 per round), BENCH_COLD_N (2000 per round),
 * BENCH_DATABASE_URL (the PostgreSQL server; default postgres://postgres@127.0.0.1:5432/test).
 */
import { eq, sql } from 'drizzle-orm'
import { apiKeys } from '../src/db/schema.ts'
import { hashApiKey } from '../src/domain/api-keys/api-key-format.ts'
import { DEFAULT_POSTGRES_URL, pgliteDatabase, postgresDatabase, type BenchDatabase, onDatabase } from './lib/database.ts'
import { below, envInt, fmtInt, fmtNum, median, percentile, table } from './lib/report.ts'
import { seededSwitchboard } from './lib/switchboard.ts'

const ROUNDS = Math.max(3, envInt('BENCH_ROUNDS', 3))
const WARM_N = envInt('BENCH_WARM_N', 10_000)
const COLD_N = envInt('BENCH_COLD_N', 2_000)
const KEYS = 50
const POSTGRES_URL = process.env.BENCH_DATABASE_URL !== undefined && process.env.BENCH_DATABASE_URL !== '' ? process.env.BENCH_DATABASE_URL : DEFAULT_POSTGRES_URL

const log = (msg: string): void => { process.stderr.write(`[api-key-verification] ${msg}\n`) }

interface Batch { perSecond: number, p50: number, p99: number, p999: number }
interface DbResult { label: string, warm: Batch[], cold: Batch[], prepared: Batch[], lookups: number }

function summarise (samplesUs: Float64Array, elapsedUs: number): Batch {
  const s = [...samplesUs]
  return { perSecond: samplesUs.length / (elapsedUs / 1e6), p50: percentile(s, 50), p99: percentile(s, 99), p999: percentile(s, 99.9) }
}

async function measure (db: BenchDatabase): Promise<DbResult> {
  // The longest cache TTL config allows, so a warm batch never crosses an expiry.
  const { app, keys } = await seededSwitchboard(db.database, { keys: KEYS, env: { API_KEY_CACHE_TTL_MS: '5000', REQUEST_LOG_ENABLED: 'false' } })
  const verifier = app.services.keyVerifier
  const hashes = keys.map(hashApiKey)
  const verify = async (key: string): Promise<void> => {
    const v = await verifier.verify(key)
    if (!v.ok) throw new Error(`key did not verify: ${v.reason}`)
  }
  const warm: Batch[] = []
  const cold: Batch[] = []
  const prepared: Batch[] = []
  // Reference only (not the app's path): the same select as a Drizzle prepared statement.
  const byHash = db.database.db.select({ id: apiKeys.id, teamId: apiKeys.teamId, scopes: apiKeys.scopes, expiresAt: apiKeys.expiresAt, enabled: apiKeys.enabled, revokedAt: apiKeys.revokedAt, rateLimitRequests: apiKeys.rateLimitRequests, rateLimitWindowMs: apiKeys.rateLimitWindowMs })
    .from(apiKeys).where(eq(apiKeys.keyHash, sql.placeholder('hash'))).limit(1).prepare('bench_api_key_by_hash')
  try {
    for (const k of keys) await verify(k) // JIT and cache warm-up
    const lookupsBefore = verifier.lookups
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of keys) await verify(k) // every key cached again before the warm batch
      const w = new Float64Array(WARM_N)
      let t0 = process.hrtime.bigint()
      for (let i = 0; i < WARM_N; i++) {
        const t = process.hrtime.bigint()
        await verify(keys[i % KEYS]!)
        w[i] = Number(process.hrtime.bigint() - t) / 1000
      }
      warm.push(summarise(w, Number(process.hrtime.bigint() - t0) / 1000))

      const c = new Float64Array(COLD_N)
      let elapsed = 0
      t0 = process.hrtime.bigint()
      for (let i = 0; i < COLD_N; i++) {
        verifier.invalidate(hashes[i % KEYS]!)
        const t = process.hrtime.bigint()
        await verify(keys[i % KEYS]!)
        const d = Number(process.hrtime.bigint() - t) / 1000
        c[i] = d
        elapsed += d
      }
      cold.push(summarise(c, elapsed))

      const p = new Float64Array(COLD_N)
      elapsed = 0
      for (let i = 0; i < COLD_N; i++) {
        const t = process.hrtime.bigint()
        const found = await byHash.execute({ hash: hashApiKey(keys[i % KEYS]!) })
        const d = Number(process.hrtime.bigint() - t) / 1000
        if (found.length !== 1) throw new Error('prepared lookup found no key')
        p[i] = d
        elapsed += d
      }
      prepared.push(summarise(p, elapsed))
      log(`${db.label} round ${r + 1}/${ROUNDS}: warm p99 ${fmtNum(warm.at(-1)!.p99, 1)} µs, cold p50 ${fmtNum(cold.at(-1)!.p50, 0)} µs p99 ${fmtNum(cold.at(-1)!.p99, 0)} µs`)
    }
    const lookups = verifier.lookups - lookupsBefore
    return { label: db.label, warm, cold, prepared, lookups }
  } finally {
    await app.close()
  }
}


const started = Date.now()
const results = [
  await onDatabase(pgliteDatabase, 'PGlite', measure),
  await onDatabase(() => postgresDatabase(POSTGRES_URL), `PostgreSQL at ${new URL(POSTGRES_URL).host}`, measure)
]

const rows: string[][] = []
const notes: string[] = []
for (const r of results) {
  if (typeof r === 'string') { notes.push(r); continue }
  const row = (path: string, b: Batch[], target: string): string[] => [
    r.label, path, fmtInt(median(b.map((x) => x.perSecond))), fmtNum(median(b.map((x) => x.p50)), 1),
    fmtNum(median(b.map((x) => x.p99)), 1), b.map((x) => fmtNum(x.p99, 1)).join(' / '), fmtNum(median(b.map((x) => x.p999)), 1), target
  ]
  const warmP99 = median(r.warm.map((x) => x.p99))
  rows.push(row('warm (cache hit)', r.warm, `p99 ${below(warmP99, 1000, 'µs')}`))
  const coldOverWarm = median(r.cold.map((c, i) => c.p50 / r.warm[i]!.p50))
  rows.push(row('cold (cache miss → lookup by hash)', r.cold, `no target; p50 ${fmtNum(coldOverWarm, 0)}× warm`))
  const preparedOverCold = median(r.prepared.map((x, i) => x.p50 / r.cold[i]!.p50))
  rows.push(row('reference: hash + Drizzle prepared select', r.prepared, `not the app's path; p50 ${fmtNum(preparedOverCold)}× cold`))
  if (r.lookups !== ROUNDS * COLD_N) notes.push(`⚠ ${r.label}: ${r.lookups} database lookups where ${ROUNDS * COLD_N} were expected (cold misses only).`)
}

process.stdout.write([
  '## API-key verification latency, warm and cold',
  '',
  `\`app.services.keyVerifier.verify(key)\` of the app \`buildApp\` builds (shape + CRC32 check, SHA-256, cache, Drizzle lookup by hash on a miss), sequential, ${KEYS} admin keys in rotation. ` +
  `${ROUNDS} rounds, each ${fmtInt(WARM_N)} warm then ${fmtInt(COLD_N)} cold verifications (cold: \`invalidate(hash)\` before each, outside the timed call). ` +
  'The reference row times only hash + the same select as a Drizzle prepared statement, in the same rounds, to show what the miss path could cost. ' +
  'Figures are medians of per-round values. Target (issue 2/6): warm p99 < 1 ms.',
  '',
  table(['Database', 'Path', 'verifications/s', 'p50 µs', 'p99 µs', 'p99 µs per round', 'p99.9 µs', 'Target'], rows),
  '',
  ...notes.map((n) => `- ${n}`),
  ...(notes.length > 0 ? [''] : []),
  `_Took ${fmtNum((Date.now() - started) / 1000, 0)} s._`,
  ''
].join('\n'))
