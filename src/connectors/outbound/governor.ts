/**
 * Per-integration outbound rate governor (GCRA, a leaky bucket kept as one "theoretical arrival
 * time" per key). A call over budget is queued (it waits for its slot) rather than failed;
 * only a wait longer than `maxWaitMs` fails, with RATE_LIMIT_EXCEEDED and the seconds to wait.
 * A provider's 429 / Retry-After or pacing signal pauses the whole integration: every queued
 * and later call waits until the pause ends (security.md 1.9.4).
 *
 * State is per process: several gateway instances each keep their own budget, so the
 * provider-side limit (429 + Retry-After, honoured here) remains the backstop across
 * instances. Keys are dropped once idle, so memory is bounded by active integrations.
 */
import { AppError } from '../../errors.ts'

interface Slot { tat: number, pausedUntil: number }

export interface Budget { perSecond: number, burst: number }

export class RateGovernor {
  readonly #slots = new Map<string, Slot>()
  readonly #maxWaitMs: number
  readonly #now: () => number

  constructor (opts: { maxWaitMs: number, now?: () => number }) {
    this.#maxWaitMs = opts.maxWaitMs
    this.#now = opts.now ?? Date.now
  }

  /** Waits for this call's slot; throws RATE_LIMIT_EXCEEDED when the wait would exceed the bound. */
  async acquire (key: string, budget: Budget, platform: string): Promise<void> {
    const interval = 1000 / budget.perSecond
    const tolerance = interval * Math.max(0, budget.burst - 1)
    const now = this.#now()
    const slot = this.#slots.get(key) ?? { tat: 0, pausedUntil: 0 }
    const tat = Math.max(slot.tat, now, slot.pausedUntil)
    const wait = Math.max(0, tat - tolerance - now, slot.pausedUntil - now)
    if (wait > this.#maxWaitMs) throw rateLimited(wait, platform)
    slot.tat = tat + interval
    this.#slots.set(key, slot)
    if (wait > 0) await sleep(wait)
    // A pause that began while this call was queued (a 429 of an earlier call) holds it too.
    for (let extra = slot.pausedUntil - this.#now(); extra > 0; extra = slot.pausedUntil - this.#now()) {
      if (extra > this.#maxWaitMs) throw rateLimited(extra, platform)
      await sleep(extra)
    }
    this.#gc(now)
  }

  /** No calls for this integration for `ms` (Retry-After, provider pacing). */
  pause (key: string, ms: number): void {
    const slot = this.#slots.get(key) ?? { tat: 0, pausedUntil: 0 }
    slot.pausedUntil = Math.max(slot.pausedUntil, this.#now() + ms)
    this.#slots.set(key, slot)
  }

  pausedFor (key: string): number { return Math.max(0, (this.#slots.get(key)?.pausedUntil ?? 0) - this.#now()) }

  #gc (now: number): void {
    if (this.#slots.size < 10_000) return
    for (const [k, s] of this.#slots) if (s.tat < now && s.pausedUntil < now) this.#slots.delete(k)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function rateLimited (waitMs: number, platform: string): AppError {
  const retryAfterSeconds = Math.ceil(waitMs / 1000)
  return new AppError('RATE_LIMIT_EXCEEDED', `The provider's rate budget is spent; retry in ${retryAfterSeconds} s`, { details: { platform, retryAfterSeconds } })
}
