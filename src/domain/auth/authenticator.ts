/**
 * Turns a presented credential into a Principal. API keys are recognised by their `sb_`
 * prefix; anything else is treated as a JWT. Every failure is the same `undefined`, so the
 * HTTP layer answers unknown, malformed, expired, disabled and revoked alike.
 */
import type { Clock } from '../clock.ts'
import type { ApiKeyVerifier, Verification, VerifiedKey } from '../api-keys/api-key-verifier.ts'
import type { UsageRecorder } from '../api-keys/usage-recorder.ts'
import { looksLikeApiKey } from '../api-keys/api-key-format.ts'
import type { JwtVerifier } from './jwt-verifier.ts'
import type { Principal } from './principal.ts'

export interface TeamDirectory { exists(teamId: string, beforeLookup?: () => Promise<void>): Promise<boolean> }

export type AuthOutcome = { ok: true, principal: Principal } | { ok: false, malformed: boolean }

export class Authenticator {
  readonly #keys: ApiKeyVerifier
  readonly #jwt: JwtVerifier
  readonly #usage: UsageRecorder
  readonly #teams: TeamDirectory
  readonly #clock: Clock
  readonly #maxKeyRateLimit: number
  /** One frozen principal per cached key record: the record's identity changes when it is looked up again. */
  readonly #principals = new WeakMap<VerifiedKey, Principal>()

  /** `maxKeyRateLimit`: the ceiling on a key's own limit, applied here too so a row written before it cannot exceed it. */
  constructor (deps: { keys: ApiKeyVerifier, jwt: JwtVerifier, usage: UsageRecorder, teams: TeamDirectory, clock: Clock, maxKeyRateLimit: number }) {
    this.#keys = deps.keys
    this.#jwt = deps.jwt
    this.#usage = deps.usage
    this.#teams = deps.teams
    this.#clock = deps.clock
    this.#maxKeyRateLimit = deps.maxKeyRateLimit
  }

  /**
   * `beforeLookup` runs before any database lookup (the per-IP failure limiter throws there).
   * Synchronous for an API key this instance has cached (the hot path: no promise, and the
   * principal object is reused); a promise otherwise.
   */
  authenticate (credential: string, beforeLookup?: () => Promise<void>): AuthOutcome | Promise<AuthOutcome> {
    if (!looksLikeApiKey(credential)) return this.#authenticateUser(credential, beforeLookup)
    const cached = this.#keys.cached(credential)
    if (cached === undefined) return this.#keys.verify(credential, beforeLookup).then((v) => this.#keyOutcome(v, this.#clock.now()))
    const now = this.#clock.now()
    return this.#keyOutcome(this.#keys.check(cached, now), now)
  }

  #keyOutcome (v: Verification, now: Date): AuthOutcome {
    if (!v.ok) return { ok: false, malformed: v.reason === 'MALFORMED' }
    this.#usage.record(v.key.id, now)
    let principal = this.#principals.get(v.key)
    if (principal === undefined) {
      const { rateLimitRequests: requests, rateLimitWindowMs: windowMs } = v.key
      principal = Object.freeze({
        kind: 'api_key',
        teamId: v.key.teamId,
        apiKeyId: v.key.id,
        scopes: Object.freeze([...v.key.scopes]),
        rateLimit: requests !== null && windowMs !== null ? Object.freeze({ requests: Math.min(requests, this.#maxKeyRateLimit), windowMs }) : undefined
      } satisfies Principal)
      this.#principals.set(v.key, principal)
    }
    return { ok: true, principal }
  }

  async #authenticateUser (credential: string, beforeLookup?: () => Promise<void>): Promise<AuthOutcome> {
    const principal = await this.#jwt.verify(credential)
    if (principal === undefined || !(await this.#teams.exists(principal.teamId, beforeLookup))) return { ok: false, malformed: false }
    return { ok: true, principal }
  }
}
