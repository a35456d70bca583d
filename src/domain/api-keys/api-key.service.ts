/**
 * API key management for a team. Every method takes the calling principal and only ever
 * touches rows of the principal's team; another team's key id answers NOT_FOUND.
 * No escalation: a principal can only grant (or rotate, or widen to) scopes it holds itself,
 * and cannot widen the key it authenticates with at all (scopes, rate limit, expiry).
 * Ceilings: every key's `rateLimit.requests` and expiry stay within the configured maxima,
 * whoever writes it (admin, user, CLI); rotation brings an older key's settings within them.
 * Every method's statements run in one tenant transaction (asTenant): row-level security is the
 * second wall behind the team filters. Only `check` reads across teams, through the verifier.
 */
import { and, count, desc, eq, getTableColumns, lt, sql } from 'drizzle-orm'
import { apiKeys, type ApiKeyRow } from '../../db/schema.ts'
import type { Db, Queryable } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { AppError, badInput, notFound } from '../../errors.ts'
import { recordAudit } from '../audit/audit.ts'
import type { Clock } from '../clock.ts'
import { isUuid, newId } from '../ids.ts'
import { parsePage, toConnection, type Connection, type PageLimits } from '../pagination.ts'
import { fail, ok, type Result } from '../result.ts'
import { actorOf, type Principal } from '../auth/principal.ts'
import { coversScopes, isScope } from '../auth/scopes.ts'
import { displayPrefix, generateApiKey, hashApiKey } from './api-key-format.ts'
import { announceKeyChange, type ApiKeyVerifier, type KeyInvalidReason } from './api-key-verifier.ts'

/** What callers may see of a key: never the hash. */
export type ApiKeyView = Omit<ApiKeyRow, 'keyHash'>
export interface CreatedKey { apiKey: ApiKeyView, secret: string }

export interface RateLimitInput { requests: number, windowMs: number }
export interface CreateKeyInput { name: string, scopes: string[], expiresAt?: Date | null, rateLimit?: RateLimitInput | null }
export interface UpdateKeyInput { name?: string | null, scopes?: string[] | null, enabled?: boolean | null, rateLimit?: RateLimitInput | null, expiresAt?: Date | null }
export interface KeyCheck { valid: boolean, reason: KeyInvalidReason | null, keyId: string | null, scopes: string[], expiresAt: Date | null, rateLimit?: RateLimitInput | undefined }

const MAX_GRACE_SECONDS = 7 * 24 * 3600
const { keyHash: _hash, ...viewColumns } = getTableColumns(apiKeys)

/** Expiry default and the ceilings every key is held to (`config.apiKeys`). */
export interface KeyLimits {
  defaultExpiryDays: number
  maxExpiryDays: number
  maxRateLimitRequests: number
}

export interface ApiKeyServiceDeps {
  db: Db
  clock: Clock
  verifier: ApiKeyVerifier
  pages: PageLimits
  limits: KeyLimits
  /** What a key without its own limit gets (`config.rateLimit`): the yardstick for "widening" to `rateLimit: null`. */
  defaultRateLimit: { defaultRequests: number, defaultWindowMs: number }
}

export class ApiKeyService {
  readonly #d: ApiKeyServiceDeps
  constructor (deps: ApiKeyServiceDeps) { this.#d = deps }

  async list (p: Principal, args: { first?: number | null, after?: string | null }): Promise<Result<Connection<ApiKeyView>>> {
    const page = parsePage(args, this.#d.pages)
    if (!page.ok) return page
    const { limit, afterId } = page.value
    const team = eq(apiKeys.teamId, p.teamId)
    const [rows, [total]] = await asTenant(this.#d.db, p.teamId, (tx) => Promise.all([
      tx.select(viewColumns).from(apiKeys)
        .where(afterId === undefined ? team : and(team, lt(apiKeys.id, afterId)))
        .orderBy(desc(apiKeys.id)).limit(limit + 1),
      tx.select({ n: count() }).from(apiKeys).where(team)
    ]))
    return ok(toConnection(rows, limit, total?.n ?? 0))
  }

  async get (p: Principal, id: string): Promise<Result<ApiKeyView>> {
    const row = await asTenant(this.#d.db, p.teamId, (tx) => this.#find(tx, p.teamId, id))
    return row === undefined ? fail(notFound('API key')) : ok(row)
  }

  async create (p: Principal, input: CreateKeyInput, requestId?: string): Promise<Result<CreatedKey>> {
    const checked = this.#validate(p, input, true)
    if (!checked.ok) return checked
    return ok(await this.createForTeam(p.teamId, input, actorOf(p), requestId))
  }

  /** Also used by the CLI and first-start bootstrap, which act as the system. */
  async createForTeam (teamId: string, input: CreateKeyInput, actor: { type: 'user' | 'api_key' | 'system', id: string, label?: string }, requestId?: string): Promise<CreatedKey> {
    // The system callers check their input first; this keeps the ceilings true of every row.
    const within = this.#withinCeilings(input)
    if (!within.ok) throw within.error
    const secret = generateApiKey()
    const expiresAt = input.expiresAt ?? addDays(this.#d.clock.now(), this.#d.limits.defaultExpiryDays)
    const apiKey = await asTenant(this.#d.db, teamId, async (tx) => {
      const [row] = await tx.insert(apiKeys).values({
        id: newId(),
        teamId,
        name: input.name.trim(),
        prefix: displayPrefix(secret),
        keyHash: hashApiKey(secret),
        scopes: [...new Set(input.scopes)],
        rateLimitRequests: input.rateLimit?.requests ?? null,
        rateLimitWindowMs: input.rateLimit?.windowMs ?? null,
        expiresAt,
        createdBy: actor.label ?? `${actor.type}:${actor.id}`
      }).returning(viewColumns)
      await recordAudit(tx, { teamId, actor, action: 'api_key.created', target: { type: 'api_key', id: row!.id }, metadata: { name: row!.name, scopes: row!.scopes }, requestId })
      return row!
    })
    return { apiKey, secret }
  }

  async update (p: Principal, id: string, input: UpdateKeyInput, requestId?: string): Promise<Result<ApiKeyView>> {
    const checked = this.#validate(p, input, false)
    if (!checked.ok) return checked
    return this.#change(p, id, 'api_key.updated', requestId, async (tx, current) => {
      const widened = current.id === p.apiKeyId ? this.#widens(current, input) : undefined
      if (widened !== undefined) {
        return fail(new AppError('FORBIDDEN', `A key cannot widen its own ${widened}`, { details: { field: widened } }))
      }
      const [row] = await tx.update(apiKeys).set({
        ...(input.name != null && { name: input.name.trim() }),
        ...(input.scopes != null && { scopes: [...new Set(input.scopes)] }),
        ...(input.enabled != null && { enabled: input.enabled }),
        ...(input.rateLimit !== undefined && { rateLimitRequests: input.rateLimit?.requests ?? null, rateLimitWindowMs: input.rateLimit?.windowMs ?? null }),
        ...(input.expiresAt != null && { expiresAt: input.expiresAt })
      }).where(eq(apiKeys.id, current.id)).returning(viewColumns)
      return { view: row!, metadata: { changed: Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] !== undefined) } }
    })
  }

  /**
   * Issue a new key with the same name, scopes and rate limit; the old key keeps working for
   * `gracePeriodSeconds` (its expiry is brought forward) and then stops. The new key expires
   * at the later of the old expiry and the default expiry, except when a key rotates itself:
   * then it keeps the old expiry, so a key cannot renew its own life. Settings from before the
   * ceilings (or under a higher one) are brought down to them: rotation, the answer to a leak,
   * is never refused over a limit the caller did not ask for.
   */
  async rotate (p: Principal, id: string, gracePeriodSeconds: number, requestId?: string): Promise<Result<CreatedKey>> {
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0 || gracePeriodSeconds > MAX_GRACE_SECONDS) {
      return fail(badInput(`gracePeriodSeconds must be between 0 and ${MAX_GRACE_SECONDS}`, { field: 'gracePeriodSeconds' }))
    }
    const secret = generateApiKey()
    const now = this.#d.clock.now()
    const { maxRateLimitRequests, maxExpiryDays, defaultExpiryDays } = this.#d.limits
    let created: ApiKeyView | undefined
    const result = await this.#change(p, id, 'api_key.rotated', requestId, async (tx, old) => {
      if (old.revokedAt !== null) return fail(badInput('A revoked key cannot be rotated'))
      const renewed = old.id === p.apiKeyId ? old.expiresAt.getTime() : Math.max(old.expiresAt.getTime(), addDays(now, defaultExpiryDays).getTime())
      const [fresh] = await tx.insert(apiKeys).values({
        id: newId(),
        teamId: old.teamId,
        name: old.name,
        prefix: displayPrefix(secret),
        keyHash: hashApiKey(secret),
        scopes: old.scopes,
        rateLimitRequests: old.rateLimitRequests === null ? null : Math.min(old.rateLimitRequests, maxRateLimitRequests),
        rateLimitWindowMs: old.rateLimitWindowMs,
        enabled: old.enabled,
        expiresAt: new Date(Math.min(renewed, addDays(now, maxExpiryDays).getTime())),
        createdBy: actorOf(p).label
      }).returning(viewColumns)
      const graceEnd = new Date(now.getTime() + gracePeriodSeconds * 1000)
      const [oldView] = await tx.update(apiKeys).set({
        expiresAt: sql`least(${apiKeys.expiresAt}, ${graceEnd.toISOString()}::timestamptz)`,
        replacedBy: fresh!.id
      }).where(eq(apiKeys.id, old.id)).returning(viewColumns)
      created = fresh
      return { view: oldView!, metadata: { newKeyId: fresh!.id, gracePeriodSeconds } }
    })
    if (!result.ok) return result
    return ok({ apiKey: created!, secret })
  }

  async revoke (p: Principal, id: string, requestId?: string): Promise<Result<ApiKeyView>> {
    return this.#change(p, id, 'api_key.revoked', requestId, async (tx, current) => {
      if (current.revokedAt !== null) return { view: current, metadata: { alreadyRevoked: true } }
      const [row] = await tx.update(apiKeys).set({ revokedAt: this.#d.clock.now(), enabled: false })
        .where(eq(apiKeys.id, current.id)).returning(viewColumns)
      return { view: row!, metadata: {} }
    }, { allowNarrowerPrincipal: true })
  }

  /** `verifyApiKey`: whether a key is valid, for this team only (another team's key is NOT_FOUND). */
  async check (p: Principal, presented: string): Promise<KeyCheck> {
    const v = await this.#d.verifier.verify(presented)
    const invalid = (reason: KeyInvalidReason): KeyCheck => ({ valid: false, reason, keyId: null, scopes: [], expiresAt: null })
    if (!v.ok && v.reason === 'MALFORMED') return invalid('MALFORMED')
    const key = v.key
    if (key === undefined || key.teamId !== p.teamId) return invalid('NOT_FOUND')
    const rateLimit = key.rateLimitRequests !== null && key.rateLimitWindowMs !== null
      ? { requests: key.rateLimitRequests, windowMs: key.rateLimitWindowMs }
      : undefined
    return { valid: v.ok, reason: v.ok ? null : v.reason, keyId: key.id, scopes: key.scopes, expiresAt: key.expiresAt, rateLimit }
  }

  async #find (q: Queryable, teamId: string, id: string): Promise<ApiKeyRow | undefined> {
    if (!isUuid(id)) return undefined
    const [row] = await q.select().from(apiKeys).where(and(eq(apiKeys.teamId, teamId), eq(apiKeys.id, id))).limit(1)
    return row
  }

  /**
   * Shared shape of every change to an existing key: lock the row in the principal's team,
   * refuse to act on a key with more power than the caller (unless the change only narrows,
   * like revoke), apply, audit, commit, then drop the key from this instance's cache.
   */
  async #change (
    p: Principal, id: string, action: string, requestId: string | undefined,
    apply: (tx: Queryable, current: ApiKeyRow) => Promise<{ view: ApiKeyView, metadata: Record<string, unknown> } | Result<never>>,
    opts: { allowNarrowerPrincipal?: boolean } = {}
  ): Promise<Result<ApiKeyView>> {
    let staleHash: string | undefined
    if (!isUuid(id)) return fail(notFound('API key'))
    const result = await asTenant(this.#d.db, p.teamId, async (tx): Promise<Result<ApiKeyView>> => {
      const [current] = await tx.select().from(apiKeys)
        .where(and(eq(apiKeys.teamId, p.teamId), eq(apiKeys.id, id))).limit(1).for('update')
      if (current === undefined) return fail(notFound('API key'))
      if (opts.allowNarrowerPrincipal !== true && !coversScopes(p.scopes, current.scopes)) {
        return fail(new AppError('FORBIDDEN', 'You cannot change a key that holds scopes you do not have'))
      }
      const applied = await apply(tx, current)
      if ('ok' in applied) return applied
      await recordAudit(tx, { teamId: p.teamId, actor: actorOf(p), action, target: { type: 'api_key', id: current.id }, metadata: applied.metadata, requestId })
      await announceKeyChange(tx, current.keyHash) // other instances drop it from their caches as this commits
      staleHash = current.keyHash
      return ok(applied.view)
    })
    if (staleHash !== undefined) this.#d.verifier.invalidate(staleHash)
    return result
  }

  #validate (p: Principal, input: UpdateKeyInput, creating: boolean): Result<true> {
    if (input.name != null || creating) {
      const name = (input.name ?? '').trim()
      if (name.length === 0 || name.length > 200) return fail(badInput('name must be 1 to 200 characters', { field: 'name' }))
    }
    if (input.scopes != null || creating) {
      const scopes = input.scopes ?? []
      if (scopes.length === 0) return fail(badInput('scopes must not be empty', { field: 'scopes' }))
      const unknown = scopes.filter((s) => !isScope(s))
      if (unknown.length > 0) return fail(badInput(`Unknown scope: ${unknown.join(', ')}`, { field: 'scopes' }))
      if (!coversScopes(p.scopes, scopes)) return fail(new AppError('FORBIDDEN', 'You cannot grant scopes you do not hold'))
    }
    if (input.expiresAt != null && input.expiresAt.getTime() <= this.#d.clock.now().getTime()) {
      return fail(badInput('expiresAt must be in the future', { field: 'expiresAt' }))
    }
    if (input.rateLimit != null) {
      const { requests, windowMs } = input.rateLimit
      if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(windowMs) || windowMs < 1000 || windowMs > 86_400_000) {
        return fail(badInput('rateLimit needs requests ≥ 1 and windowMs between 1000 and 86400000', { field: 'rateLimit' }))
      }
    }
    return this.#withinCeilings(input)
  }

  /** The configured maxima, for every principal. (A key always expires: `expiresAt` is never null in a row.) */
  #withinCeilings (input: UpdateKeyInput): Result<true> {
    const { maxRateLimitRequests, maxExpiryDays } = this.#d.limits
    if (input.rateLimit != null && input.rateLimit.requests > maxRateLimitRequests) {
      return fail(badInput(`rateLimit.requests must not exceed ${maxRateLimitRequests}`, { field: 'rateLimit' }))
    }
    if (input.expiresAt != null && input.expiresAt.getTime() > addDays(this.#d.clock.now(), maxExpiryDays).getTime()) {
      return fail(badInput(`expiresAt must be at most ${maxExpiryDays} days from now`, { field: 'expiresAt' }))
    }
    return ok(true)
  }

  /**
   * Which field of `input` would give the caller's own key more than it has: a scope it lacks,
   * a later expiry, or a limit with more requests or a faster rate (`null` = the server default).
   */
  #widens (current: ApiKeyRow, input: UpdateKeyInput): 'scopes' | 'expiresAt' | 'rateLimit' | undefined {
    if (input.scopes != null && !coversScopes(current.scopes, input.scopes)) return 'scopes'
    if (input.expiresAt != null && input.expiresAt.getTime() > current.expiresAt.getTime()) return 'expiresAt'
    if (input.rateLimit !== undefined) {
      const { defaultRequests, defaultWindowMs } = this.#d.defaultRateLimit
      const was = current.rateLimitRequests !== null && current.rateLimitWindowMs !== null
        ? { requests: current.rateLimitRequests, windowMs: current.rateLimitWindowMs }
        : { requests: defaultRequests, windowMs: defaultWindowMs }
      const next = input.rateLimit ?? { requests: defaultRequests, windowMs: defaultWindowMs }
      // more per window, or more per millisecond (cross-multiplied exactly: the products pass 2^53)
      if (next.requests > was.requests || BigInt(next.requests) * BigInt(was.windowMs) > BigInt(was.requests) * BigInt(next.windowMs)) return 'rateLimit'
    }
    return undefined
  }
}

function addDays (from: Date, days: number): Date {
  return new Date(from.getTime() + days * 86_400_000)
}
