/**
 * Per-request CPU cost of several Fastify apps in one process: alternating batches of sequential
 * `app.inject` calls (A B C … A B C …). No sockets and no load generator, so differences of a
 * few percent that HTTP noise on a shared machine hides still show.
 */
import type { FastifyInstance } from 'fastify'

export interface InjectVariant {
  name: string
  app: FastifyInstance
  headers: Record<string, string>
  /**
   * Work the batch left behind (e.g. buffered request-log rows), awaited inside the timed window
   * so a variant pays for its own background writes instead of the batch that runs next.
   */
  settle?: () => Promise<void>
}

export interface BatchCost {
  /** Wall-clock µs per request. */
  wall: number
  /** This process's CPU time (user + system, all threads) µs per request: what other processes barely move. */
  cpu: number
}

/** Cost per request, one value per round, for each variant (in input order). */
export async function alternateInjectBatches (variants: readonly InjectVariant[], opts: { rounds: number, batch: number, body: string, check: (payload: string) => void }): Promise<BatchCost[][]> {
  const perRound = variants.map(() => [] as BatchCost[])
  const run = async (v: InjectVariant, n: number): Promise<BatchCost> => {
    const headers = { 'content-type': 'application/json', ...v.headers }
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    let last = ''
    for (let i = 0; i < n; i++) {
      const res = await v.app.inject({ method: 'POST', url: '/graphql', headers, payload: opts.body })
      if (res.statusCode !== 200) throw new Error(`${v.name}: HTTP ${res.statusCode} ${res.payload}`)
      last = res.payload
    }
    await v.settle?.()
    const wall = Number(process.hrtime.bigint() - t0) / 1000 / n
    const c = process.cpuUsage(c0)
    opts.check(last)
    return { wall, cpu: (c.user + c.system) / n }
  }
  // Warm-up: jit compilation, caches, V8 tiers.
  for (const v of variants) await run(v, Math.min(opts.batch, 2000))
  for (let r = 0; r < opts.rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const k = (i + r) % variants.length // rotate who goes first
      perRound[k]!.push(await run(variants[k]!, opts.batch))
    }
  }
  return perRound
}
