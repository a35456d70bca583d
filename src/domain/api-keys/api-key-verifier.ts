/**
 * The hot path: turns a presented key into a verified key record.
 * 1. shape + CRC32 checksum (no I/O) → MALFORMED;
 * 2. in-process cache by hash, entries live at most `ttlMs` (≤ 5 s), so a key revoked or
 *    disabled on another instance stops working there within that time; the instance that
 *    changes a key drops its entry at once;
 * 3. otherwise one indexed lookup by SHA-256 hash.
 * Validity (expiry, enabled, revoked) is checked on every use, cached or not.
 */
import { eq } from 'drizzle-orm'
import { apiKeys, type ApiKeyRow } from '../../db/schema.ts'
import type { Db } from '../../db/client.ts'
import type { Clock } from '../clock.ts'
import { hashApiKey, isWellFormedApiKey } from './api-key-format.ts'

export type KeyInvalidReason = 'MALFORMED' | 'NOT_FOUND' | 'EXPIRED' | 'DISABLED' | 'REVOKED'

export type VerifiedKey = Pick<ApiKeyRow, 'id' | 'teamId' | 'scopes' | 'expiresAt' | 'enabled' | 'revokedAt' | 'rateLimitRequests' | 'rateLimitWindowMs'>

export type Verification = { ok: true, key: VerifiedKey } | { ok: false, reason: KeyInvalidReason, key?: VerifiedKey }

interface CacheEntry { key: VerifiedKey | null, cachedAt: number }

const MAX_CACHE_ENTRIES = 50_000

export class ApiKeyVerifier {
  readonly #db: Db
  readonly #clock: Clock
  readonly #ttlMs: number
  readonly #cache = new Map<string, CacheEntry>()
  /** Counts database lookups; exposed for tests and metrics. */
  lookups = 0

  constructor (deps: { db: Db, clock: Clock, ttlMs: number }) {
    this.#db = deps.db
    this.#clock = deps.clock
    this.#ttlMs = deps.ttlMs
  }

  async verify (presented: string): Promise<Verification> {
    if (!isWellFormedApiKey(presented)) return { ok: false, reason: 'MALFORMED' }
    const hash = hashApiKey(presented)
    const key = await this.#find(hash)
    if (key === null) return { ok: false, reason: 'NOT_FOUND' }
    const reason = invalidReason(key, this.#clock.now())
    return reason === undefined ? { ok: true, key } : { ok: false, reason, key }
  }

  /** Drop a key from this instance's cache (after revoke, rotate, update). */
  invalidate (hash: string): void {
    this.#cache.delete(hash)
  }

  async #find (hash: string): Promise<VerifiedKey | null> {
    const now = Date.now()
    const hit = this.#cache.get(hash)
    if (hit !== undefined && now - hit.cachedAt < this.#ttlMs) return hit.key
    this.lookups++
    const [row] = await this.#db.select({
      id: apiKeys.id,
      teamId: apiKeys.teamId,
      scopes: apiKeys.scopes,
      expiresAt: apiKeys.expiresAt,
      enabled: apiKeys.enabled,
      revokedAt: apiKeys.revokedAt,
      rateLimitRequests: apiKeys.rateLimitRequests,
      rateLimitWindowMs: apiKeys.rateLimitWindowMs
    }).from(apiKeys).where(eq(apiKeys.keyHash, hash)).limit(1)
    const key = row ?? null
    // Only real keys are cached: unknown hashes would let anyone fill memory.
    if (key !== null && this.#ttlMs > 0) {
      if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!)
      this.#cache.set(hash, { key, cachedAt: now })
    }
    return key
  }
}

export function invalidReason (key: Pick<VerifiedKey, 'revokedAt' | 'enabled' | 'expiresAt'>, now: Date): KeyInvalidReason | undefined {
  if (key.revokedAt !== null) return 'REVOKED'
  if (!key.enabled) return 'DISABLED'
  if (key.expiresAt.getTime() <= now.getTime()) return 'EXPIRED'
  return undefined
}
