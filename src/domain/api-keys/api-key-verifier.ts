/**
 * The hot path: turns a presented key into a verified key record.
 * 1. in-process cache by the presented key. A change to a key (revoke, update, rotate) is
 *    announced in its transaction on KEY_CHANGES_CHANNEL, and every instance that `follow`s it
 *    drops the entry as the change commits (well under a second). Entries also live at most
 *    `ttlMs` (≤ 5 s): the bound while an instance's listener is down. A hit costs one Map lookup;
 * 2. otherwise shape + CRC32 checksum (no I/O) → MALFORMED;
 * 3. otherwise `beforeLookup` (the per-IP failure limiter) and one indexed lookup by SHA-256;
 *    concurrent misses for the same key share that one lookup (when a busy key's entry expires,
 *    every request in flight misses at once: 50 connections made 50 identical queries).
 * Validity (expiry, enabled, revoked) is checked on every use, cached or not.
 */
import { eq, sql } from 'drizzle-orm'
import { apiKeys, type ApiKeyRow } from '../../db/schema.ts'
import type { Database, Db, Queryable } from '../../db/client.ts'
import type { Clock } from '../clock.ts'
import { hashApiKey, isWellFormedApiKey } from './api-key-format.ts'

export type KeyInvalidReason = 'MALFORMED' | 'NOT_FOUND' | 'EXPIRED' | 'DISABLED' | 'REVOKED'

export type VerifiedKey = Pick<ApiKeyRow, 'id' | 'teamId' | 'scopes' | 'expiresAt' | 'enabled' | 'revokedAt' | 'rateLimitRequests' | 'rateLimitWindowMs'>

export type Verification = { ok: true, key: VerifiedKey } | { ok: false, reason: KeyInvalidReason, key?: VerifiedKey }

interface CacheEntry { key: VerifiedKey, hash: string, cachedAt: number }

const MAX_CACHE_ENTRIES = 50_000

/** Where a committed change to a key announces the key's hash to every instance. */
export const KEY_CHANGES_CHANNEL = 'switchboard_api_key_changes'

/**
 * Announce that the key with this hash changed. Call it inside the transaction that changes the
 * key: PostgreSQL delivers the notification when (and only if) that transaction commits.
 */
export async function announceKeyChange (tx: Queryable, keyHash: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${KEY_CHANGES_CHANNEL}, ${keyHash})`)
}

export class ApiKeyVerifier {
  readonly #db: Db
  readonly #clock: Clock
  readonly #ttlMs: number
  /** By presented key; `#presentedByHash` lets a change (known by hash) drop the entry. */
  readonly #cache = new Map<string, CacheEntry>()
  readonly #presentedByHash = new Map<string, string>()
  /** Lookups in flight, by presented key (only well-formed keys that passed `beforeLookup`). */
  readonly #inflight = new Map<string, Promise<VerifiedKey | null>>()
  /** Bumped by every `invalidate` and `clear`: a lookup that was in flight then does not cache what it read. */
  #invalidations = 0
  /** Counts database lookups; exposed for tests and metrics. */
  lookups = 0

  constructor (deps: { db: Db, clock: Clock, ttlMs: number }) {
    this.#db = deps.db
    this.#clock = deps.clock
    this.#ttlMs = deps.ttlMs
  }

  async verify (presented: string, beforeLookup?: () => Promise<void>): Promise<Verification> {
    let key: VerifiedKey | null | undefined = this.cached(presented)
    if (key === undefined) {
      if (!isWellFormedApiKey(presented)) return { ok: false, reason: 'MALFORMED' }
      await beforeLookup?.()
      // A lookup that finished while the guard ran has cached the key: no second query for it.
      key = this.cached(presented) ?? await this.#sharedLookup(presented)
    }
    return this.check(key)
  }

  /**
   * The cache alone, synchronously: the key record when this instance looked `presented` up
   * less than `ttlMs` ago, else undefined. Not yet checked for validity — pass it to `check`.
   * (The request hot path uses this to stay free of promises on a hit.)
   */
  cached (presented: string): VerifiedKey | undefined {
    const hit = this.#cache.get(presented)
    return hit !== undefined && Date.now() - hit.cachedAt < this.#ttlMs ? hit.key : undefined
  }

  /** Expiry, enabled and revoked, checked now (on every use, cached or not). */
  check (key: VerifiedKey | null, now: Date = this.#clock.now()): Verification {
    if (key === null) return { ok: false, reason: 'NOT_FOUND' }
    const reason = invalidReason(key, now)
    return reason === undefined ? { ok: true, key } : { ok: false, reason, key }
  }

  /**
   * Drop a key from this instance's cache (after revoke, rotate, update). A lookup already in
   * flight may have read the row before the change: it neither caches it nor is joined by later
   * misses, which start a lookup of their own.
   */
  invalidate (hash: string): void {
    this.#invalidations++
    this.#inflight.clear()
    const presented = this.#presentedByHash.get(hash)
    if (presented === undefined) return
    this.#presentedByHash.delete(hash)
    this.#cache.delete(presented)
  }

  /** Drop every entry (the listener reconnected: announcements may have been missed meanwhile). */
  clear (): void {
    this.#invalidations++
    this.#inflight.clear()
    this.#cache.clear()
    this.#presentedByHash.clear()
  }

  /**
   * Keep this cache in step with key changes committed anywhere, another instance included: each
   * announced hash is dropped on arrival, and the whole cache each time the listener is
   * (re)established. Resolves with the function that stops following.
   */
  follow (listen: Database['listen']): Promise<() => Promise<void>> {
    return listen(KEY_CHANGES_CHANNEL, (hash) => { this.invalidate(hash) }, () => { this.clear() })
  }

  #sharedLookup (presented: string): Promise<VerifiedKey | null> {
    const joined = this.#inflight.get(presented)
    if (joined !== undefined) return joined
    const pending: Promise<VerifiedKey | null> = this.#lookup(presented).finally(() => {
      if (this.#inflight.get(presented) === pending) this.#inflight.delete(presented)
    })
    this.#inflight.set(presented, pending)
    return pending
  }

  async #lookup (presented: string): Promise<VerifiedKey | null> {
    const hash = hashApiKey(presented)
    const generation = this.#invalidations
    this.lookups++
    // Cross-team (runs as the owner): a key is found by its hash before its team is known.
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
    // Only real keys are cached: unknown ones would let anyone fill memory.
    if (row !== undefined && this.#ttlMs > 0 && generation === this.#invalidations) {
      if (this.#cache.size >= MAX_CACHE_ENTRIES) {
        const [oldest, entry] = this.#cache.entries().next().value!
        this.#cache.delete(oldest)
        this.#presentedByHash.delete(entry.hash)
      }
      this.#cache.delete(presented) // re-insert at the end: the Map's order is the eviction order
      this.#cache.set(presented, { key: row, hash, cachedAt: Date.now() })
      this.#presentedByHash.set(hash, presented)
    }
    return row ?? null
  }
}

export function invalidReason (key: Pick<VerifiedKey, 'revokedAt' | 'enabled' | 'expiresAt'>, now: Date): KeyInvalidReason | undefined {
  if (key.revokedAt !== null) return 'REVOKED'
  if (!key.enabled) return 'DISABLED'
  if (key.expiresAt.getTime() <= now.getTime()) return 'EXPIRED'
  return undefined
}
