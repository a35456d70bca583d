/**
 * Issue 6, comparison 1: the same read query, `{ scopes { name description } }`, on
 *   (a) a bare Fastify JSON route (the physical bound), (b) bare Mercurius with jit,
 *   (c) Switchboard's full pipeline (buildApp), (d) Switchboard with REQUEST_LOG_ENABLED=false,
 *   (e) Apollo Server 5 on Fastify, (f) GraphQL Yoga 5 — each in its own process, loaded by
 *   autocannon from another process over loopback, in interleaved rounds; medians and ratios.
 * Then a head-to-head of bare Mercurius and Switchboard (c, d) in short alternating slots, whose
 * adjacent-slot ratios a burst of noise on a shared machine moves far less than rounds that are
 * six servers long; and the Switchboard pipeline against bare Mercurius in one process
 * (alternating inject batches), which sees the small differences HTTP noise hides.
 *
 *   node bench/gateway.bench.ts
 * Knobs: BENCH_DURATION (s per server per round, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
 * BENCH_PROCESSES (processes per server, 3),
 * BENCH_WARMUP (least s of warm-up, 8), BENCH_WARMUP_MAX (most s, 20),
 * BENCH_PAIRS (head-to-head passes, 12), BENCH_PAIR_DURATION (s per process per pass, 2),
 * BENCH_INJECT_ROUNDS (15), BENCH_INJECT_BATCH (1000), BENCH_CPU_PROF=1
 * (profile Switchboard under load), BENCH_DATABASE_URL (Switchboard on a PostgreSQL server
 * instead of PGlite; a fresh database is created there and dropped).
 */
import { deepStrictEqual } from 'node:assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { summariseProfile } from './lib/cpu-profile.ts'
import { alternateInjectBatches, type BatchCost, type InjectVariant } from './lib/inprocess.ts'
import { startServer, runLoad, SERVER_ENV, type ServerHandle } from './lib/processes.ts'
import type { LoadResult } from './lib/load-generator.ts'
import { atLeast, envFlag, envInt, fmtInt, fmtNum, median, percentile, table } from './lib/report.ts'
import { REQUEST_BODY, QUERY, SERVER_KINDS, expectedData, type ServerKind } from './lib/servers.ts'

const DURATION = envInt('BENCH_DURATION', 5)
const ROUNDS = Math.max(3, envInt('BENCH_ROUNDS', 3))
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 50)
/**
 * Each server runs in this many processes of its own, and a round's figure for a server is the
 * mean over them. One process is one draw: on this machine processes of the same server, same
 * code, same load, differed by 10–40 % in CPU per request for as long as they lived (an A/A run
 * of three Switchboard processes, 16 alternating 1 s passes: 44.8 / 39.8 / 39.8 µs/req; three bare
 * Mercurius ones: 25.8 / 27.6 / 23.3; in another run two bare Mercurius processes, 10 passes:
 * 40.3 / 28.4), which alone moved a one-process ratio across 0.75.
 */
const PROCESSES = Math.max(1, envInt('BENCH_PROCESSES', 3))
const WARMUP = envInt('BENCH_WARMUP', 8)
const WARMUP_MAX = Math.max(WARMUP, envInt('BENCH_WARMUP_MAX', 20))
/** Warm-up ends when a 1 s window's CPU µs/request is within this fraction of the one before. */
const SETTLED = 0.1
const PAIRS = Math.max(4, envInt('BENCH_PAIRS', 12))
const PAIR_DURATION = envInt('BENCH_PAIR_DURATION', 2)
/** The head-to-head: the baseline first, then the two Switchboard variants the 0.75 target is about. */
const HEAD_TO_HEAD = ['mercurius', 'switchboard-nolog', 'switchboard'] as const satisfies readonly ServerKind[]
const INJECT_ROUNDS = Math.max(3, envInt('BENCH_INJECT_ROUNDS', 15))
const INJECT_BATCH = envInt('BENCH_INJECT_BATCH', 1000)
const PROFILE = envFlag('BENCH_CPU_PROF')
const DB_LABEL = (process.env.BENCH_DATABASE_URL ?? '') === '' ? 'PGlite in memory' : `PostgreSQL at ${new URL(process.env.BENCH_DATABASE_URL!).host}`

const LABEL: Record<ServerKind, string> = {
  fastify: '(a) bare Fastify JSON route',
  mercurius: '(b) bare Mercurius, jit',
  switchboard: '(c) Switchboard, full pipeline',
  'switchboard-nolog': '(d) Switchboard, REQUEST_LOG_ENABLED=false',
  apollo: '(e) Apollo Server 5 on Fastify',
  yoga: '(f) GraphQL Yoga 5 (node:http)'
}

const log = (msg: string): void => { process.stderr.write(`[gateway] ${msg}\n`) }
const expected = expectedData()
const check = (label: string) => (payload: string): void => {
  try { deepStrictEqual(JSON.parse(payload), expected) } catch { throw new Error(`${label} answered something else: ${payload.slice(0, 300)}`) }
}

async function verifyOverHttp (s: ServerHandle): Promise<void> {
  const res = await fetch(s.url, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body: REQUEST_BODY })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${s.kind}: HTTP ${res.status} ${text.slice(0, 300)}`)
  check(s.kind)(text)
}

const load = (s: ServerHandle, seconds: number): Promise<LoadResult> =>
  runLoad({ url: s.url, body: REQUEST_BODY, headers: s.headers, connections: CONNECTIONS, durationSeconds: seconds })

/** A load round plus the server's own CPU time per request over it (noise from other processes barely moves it). */
type Round = LoadResult & { cpuUsPerRequest: number }

/** One server's figure for a round: the mean over its processes (request and error counts summed). */
function combine (slots: readonly Round[]): Round {
  const mean = (f: (r: Round) => number): number => slots.reduce((a, r) => a + f(r), 0) / slots.length
  const sum = (f: (r: Round) => number): number => slots.reduce((a, r) => a + f(r), 0)
  return {
    requestsPerSecond: mean((r) => r.requestsPerSecond),
    cpuUsPerRequest: mean((r) => r.cpuUsPerRequest),
    latencyP50Ms: median(slots.map((r) => r.latencyP50Ms)),
    latencyP99Ms: median(slots.map((r) => r.latencyP99Ms)),
    total: sum((r) => r.total),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    durationSeconds: sum((r) => r.durationSeconds)
  }
}

/** Loads every process in `group` in turn; per server kind, the combined figure. */
async function measureGroup (group: readonly ServerHandle[], seconds: number, label: (s: ServerHandle, res: Round) => string): Promise<Map<ServerKind, Round>> {
  const slots = new Map<ServerKind, Round[]>()
  for (const s of group) {
    const res = await measuredLoad(s, seconds)
    log(label(s, res))
    const ofKind = slots.get(s.kind)
    if (ofKind === undefined) slots.set(s.kind, [res])
    else ofKind.push(res)
  }
  return new Map([...slots].map(([k, rs]) => [k, combine(rs)]))
}

async function measuredLoad (s: ServerHandle, seconds: number): Promise<Round> {
  const before = await s.cpuMicros()
  const res = await load(s, seconds)
  // Let background work caused by the load (request-log flush every 250 ms) land in this window.
  await new Promise((resolve) => setTimeout(resolve, 400))
  const after = await s.cpuMicros()
  return { ...res, cpuUsPerRequest: (after - before) / res.total }
}

/**
 * Loads a server in 1 s windows until its CPU per request settles: at least WARMUP s, then until
 * two windows in a row agree within SETTLED, at most WARMUP_MAX s. Every server is warmed by the
 * same rule. A fixed 2 s was not enough: Switchboard's first measured slot often ran at 80–95
 * CPU µs/req against ~55 once settled, while bare Mercurius had settled. (--trace-opt shows V8
 * still optimising then: ~100 functions in the first 2 s of load, dozens more over the next 8;
 * with server and autocannon on both cores its background compiler gets little CPU.)
 * The floor is 8 s because that tiering can sit on a plateau (e.g. 197 → 96 → 97 → 55 µs/req
 * in 2 s windows) that two agreeing windows alone would take for the end; in runs from a cold
 * start under load, Switchboard and bare Mercurius had settled within 8 s (Switchboard in 4–7 s).
 */
async function warmUp (s: ServerHandle): Promise<void> {
  const started = Date.now()
  const seen: number[] = []
  for (;;) {
    const { cpuUsPerRequest: cpu } = await measuredLoad(s, 1)
    seen.push(cpu)
    const elapsed = (Date.now() - started) / 1000
    const prev = seen.at(-2)
    const settled = prev !== undefined && Math.abs(cpu - prev) <= SETTLED * prev
    if ((elapsed >= WARMUP && settled) || elapsed >= WARMUP_MAX) {
      log(`warm-up ${s.kind}: ${fmtNum(elapsed, 1)} s, CPU µs/req ${seen.map((x) => fmtNum(x, 0)).join(' → ')}${settled ? '' : ' (not settled; stopped at BENCH_WARMUP_MAX)'}`)
      return
    }
  }
}

interface HttpResults { rounds: Map<ServerKind, Round[]>, pairs: Map<ServerKind, Round[]>, profile?: string }

async function httpComparison (): Promise<HttpResults> {
  const servers: ServerHandle[] = []
  const rounds = new Map<ServerKind, Round[]>(SERVER_KINDS.map((k) => [k, []]))
  let profileDir: string | undefined
  try {
    for (let p = 0; p < PROCESSES; p++) {
      for (const kind of SERVER_KINDS) {
        log(`starting ${kind} (process ${p + 1} of ${PROCESSES})`)
        const s = await startServer(kind)
        await verifyOverHttp(s)
        servers.push(s)
      }
    }
    for (const s of servers) await warmUp(s)
    const fmtSlot = (prefix: string) => (s: ServerHandle, res: Round): string =>
      `${prefix} ${s.kind} (pid ${s.pid}): ${fmtInt(res.requestsPerSecond)} req/s, ${fmtNum(res.cpuUsPerRequest, 1)} CPU µs/req, p99 ${res.latencyP99Ms} ms, non-2xx ${res.non2xx}, errors ${res.errors}`
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved; the first slot rotates each round.
      const order = servers.map((_, i) => servers[(i + r) % servers.length]!)
      const combined = await measureGroup(order, DURATION, fmtSlot(`round ${r + 1}/${ROUNDS}`))
      for (const [k, res] of combined) rounds.get(k)!.push(res)
    }
    // Head-to-head: Mercurius, (d), (c) back to back in short slots, the order reversed every
    // other pass (M d c, c d M, …) so neither side always goes first; every process of each.
    const pairs = new Map<ServerKind, Round[]>(HEAD_TO_HEAD.map((k) => [k, []]))
    const contenders = servers.filter((s) => (HEAD_TO_HEAD as readonly ServerKind[]).includes(s.kind)) // M d c, process by process
    for (let p = 0; p < PAIRS; p++) {
      const order = p % 2 === 0 ? contenders : [...contenders].reverse()
      const combined = await measureGroup(order, PAIR_DURATION, fmtSlot(`head-to-head ${p + 1}/${PAIRS}`))
      for (const [k, res] of combined) pairs.get(k)!.push(res)
    }
    let profile: string | undefined
    if (PROFILE) {
      const sb = servers.find((s) => s.kind === 'switchboard')!
      profileDir = mkdtempSync(join(tmpdir(), 'sb-bench-prof-'))
      const file = join(profileDir, 'switchboard.cpuprofile')
      log(`profiling switchboard under load for ${DURATION}s`)
      let during: LoadResult | undefined
      await sb.profile(file, async () => { during = await load(sb, DURATION) })
      profile = `Switchboard server process, ${DURATION}s at -c ${CONNECTIONS} (${fmtInt(during!.requestsPerSecond)} req/s while profiled, 100 µs sampling).\n\n${summariseProfile(file).markdown}`
    }
    return profile === undefined ? { rounds, pairs } : { rounds, pairs, profile }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true })
  }
}

/** Switchboard (with and without request log) and bare Mercurius in this process. */
async function inProcessComparison (): Promise<Array<{ name: string, cost: BatchCost[] }>> {
  Object.assign(process.env, SERVER_ENV) // Mercurius and Fastify behave as in production
  const { bareFastify, bareMercurius, switchboard } = await import('./lib/servers.ts')
  const built = [
    { name: 'bare Fastify JSON route', server: await bareFastify() },
    { name: 'bare Mercurius, jit', server: await bareMercurius() },
    { name: 'bare Mercurius + Switchboard\'s pino options (silent)', server: await bareMercurius({ switchboardLogger: true }) },
    { name: 'Switchboard, full pipeline', server: await switchboard({ requestLog: true }) },
    { name: 'Switchboard, REQUEST_LOG_ENABLED=false', server: await switchboard({ requestLog: false }) }
  ]
  try {
    const variants: InjectVariant[] = built.map((b) => {
      const app = b.server.fastify!
      // Switchboard's buffered request-log rows and usage counts are written inside its own batch.
      const settle = app.hasDecorator('services')
        ? async () => { await (app.hasDecorator('requestLog') ? app.requestLog.flush() : undefined); await app.services.usage.flush() }
        : undefined
      return { name: b.name, app, headers: b.server.headers, ...(settle !== undefined && { settle }) }
    })
    const us = await alternateInjectBatches(variants, { rounds: INJECT_ROUNDS, batch: INJECT_BATCH, body: REQUEST_BODY, check: check('inject') })
    return built.map((b, i) => ({ name: b.name, cost: us[i]! }))
  } finally {
    for (const b of built) await b.server.close()
  }
}

/** Median over rounds of (a's value ÷ b's value in the same round). */
const roundRatio = (a: readonly number[], b: readonly number[]): number => median(a.map((x, i) => x / b[i]!))

function httpTable (rounds: HttpResults['rounds']): { markdown: string, notes: string[] } {
  const rps = (k: ServerKind): number[] => rounds.get(k)!.map((r) => r.requestsPerSecond)
  const cpu = (k: ServerKind): number[] => rounds.get(k)!.map((r) => r.cpuUsPerRequest)
  const sb = rps('switchboard')
  const notes: string[] = []
  const rows = SERVER_KINDS.map((k) => {
    const rs = rounds.get(k)!
    const bad = rs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0)
    if (bad > 0) notes.push(`⚠ ${LABEL[k]}: ${bad} non-2xx/errors/timeouts during the rounds: its figure is not valid.`)
    let target = ''
    if (k === 'fastify') target = 'physical bound'
    else if (k === 'mercurius') target = 'baseline'
    else if (k === 'switchboard' || k === 'switchboard-nolog') target = atLeast(roundRatio(rps(k), rps('mercurius')), 0.75, '× Mercurius')
    else if (k === 'apollo') target = `Switchboard ${atLeast(roundRatio(sb, rps('apollo')), 2, '× Apollo')}; by CPU ${fmtNum(roundRatio(cpu('apollo'), cpu('switchboard')))}×`
    else if (k === 'yoga') target = `Switchboard ${atLeast(roundRatio(sb, rps('yoga')), 3, '× Yoga')}; by CPU ${fmtNum(roundRatio(cpu('yoga'), cpu('switchboard')))}×`
    return [
      LABEL[k],
      fmtInt(median(rps(k))),
      rps(k).map(fmtInt).join(' / '),
      fmtNum(median(rs.map((r) => r.latencyP99Ms)), 0),
      fmtNum(roundRatio(rps(k), rps('mercurius'))),
      fmtNum(roundRatio(rps(k), rps('fastify'))),
      fmtNum(median(cpu(k)), 1),
      fmtNum(roundRatio(cpu('mercurius'), cpu(k))),
      target
    ]
  })
  const withLog = roundRatio(sb, rps('switchboard-nolog'))
  notes.push(`Request logging on ${DB_LABEL}: (c) ÷ (d) = ${fmtNum(withLog)}, i.e. it costs ${fmtNum((1 - withLog) * 100, 1)} % of Switchboard's throughput` +
    (Math.abs(1 - withLog) < 0.1 ? ' — within the ±10 % HTTP noise of this machine; see the in-process table.' : withLog > 1 ? ' (a gain is noise: rounds disagree).' : '.'))
  return {
    markdown: table(['Server', 'req/s (median)', 'req/s per round', 'p99 ms', '÷ bare Mercurius', '÷ bare Fastify', 'server CPU µs/req', '÷ Mercurius by CPU', 'Target'], rows),
    notes
  }
}

function headToHeadTable (pairs: HttpResults['pairs']): string {
  const rps = (k: ServerKind): number[] => pairs.get(k)!.map((r) => r.requestsPerSecond)
  const cpu = (k: ServerKind): number[] => pairs.get(k)!.map((r) => r.cpuUsPerRequest)
  const rows = HEAD_TO_HEAD.map((k) => {
    const ratios = rps(k).map((x, i) => x / rps('mercurius')[i]!)
    const bad = pairs.get(k)!.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0)
    return [
      LABEL[k],
      fmtInt(median(rps(k))),
      fmtNum(median(cpu(k)), 1),
      k === 'mercurius' ? '–' : fmtNum(median(ratios)),
      k === 'mercurius' ? '–' : `${fmtNum(percentile(ratios, 25))}–${fmtNum(percentile(ratios, 75))}`,
      k === 'mercurius' ? '–' : `${ratios.filter((r) => r >= 0.75).length} of ${ratios.length}`,
      k === 'mercurius' ? '–' : fmtNum(roundRatio(cpu('mercurius'), cpu(k))),
      bad > 0 ? `⚠ ${bad} non-2xx/errors/timeouts: not valid` : k === 'mercurius' ? 'baseline' : atLeast(median(ratios), 0.75, '× Mercurius')
    ]
  })
  return table(['Server', 'req/s (median)', 'server CPU µs/req', '÷ bare Mercurius (median)', 'middle half of pair ratios', 'pairs ≥ 0.75', '÷ Mercurius by CPU', 'Target'], rows)
}

function inProcessTable (results: Array<{ name: string, cost: BatchCost[] }>): string {
  const mercCpu = results[1]!.cost.map((c) => c.cpu)
  const mercWall = results[1]!.cost.map((c) => c.wall)
  const rows = results.map(({ name, cost }, i) => {
    const cpu = cost.map((c) => c.cpu)
    const wall = cost.map((c) => c.wall)
    const ratio = roundRatio(mercCpu, cpu) // throughput relative to Mercurius = its cost ÷ ours
    const added = median(cpu.map((x, r) => x - mercCpu[r]!))
    return [
      name,
      fmtNum(median(cpu), 1),
      fmtNum(median(wall), 1),
      i === 1 ? '–' : `${added >= 0 ? '+' : ''}${fmtNum(added, 1)}`,
      fmtNum(ratio),
      fmtNum(roundRatio(mercWall, wall)),
      name.startsWith('Switchboard') ? atLeast(ratio, 0.75, '× Mercurius') : i === 1 ? 'baseline' : i === 0 ? 'bound' : 'diagnostic'
    ]
  })
  return table(['Variant', 'CPU µs/req (median)', 'wall µs/req (median)', 'CPU µs added vs Mercurius', '÷ bare Mercurius by CPU', '÷ bare Mercurius by wall', 'Target (by CPU)'], rows)
}

const started = Date.now()
const http = await httpComparison()
log('in-process comparison')
const inproc = await inProcessComparison()
const { markdown, notes } = httpTable(http.rounds)

const out = [
  `## Gateway: same read query, six servers (Switchboard on ${DB_LABEL})`,
  '',
  `Query \`${QUERY}\` (${(expected as { data: { scopes: unknown[] } }).data.scopes.length} objects) as POST /graphql; each server in ${PROCESSES} processes of its own (NODE_ENV=production, logging off), a round's figure for a server being the mean over its processes (processes of the same server differed by 10–40 % for their whole life on this machine); ` +
  `autocannon in a separate process, loopback, -c ${CONNECTIONS}, ${DURATION} s per server process per round, ${ROUNDS} interleaved rounds (first slot rotates), after a warm-up each in 1 s windows until the server's CPU µs/req settles (two windows in a row within ${SETTLED * 100} %, at least ${WARMUP} s, at most ${WARMUP_MAX} s). ` +
  `Switchboard: API key (admin:full, own limit 10,000,000/min) + @auth scope + rate limit + depth/cost/policy + request log, on ${DB_LABEL}. ` +
  'Ratios are medians of per-round ratios; targets are checked on req/s. Server CPU µs/req is the server process\'s own CPU time (user + system, including background work such as request-log flushes) per request served: ' +
  'other processes on a shared machine barely move it, so "÷ Mercurius by CPU" (Mercurius\'s CPU per request ÷ this one\'s) corroborates the req/s ratio when the machine is busy. ' +
  'Targets (issue 6): Switchboard ≥ 0.75× bare Mercurius, ≥ 2× Apollo, ≥ 3× Yoga.',
  '',
  markdown,
  '',
  ...notes.map((n) => `- ${n}`),
  '',
  `### Gateway head-to-head: Switchboard against bare Mercurius in alternating ${PAIR_DURATION} s slots (Switchboard on ${DB_LABEL})`,
  '',
  `The same processes of three servers as above, already warm, loaded one after another: bare Mercurius, (d), (c) for each of the ${PROCESSES} processes, then the reverse order, ${PAIRS} passes, ${PAIR_DURATION} s per process per pass (a pass's figure for a server is the mean over its processes), same autocannon settings. ` +
  'Each ratio compares slots a few seconds apart, so a burst of load from the machine\'s neighbours moves it far less than the six-server rounds (whose slots for two servers can be half a minute apart); ' +
  'the table gives the median of the per-pair ratios, the middle half of them, and how many pairs reached 0.75. Targets (issues 2 and 6): ≥ 0.75× bare Mercurius.',
  '',
  headToHeadTable(http.pairs),
  '',
  `### Gateway in-process: pipeline cost without HTTP noise (Switchboard on ${DB_LABEL})`,
  '',
  `Alternating batches of ${fmtInt(INJECT_BATCH)} sequential \`app.inject\` calls in one process, ${INJECT_ROUNDS} rounds (first slot rotates), after a warm-up batch each; same query, same key. ` +
  'Each Switchboard batch ends by flushing its buffered request-log rows and usage counts, inside its timed window (on PGlite those writes run on this thread). ' +
  '`inject` adds the same fixed cost to every variant, which pulls the ratios towards 1; the µs-added column is the pipeline\'s own cost per request. ' +
  'Cost is this process\'s CPU time per request (process.cpuUsage, all threads), which other processes on a shared machine barely move, with wall time beside it; ratios are medians of per-round ratios.',
  '',
  inProcessTable(inproc),
  ...(http.profile === undefined ? [] : ['', '### Gateway: CPU profile of Switchboard under load', '', http.profile]),
  '',
  `_Took ${fmtNum((Date.now() - started) / 1000, 0)} s._`,
  ''
]
process.stdout.write(out.join('\n'))
