/**
 * Fail fast while PostgreSQL is down. postgres.js queues a query it cannot send and retries the
 * connection after a backoff shared by the pool, so during an outage each request would wait
 * (and queue behind the others) before failing. Once a query fails because the database cannot
 * be reached and a probe on a connection of its own confirms it, the gate closes: queries are
 * refused at once with DatabaseUnavailableError (nothing is queued, so nothing runs late after
 * the client was told 503), and the probe repeats every `probeMs` until the server answers,
 * then the gate opens again.
 */
import { DatabaseUnavailableError, isDatabaseUnavailable } from './errors.ts'

export interface GateLog {
  warn(o: object, m: string): void
  info(o: object, m: string): void
}

export interface DatabaseGateOptions {
  /** Resolves when the database answers; rejects otherwise (bounded by its own timeouts). */
  probe: () => Promise<void>
  probeMs: number
  /** Called when a probe succeeds after a failure: the moment to replace connections the failure may have broken. */
  onRecovered?: () => void
  log?: GateLog | undefined
}

export class DatabaseGate {
  readonly #o: DatabaseGateOptions
  /** open: queries go through; checking: a failure is being confirmed, queries still go through; closed: refused. */
  #state: 'open' | 'checking' | 'closed' = 'open'
  #since = 0
  #cause: unknown
  #timer: NodeJS.Timeout | undefined
  #ended = false

  constructor (options: DatabaseGateOptions) {
    this.#o = options
  }

  get open (): boolean { return this.#state !== 'closed' }

  /** Throws at once while the database is known to be down. */
  check (): void {
    if (this.#state === 'closed') throw new DatabaseUnavailableError('the database is unavailable', { cause: this.#cause })
  }

  /**
   * A query failed. When the failure says the database cannot be reached, probe at once: the gate
   * closes only when the probe fails too, so one dropped connection or one slow connect under
   * load does not turn every caller away.
   */
  failed (err: unknown): void {
    if (this.#ended || this.#state !== 'open' || !isDatabaseUnavailable(err)) return
    this.#state = 'checking'
    this.#since = Date.now()
    this.#cause = err
    this.#schedule(0)
  }

  /** Stop probing (the pool is closing). */
  close (): void {
    this.#ended = true
    clearTimeout(this.#timer)
  }

  #schedule (ms: number): void {
    this.#timer = setTimeout(() => { void this.#probe() }, ms)
    this.#timer.unref()
  }

  async #probe (): Promise<void> {
    try {
      await this.#o.probe()
    } catch (err) {
      if (this.#ended) return
      if (this.#state === 'checking') {
        this.#state = 'closed'
        this.#o.log?.warn({ err: this.#cause, probe: err }, 'database unavailable: refusing queries until it answers again')
      }
      this.#schedule(this.#o.probeMs)
      return
    }
    if (this.#state === 'closed') this.#o.log?.info({ downMs: Date.now() - this.#since }, 'database answers again')
    this.#state = 'open'
    this.#cause = undefined
    this.#o.onRecovered?.()
  }
}
