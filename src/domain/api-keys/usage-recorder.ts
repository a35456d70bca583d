/**
 * `usageCount` and `lastUsedAt` without a write per request: uses are counted in memory and
 * flushed as one UPDATE every `flushMs` (and on shutdown). Several instances add their own
 * counts, so totals stay right; a crash loses at most one interval of counts.
 */
import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import type { Logger } from '../logger.ts'

interface Pending { count: number, lastUsedAt: Date }

export class UsageRecorder {
  readonly #db: Db
  readonly #log: Logger
  #pending = new Map<string, Pending>()
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> = Promise.resolve()

  constructor (deps: { db: Db, log: Logger, flushMs: number }) {
    this.#db = deps.db
    this.#log = deps.log
    this.#timer = setInterval(() => { void this.flush() }, deps.flushMs)
    this.#timer.unref()
  }

  record (keyId: string, at: Date): void {
    const p = this.#pending.get(keyId)
    if (p === undefined) this.#pending.set(keyId, { count: 1, lastUsedAt: at })
    else { p.count++; p.lastUsedAt = at }
  }

  /** Write what has been counted so far; concurrent calls are serialised. */
  flush (): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write())
    return this.#flushing
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }

  async #write (): Promise<void> {
    if (this.#pending.size === 0) return
    const batch = this.#pending
    this.#pending = new Map()
    const values = sql.join([...batch].map(([id, p]) =>
      sql`(${id}::uuid, ${p.count}::bigint, ${p.lastUsedAt.toISOString()}::timestamptz)`), sql`, `)
    try {
      // Cross-team (runs as the owner): one batched UPDATE carries the counts of many teams' keys.
      await this.#db.execute(sql`
        update api_keys as k
           set usage_count = k.usage_count + v.n,
               last_used_at = greatest(k.last_used_at, v.t)
          from (values ${values}) as v(id, n, t)
         where k.id = v.id`)
    } catch (err) {
      // Put the counts back so the next flush retries them.
      for (const [id, p] of batch) {
        const cur = this.#pending.get(id)
        if (cur === undefined) this.#pending.set(id, p)
        else { cur.count += p.count; if (p.lastUsedAt > cur.lastUsedAt) cur.lastUsedAt = p.lastUsedAt }
      }
      this.#log.warn({ err, keys: batch.size }, 'api key usage flush failed; will retry')
    }
  }
}
