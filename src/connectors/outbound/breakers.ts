/**
 * One cockatiel circuit breaker per provider + integration: `threshold` consecutive failed
 * attempts (5xx, network error, timeout) open it; while open, calls fail at once with
 * UPSTREAM_UNAVAILABLE; after `halfOpenMs` one probe is let through, and its outcome closes or
 * reopens the circuit. Other integrations and providers are unaffected. 4xx answers (429
 * included: the governor handles it) never count.
 *
 * State is per process (a second instance learns about a failing provider by itself); that is
 * acceptable for a breaker, whose job is to stop this process hammering a failing upstream.
 */
import { circuitBreaker, ConsecutiveBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel'
import type { HttpResponse } from '../http.ts'
import { NetworkError } from '../http.ts'

/** Thrown inside the breaker for a 5xx so that it counts; unwrapped by the client. */
export class UpstreamFailure extends Error {
  readonly res: HttpResponse
  constructor (res: HttpResponse) { super(`upstream answered ${res.status}`); this.res = res }
}

export const countsForBreaker = (err: unknown): boolean => err instanceof UpstreamFailure || err instanceof NetworkError

export class Breakers {
  readonly #policies = new Map<string, CircuitBreakerPolicy>()
  readonly #opts: { threshold: number, halfOpenMs: number }

  constructor (opts: { threshold: number, halfOpenMs: number }) { this.#opts = opts }

  for (key: string): CircuitBreakerPolicy {
    let p = this.#policies.get(key)
    if (p === undefined) {
      p = circuitBreaker(handleWhen(countsForBreaker), { halfOpenAfter: this.#opts.halfOpenMs, breaker: new ConsecutiveBreaker(this.#opts.threshold) })
      this.#policies.set(key, p)
    }
    return p
  }
}
