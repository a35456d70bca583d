/**
 * Idempotency keys: a mutation sent with a key runs once per key, team and credential; a retry
 * gets the stored answer. The key is claimed atomically before the mutation runs (an insert that
 * only one request can win), answered afterwards, or released when the answer must not be kept.
 *
 * A claim whose process died before answering would block its key for the whole TTL; instead a
 * claim holds the key for a lease (`leaseMs`) and an expired one may be taken over. Every row
 * stops counting at `expires_at` (the lease, then the TTL), so expired rows are ignored at once and
 * purged later. Times come from the injected clock, not the database's `now()`.
 */
import { and, eq, lte } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { idempotencyKeys } from '../../db/schema.ts'
import type { Clock } from '../clock.ts'
import type { SealContext, Vault } from '../vault/vault.ts'
import { asTenant } from '../../db/tenant.ts'

/** Whose key this is: the team, the credential (`key:<id>` or `user:<sub>`) and the client's key. */
export interface KeyScope { teamId: string, principal: string, key: string }

export interface ClaimRequest extends KeyScope {
  /** requestHash() of the operation. */
  requestHash: string
  /** The claiming request's id: only it may answer or release the claim. */
  requestId: string
}

export interface Claim extends KeyScope { requestId: string, claimedAt: Date }

export interface StoredAnswer { status: number, contentType: string, body: string }

export type ClaimOutcome =
  | { kind: 'claimed', claim: Claim }
  /** The key was answered for this same request: send the answer again without running anything. */
  | { kind: 'replay', answer: StoredAnswer }
  /** The key's first request has not answered yet. */
  | { kind: 'in_progress' }
  /** The key was used for a different request. */
  | { kind: 'mismatch' }

export interface IdempotencyServiceDeps {
  db: Db
  clock: Clock
  vault: Vault
  /** How long an answer is kept (IDEMPOTENCY_TTL_SECONDS). */
  ttlMs: number
  /** How long a claim without an answer holds its key. */
  leaseMs: number
}

/** Tries of the claim when the row it lost to disappears before it is read (released, purged). */
const CLAIM_TRIES = 3

export class IdempotencyService {
  readonly #d: IdempotencyServiceDeps
  constructor (deps: IdempotencyServiceDeps) { this.#d = deps }

  get leaseMs (): number { return this.#d.leaseMs }

  async claim (req: ClaimRequest): Promise<ClaimOutcome> {
    for (let i = 0; i < CLAIM_TRIES; i++) {
      const now = this.#d.clock.now()
      const claim = { teamId: req.teamId, principal: req.principal, key: req.key, requestHash: req.requestHash, requestId: req.requestId }
      const fresh = { ...claim, status: 'in_progress', responseStatus: null, responseContentType: null, responseBody: null, createdAt: now, expiresAt: new Date(now.getTime() + this.#d.leaseMs) }
      const { won, row } = await asTenant(this.#d.db, req.teamId, async (tx) => {
        // Insert, or take over a row that has expired; a live row is left alone and nothing returns.
        const won = await tx.insert(idempotencyKeys).values(fresh)
          .onConflictDoUpdate({ target: [idempotencyKeys.teamId, idempotencyKeys.principal, idempotencyKeys.key], set: fresh, setWhere: lte(idempotencyKeys.expiresAt, now) })
          .returning({ requestId: idempotencyKeys.requestId })
        if (won.length > 0) return { won: true, row: undefined }
        const [row] = await tx.select().from(idempotencyKeys).where(this.#row(req))
        return { won: false, row }
      })
      if (won) return { kind: 'claimed', claim: { teamId: req.teamId, principal: req.principal, key: req.key, requestId: req.requestId, claimedAt: now } }
      if (row === undefined || row.expiresAt <= now) continue
      if (row.requestHash !== req.requestHash) return { kind: 'mismatch' }
      if (row.status !== 'completed' || row.responseBody === null) return { kind: 'in_progress' }
      return {
        kind: 'replay',
        answer: { status: row.responseStatus ?? 200, contentType: row.responseContentType ?? 'application/json; charset=utf-8', body: this.#d.vault.open(row.responseBody, sealContext(row)) }
      }
    }
    return { kind: 'in_progress' }
  }

  /** Stores the claim's answer for the TTL (counted from the claim). False when the claim was lost (its lease ran out and another request took the key). */
  async complete (claim: Claim, answer: StoredAnswer): Promise<boolean> {
    const stored = await asTenant(this.#d.db, claim.teamId, (tx) => tx.update(idempotencyKeys)
      .set({
        status: 'completed',
        responseStatus: answer.status,
        responseContentType: answer.contentType,
        responseBody: this.#d.vault.seal(answer.body, sealContext(claim)),
        expiresAt: new Date(claim.claimedAt.getTime() + this.#d.ttlMs)
      })
      .where(and(this.#row(claim), eq(idempotencyKeys.requestId, claim.requestId)))
      .returning({ key: idempotencyKeys.key }))
    return stored.length > 0
  }

  /** Gives the key back: the next request with it runs. */
  async release (claim: Claim): Promise<void> {
    await asTenant(this.#d.db, claim.teamId, (tx) => tx.delete(idempotencyKeys).where(and(this.#row(claim), eq(idempotencyKeys.requestId, claim.requestId))))
  }

  /** Deletes every row that no longer counts; returns how many. */
  async purgeExpired (): Promise<number> {
    // Cross-team (runs as the owner): the hourly purge covers every team's expired keys.
    const gone = await this.#d.db.delete(idempotencyKeys).where(lte(idempotencyKeys.expiresAt, this.#d.clock.now())).returning({ key: idempotencyKeys.key })
    return gone.length
  }

  #row (s: KeyScope) {
    return and(eq(idempotencyKeys.teamId, s.teamId), eq(idempotencyKeys.principal, s.principal), eq(idempotencyKeys.key, s.key))
  }
}

/** The stored answer is bound to its team, credential and key: copied into another row it does not decrypt. */
const sealContext = (s: KeyScope): SealContext =>
  ({ teamId: s.teamId, rowId: `${s.principal}|${s.key}`, column: 'idempotency_keys.response_body' })
