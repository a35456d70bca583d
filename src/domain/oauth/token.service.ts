/**
 * OAuth tokens of integrations after the connect: credential status, on-demand refresh
 * (single-flight per integration across processes), import, disconnect with revocation and
 * the two background jobs (refresh due tokens, retry owed revocations).
 *
 * Single flight: calls in one process share one promise per integration; across processes the
 * refresh runs in a transaction holding `SELECT … FOR UPDATE` on the credential row and re-reads
 * it, so a waiter sees the token its predecessor just stored and makes no call. A rotated
 * refresh token is written in that same transaction, so an old one is never used again.
 *
 * Backoff: a failed refresh sets `next_refresh_at` (1, 2, 4, 8 minutes); until then neither the
 * background job nor an on-demand call touches the token endpoint (an on-demand call gets the
 * still-valid token, or UPSTREAM_UNAVAILABLE with `retryAfterSeconds` once it has expired).
 *
 * Unreadable secrets: every ciphertext a refresh may need (access and refresh token, the team's
 * client secret) is decrypted before any provider call. A tampered, moved or key-less ciphertext
 * marks the integration `error` (one audit event), sends nothing to the provider and answers
 * INVALID_CREDENTIALS (`reason: credentials_unreadable`): the user must reconnect.
 *
 * Row-level security: everything done for one integration runs as its team (asTenant), the
 * background jobs' per-integration work included. Only the jobs' scans over every team and the
 * lookup of an owed revocation by its id (all a queued job carries) run as the owner.
 */
import { and, eq, isNotNull, isNull, lte, or, sql } from 'drizzle-orm'
import type { HttpClient } from '../../connectors/http.ts'
import type { ProviderCatalog } from '../../connectors/registry.ts'
import type { ProviderDefinition, TokenSet } from '../../connectors/types.ts'
import type { Db, Queryable } from '../../db/client.ts'
import { integrationCredentials, integrations, tokenRevocations, type IntegrationCredentialRow, type IntegrationRow } from '../../db/schema.ts'
import { asTenant } from '../../db/tenant.ts'
import { AppError, badInput, notFound } from '../../errors.ts'
import { recordAudit } from '../audit/audit.ts'
import { actorOf, type Principal } from '../auth/principal.ts'
import type { Clock } from '../clock.ts'
import { isUuid, newId } from '../ids.ts'
import type { Logger } from '../logger.ts'
import { fail, ok, type Result } from '../result.ts'
import { sealCtx } from '../vault/encrypted-columns.ts'
import { VaultError, type Vault } from '../vault/vault.ts'
import { clientFor, COL, urlVars } from '../integrations/integration-context.ts'
import type { OAuthClient } from './oauth-client.ts'

export type CredentialStatus = 'VALID' | 'EXPIRING' | 'EXPIRED' | 'NEEDS_REAUTH' | 'REVOKED'
export interface CredentialView {
  scopes: string[]
  expiresAt: Date | null
  status: CredentialStatus
  lastRefreshedAt: Date | null
  refreshFailures: number
  nextRefreshAt: Date | null
  refreshTokenExpiresAt: Date | null
}
export interface ImportTokenInput { provider: string, integrationId?: string | null, name?: string | null, accessToken: string, refreshToken?: string | null, expiresAt?: Date | null, expiresIn?: number | null, scopes?: string[] | null, accountId?: string | null, accountName?: string | null }
export interface FreshToken { accessToken: string, tokenType: string, expiresAt: Date | null, extra: Record<string, unknown> }

/**
 * Wait before retry n after n consecutive failed refreshes (seed 001: 1, 2, 4, 8 minutes).
 * "More than 3 consecutive failures → needs_reauth" (issue 4) counts failed *retries*: the first
 * attempt fails, retries follow after 1, 2, 4 and 8 minutes, and only when the 4th retry (5th
 * failure in a row) fails too is the integration marked needs_reauth. Counting the first attempt
 * as a retry would make the 8-minute step unreachable. `invalid_grant` ends it at once.
 */
export const REFRESH_BACKOFF_MINUTES = [1, 2, 4, 8] as const
export const MAX_REFRESH_FAILURES = REFRESH_BACKOFF_MINUTES.length
/** Revocation retries: minutes after attempt n; after the last, the revocation is given up (audited). */
const REVOKE_BACKOFF_MINUTES = [1, 5, 15, 60, 240, 720]

const SYSTEM = { type: 'system' as const, id: 'token-refresh' }

export interface TokenServiceDeps {
  db: Db
  clock: Clock
  vault: Vault
  catalog: ProviderCatalog
  oauth: OAuthClient
  http: HttpClient
  log: Logger
  refreshMarginSeconds: number
  /** Schedules a revocation retry in the job queue, when one is wired (`app.jobs`). */
  scheduleRevocationRetry?: (revocationId: string, afterSeconds: number) => Promise<void>
}

export class TokenService {
  readonly #d: TokenServiceDeps
  readonly #inFlight = new Map<string, Promise<Result<FreshToken>>>()
  constructor (deps: TokenServiceDeps) { this.#d = deps }

  // ── credential status ────────────────────────────────────────────────────────────────

  async credential (teamId: string, integration: Pick<IntegrationRow, 'id' | 'status' | 'authMode'>): Promise<CredentialView | null> {
    if (integration.authMode !== 'oauth2') return null
    const [c] = await asTenant(this.#d.db, teamId, (tx) => tx.select().from(integrationCredentials)
      .where(and(eq(integrationCredentials.teamId, teamId), eq(integrationCredentials.integrationId, integration.id))).limit(1))
    if (c === undefined) {
      return integration.status === 'pending' ? null : { scopes: [], expiresAt: null, status: 'REVOKED', lastRefreshedAt: null, refreshFailures: 0, nextRefreshAt: null, refreshTokenExpiresAt: null }
    }
    return { scopes: c.scopes, expiresAt: c.expiresAt, status: this.#status(c), lastRefreshedAt: c.lastRefreshedAt, refreshFailures: c.refreshFailures, nextRefreshAt: c.nextRefreshAt, refreshTokenExpiresAt: c.refreshTokenExpiresAt }
  }

  #status (c: IntegrationCredentialRow): CredentialStatus {
    if (c.status === 'needs_reauth') return 'NEEDS_REAUTH'
    if (c.expiresAt === null) return 'VALID'
    const now = this.#d.clock.now().getTime()
    if (c.expiresAt.getTime() <= now) return 'EXPIRED'
    return c.expiresAt.getTime() <= now + this.#d.refreshMarginSeconds * 1000 ? 'EXPIRING' : 'VALID'
  }

  // ── on-demand refresh ────────────────────────────────────────────────────────────────

  /** A usable access token for a connector call: refreshed first when it expires within the margin. */
  async accessToken (teamId: string, integrationId: string): Promise<Result<FreshToken>> {
    return this.#singleFlight(teamId, integrationId, false)
  }

  /** `refreshIntegrationToken(id)`: refresh now, whatever the expiry. */
  async refreshNow (p: Principal, id: string): Promise<Result<CredentialView>> {
    const integration = await asTenant(this.#d.db, p.teamId, (tx) => this.#integration(tx, p.teamId, id))
    if (integration === undefined) return fail(notFound('Integration'))
    if (integration.authMode !== 'oauth2') return fail(new AppError('BAD_USER_INPUT', 'This integration does not use OAuth'))
    const r = await this.#singleFlight(p.teamId, id, true)
    if (!r.ok) return r
    return ok((await this.credential(p.teamId, integration))!)
  }

  #singleFlight (teamId: string, integrationId: string, force: boolean): Promise<Result<FreshToken>> {
    const key = `${teamId}:${integrationId}:${force ? 'f' : 'n'}`
    const running = this.#inFlight.get(key)
    if (running !== undefined) return running
    const p = this.#refreshLocked(teamId, integrationId, force).finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, p)
    return p
  }

  async #refreshLocked (teamId: string, integrationId: string, force: boolean): Promise<Result<FreshToken>> {
    if (!isUuid(integrationId)) return fail(notFound('Integration'))
    return asTenant(this.#d.db, teamId, async (tx): Promise<Result<FreshToken>> => {
      // Bounded wait for another instance's refresh of the same row (security.md: 10 s lock).
      await tx.execute(sql`set local lock_timeout = '10s'`)
      const [c] = await tx.select().from(integrationCredentials)
        .where(and(eq(integrationCredentials.teamId, teamId), eq(integrationCredentials.integrationId, integrationId))).limit(1).for('update')
      if (c === undefined) return fail(new AppError('INVALID_CREDENTIALS', 'This integration is not connected'))
      if (c.status === 'needs_reauth') return fail(new AppError('INVALID_CREDENTIALS'))
      const integration = (await this.#integration(tx, teamId, integrationId))!
      const def = this.#d.catalog.get(integration.provider)
      const ctx = (col: string) => sealCtx(col, teamId, integrationId)
      // Decrypt everything this call may use before any provider request (see the header comment).
      let accessToken: string
      let refreshToken: string | null
      let client: ReturnType<typeof clientFor>
      let column: string = COL.accessToken
      try {
        accessToken = this.#d.vault.open(c.accessToken, ctx(COL.accessToken))
        column = COL.refreshToken
        refreshToken = this.#d.vault.openOptional(c.refreshToken, ctx(COL.refreshToken))
        column = COL.clientSecret
        client = def === undefined ? undefined : clientFor(this.#d.catalog, this.#d.vault, def, integration)
      } catch (err) {
        if (!(err instanceof VaultError)) throw err
        return this.#unreadable(tx, integration, column)
      }
      const current = (): FreshToken => ({ accessToken, tokenType: c.tokenType, expiresAt: c.expiresAt, extra: c.extra })
      const nowMs = this.#d.clock.now().getTime()
      const margin = nowMs + this.#d.refreshMarginSeconds * 1000
      const stillValid = c.expiresAt === null || c.expiresAt.getTime() > nowMs
      if (!force && (c.expiresAt === null || c.expiresAt.getTime() > margin)) return ok(current())
      if (refreshToken === null) {
        if (!stillValid) return fail(new AppError('TOKEN_EXPIRED', 'The token expired and the provider gave no refresh token; please reconnect'))
        return force ? fail(new AppError('BAD_USER_INPUT', 'The provider issued no refresh token for this integration')) : ok(current())
      }
      // Inside the backoff window after a failed refresh: no call to the token endpoint.
      if (c.nextRefreshAt !== null && c.nextRefreshAt.getTime() > nowMs) {
        if (!force && stillValid) return ok(current())
        const retryAfterSeconds = Math.ceil((c.nextRefreshAt.getTime() - nowMs) / 1000)
        return fail(new AppError('UPSTREAM_UNAVAILABLE', `The last token refresh failed; the next attempt is in ${retryAfterSeconds} s`, { details: { retryable: true, retryAfterSeconds, reason: 'refresh_backoff' } }))
      }
      if (def === undefined || client === undefined) return fail(new AppError('OAUTH_ERROR', 'No OAuth client is configured for this provider'))
      const urls = this.#urls(def, integration)
      if (!urls.ok) return urls
      const outcome = await this.#d.oauth.refresh(def, urls.value, client, refreshToken)
      const now = this.#d.clock.now()
      if (!outcome.ok) return this.#recordFailure(tx, c, integration, outcome.error, now)
      const t = outcome.tokens
      const expiresAt = this.#expiry(def, t, now)
      await tx.update(integrationCredentials).set({
        accessToken: this.#d.vault.seal(t.accessToken, ctx(COL.accessToken)),
        // Rotated: the new refresh token replaces the old one in this same transaction.
        ...(t.refreshToken !== null && { refreshToken: this.#d.vault.seal(t.refreshToken, ctx(COL.refreshToken)), refreshTokenExpiresAt: this.#refreshExpiry(t, now) }),
        tokenType: t.tokenType,
        ...(t.scopes !== null && { scopes: t.scopes }),
        expiresAt,
        lastRefreshedAt: now,
        refreshFailures: 0,
        nextRefreshAt: null,
        extra: { ...c.extra, ...t.extra },
        updatedAt: now
      }).where(eq(integrationCredentials.integrationId, integrationId))
      if (integration.status !== 'connected') await tx.update(integrations).set({ status: 'connected', lastError: null, updatedAt: now }).where(eq(integrations.id, integrationId))
      return ok({ accessToken: t.accessToken, tokenType: t.tokenType, expiresAt, extra: { ...c.extra, ...t.extra } })
    })
  }

  async #recordFailure (tx: Queryable, c: IntegrationCredentialRow, integration: IntegrationRow, error: string, now: Date): Promise<Result<FreshToken>> {
    const failures = c.refreshFailures + 1
    if (error === 'invalid_grant' || failures > MAX_REFRESH_FAILURES) return this.#markNeedsReauth(tx, c, integration, error, failures, now)
    const backoff = REFRESH_BACKOFF_MINUTES[failures - 1]!
    await tx.update(integrationCredentials).set({ refreshFailures: failures, nextRefreshAt: new Date(now.getTime() + backoff * 60_000), updatedAt: now }).where(eq(integrationCredentials.integrationId, c.integrationId))
    this.#d.log.warn({ integrationId: c.integrationId, provider: integration.provider, error, failures, retryInMinutes: backoff }, 'token refresh failed')
    return fail(new AppError(error === 'network_error' ? 'NETWORK_ERROR' : 'CONNECTION_FAILED', 'The provider did not refresh the token; retrying later', { details: { retryable: true } }))
  }

  async #markNeedsReauth (tx: Queryable, c: IntegrationCredentialRow, integration: IntegrationRow, error: string, failures: number, now: Date): Promise<Result<FreshToken>> {
    await tx.update(integrationCredentials).set({ status: 'needs_reauth', refreshFailures: failures, nextRefreshAt: null, updatedAt: now }).where(eq(integrationCredentials.integrationId, c.integrationId))
    await tx.update(integrations).set({ status: 'needs_reauth', lastError: `The provider refused the token (${error}); please reconnect`, updatedAt: now }).where(eq(integrations.id, c.integrationId))
    await recordAudit(tx, { teamId: c.teamId, actor: SYSTEM, action: 'integration.needs_reauth', target: { type: 'integration', id: c.integrationId }, metadata: { provider: integration.provider, error, failures } })
    this.#d.log.warn({ integrationId: c.integrationId, provider: integration.provider, error, failures }, 'token refused: integration needs re-authorization')
    return fail(new AppError('INVALID_CREDENTIALS', undefined, { details: { reason: error } }))
  }

  /** A stored secret of this integration does not decrypt: status `error` (audited once), nothing sent. */
  async #unreadable (tx: Queryable, integration: IntegrationRow, column: string): Promise<Result<never>> {
    const now = this.#d.clock.now()
    if (integration.status !== 'error') {
      await tx.update(integrations).set({ status: 'error', lastError: 'The stored credentials cannot be decrypted; please reconnect', updatedAt: now }).where(eq(integrations.id, integration.id))
      await recordAudit(tx, { teamId: integration.teamId, actor: SYSTEM, action: 'integration.credentials_unreadable', target: { type: 'integration', id: integration.id }, metadata: { provider: integration.provider, column } })
    }
    this.#d.log.error({ integrationId: integration.id, provider: integration.provider, column }, 'stored credential does not decrypt (tampered, moved or its key is missing); integration marked error')
    return fail(new AppError('INVALID_CREDENTIALS', 'The stored credentials for this integration cannot be read; please reconnect', { details: { reason: 'credentials_unreadable' } }))
  }

  /**
   * A provider answered 401 to a call made with the current token (account refresh, connectors):
   * refresh it once through the usual single-flight path (`invalid_grant` → needs_reauth there);
   * without a refresh token the grant is gone → needs_reauth now.
   */
  async tokenRejected (teamId: string, integrationId: string): Promise<Result<FreshToken>> {
    if (!isUuid(integrationId)) return fail(notFound('Integration'))
    const marked = await asTenant(this.#d.db, teamId, async (tx): Promise<Result<FreshToken> | 'refresh'> => {
      const [c] = await tx.select().from(integrationCredentials)
        .where(and(eq(integrationCredentials.teamId, teamId), eq(integrationCredentials.integrationId, integrationId))).limit(1)
      if (c === undefined || c.status === 'needs_reauth') return fail(new AppError('INVALID_CREDENTIALS'))
      if (c.refreshToken !== null) return 'refresh'
      const integration = (await this.#integration(tx, teamId, integrationId, true))!
      return this.#markNeedsReauth(tx, c, integration, 'token_rejected', c.refreshFailures, this.#d.clock.now())
    })
    // The refresh takes the credential row's lock in a transaction of its own (single flight).
    return marked === 'refresh' ? this.#singleFlight(teamId, integrationId, true) : marked
  }

  #refreshExpiry (t: TokenSet, now: Date): Date | null {
    return t.refreshTokenExpiresIn == null ? null : new Date(now.getTime() + t.refreshTokenExpiresIn * 1000)
  }

  #expiry (def: ProviderDefinition, t: TokenSet, now: Date): Date | null {
    const seconds = t.expiresIn ?? this.#d.catalog.defaultLifetime(def)
    return seconds === null ? null : new Date(now.getTime() + seconds * 1000)
  }

  /** Insert or replace an integration's tokens (connect callback, import). */
  async storeTokens (tx: Queryable, teamId: string, integrationId: string, def: ProviderDefinition, t: TokenSet, now: Date, fallbackScopes: string[]): Promise<void> {
    const ctx = (col: string) => sealCtx(col, teamId, integrationId)
    await tx.delete(integrationCredentials).where(eq(integrationCredentials.integrationId, integrationId))
    await tx.insert(integrationCredentials).values({
      integrationId,
      teamId,
      accessToken: this.#d.vault.seal(t.accessToken, ctx(COL.accessToken)),
      refreshToken: this.#d.vault.sealOptional(t.refreshToken, ctx(COL.refreshToken)),
      tokenType: t.tokenType,
      scopes: t.scopes ?? fallbackScopes,
      expiresAt: this.#expiry(def, t, now),
      refreshTokenExpiresAt: this.#refreshExpiry(t, now),
      lastRefreshedAt: now,
      extra: t.extra,
      updatedAt: now
    })
  }

  /** `importOAuthToken`: tokens obtained elsewhere, for a new or an existing integration of the team. */
  async importToken (p: Principal, input: ImportTokenInput, requestId?: string): Promise<Result<IntegrationRow>> {
    const def = this.#d.catalog.get(input.provider)
    if (def?.oauth === undefined || def.status !== 'active') return fail(badInput(`${input.provider} is not an available OAuth provider`, { field: 'provider' }))
    if (input.accessToken.trim() === '') return fail(badInput('accessToken must not be empty', { field: 'accessToken' }))
    const now = this.#d.clock.now()
    if (input.expiresIn != null && input.expiresAt != null) return fail(badInput('Give expiresAt or expiresIn, not both', { field: 'expiresAt' }))
    if (input.expiresIn != null && input.expiresIn <= 0) return fail(badInput('expiresIn must be a positive number of seconds', { field: 'expiresIn' }))
    if (input.expiresAt != null && input.expiresAt.getTime() <= now.getTime()) return fail(badInput('expiresAt is in the past: the token has already expired', { field: 'expiresAt' }))
    const expiresIn = input.expiresIn ?? (input.expiresAt == null ? null : Math.round((input.expiresAt.getTime() - now.getTime()) / 1000))
    const tokens: TokenSet = { accessToken: input.accessToken, refreshToken: input.refreshToken ?? null, tokenType: 'Bearer', expiresIn, scopes: input.scopes ?? null, extra: {} }
    let existing: IntegrationRow | undefined
    if (input.integrationId != null) {
      const integrationId = input.integrationId
      existing = await asTenant(this.#d.db, p.teamId, (tx) => this.#integration(tx, p.teamId, integrationId))
      if (existing === undefined) return fail(notFound('Integration'))
      if (existing.provider !== def.id) return fail(badInput('The integration belongs to another provider', { field: 'integrationId' }))
    }
    let accountId = input.accountId ?? null
    let accountName = input.accountName ?? null
    if (accountId === null && def.fetchAccount !== undefined) {
      try {
        const client = clientFor(this.#d.catalog, this.#d.vault, def, existing) ?? { clientId: '', clientSecret: null }
        const a = await def.fetchAccount({ http: this.#d.http, urls: this.#d.catalog.urls(def, urlVars(existing?.config ?? {}), existing?.config ?? {}), client }, tokens)
        accountId = a.accountId === '' ? null : a.accountId
        accountName ??= a.accountName
      } catch { /* the account stays unknown; the token may still be valid */ }
    }
    try {
      return await asTenant(this.#d.db, p.teamId, async (tx): Promise<Result<IntegrationRow>> => {
        let target = existing
        if (target === undefined && accountId !== null) {
          [target] = await tx.select().from(integrations).where(and(eq(integrations.teamId, p.teamId), eq(integrations.provider, def.id), eq(integrations.accountId, accountId))).limit(1)
        }
        const values = { status: 'connected', accountId, accountName, lastError: null, connectedAt: now, updatedAt: now }
        let row: IntegrationRow
        if (target !== undefined) [row] = await tx.update(integrations).set(values).where(eq(integrations.id, target.id)).returning() as [IntegrationRow]
        else [row] = await tx.insert(integrations).values({ id: newId(), teamId: p.teamId, provider: def.id, name: input.name ?? accountName ?? def.name, authMode: 'oauth2', createdAt: now, ...values }).returning() as [IntegrationRow]
        await this.storeTokens(tx, p.teamId, row.id, def, tokens, now, input.scopes ?? [])
        await recordAudit(tx, { teamId: p.teamId, actor: actorOf(p), action: 'integration.token_imported', target: { type: 'integration', id: row.id }, metadata: { provider: def.id, accountId }, requestId })
        return ok(row)
      })
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code === '23505' || (err as { code?: string }).code === '23505') return fail(badInput('This account is already connected by another integration'))
      throw err
    }
  }

  // ── disconnect and revocation ────────────────────────────────────────────────────────

  /**
   * Delete the local tokens at once (and the integration itself when `remove`), queue the
   * provider revocation in the same transaction, then try it right away; a failed revoke is
   * retried in the background. Returns the integration as it now is (null when removed).
   */
  async disconnect (p: Principal, id: string, opts: { remove: boolean, requestId?: string | undefined }): Promise<Result<IntegrationRow | null>> {
    let revocationId: string | undefined
    const result = await asTenant(this.#d.db, p.teamId, async (tx): Promise<Result<IntegrationRow | null>> => {
      const integration = await this.#integration(tx, p.teamId, id, true)
      if (integration === undefined) return fail(notFound('Integration'))
      if (!opts.remove && integration.status === 'disconnected') return fail(new AppError('BAD_USER_INPUT', 'This integration is already disconnected', { details: { reason: 'already_disconnected' } }))
      const [c] = await tx.select().from(integrationCredentials).where(eq(integrationCredentials.integrationId, id)).limit(1)
      const def = this.#d.catalog.get(integration.provider)
      let revocation: 'pending' | 'not_supported' | 'no_token' | 'unreadable' | 'invalid_url' = 'no_token'
      if (c !== undefined && def !== undefined) {
        // A URL the catalog refuses to build (an invalid stored shop) gets no revocation; the tokens still go.
        const urls = this.#urls(def, integration)
        const revocable = urls.ok && (def.revoke !== undefined || (def.oauth?.revocation === 'rfc7009' && urls.value.revoke !== undefined))
        revocation = !urls.ok ? 'invalid_url' : revocable && def.oauth?.revocation !== 'none' ? 'pending' : 'not_supported'
        if (revocation === 'pending' && urls.ok) {
          try {
            revocationId = await this.#queueRevocation(tx, integration, def, c, urls.value)
          } catch (err) {
            // A token that no longer decrypts cannot be revoked (nor used): drop it locally all the same.
            if (!(err instanceof VaultError)) throw err
            revocation = 'unreadable'
          }
        }
        await tx.delete(integrationCredentials).where(eq(integrationCredentials.integrationId, id))
      }
      const now = this.#d.clock.now()
      let row: IntegrationRow | null = null
      if (opts.remove) await tx.delete(integrations).where(eq(integrations.id, id))
      else [row] = await tx.update(integrations).set({ status: 'disconnected', updatedAt: now, lastError: null }).where(eq(integrations.id, id)).returning() as [IntegrationRow]
      await recordAudit(tx, { teamId: p.teamId, actor: actorOf(p), action: opts.remove ? 'integration.deleted' : 'integration.disconnected', target: { type: 'integration', id }, metadata: { provider: integration.provider, revocation }, requestId: opts.requestId })
      return ok(row)
    })
    if (result.ok && revocationId !== undefined) await this.processRevocation(revocationId)
    return result
  }

  /** The integration's provider URLs, or the catalog's refusal to build them (BAD_USER_INPUT naming the config field). */
  #urls (def: ProviderDefinition, integration: IntegrationRow): Result<Record<string, string>> {
    try {
      return ok(this.#d.catalog.urls(def, urlVars(integration.config), integration.config))
    } catch (err) {
      if (err instanceof AppError) return fail(err)
      throw err
    }
  }

  async #queueRevocation (tx: Queryable, integration: IntegrationRow, def: ProviderDefinition, c: IntegrationCredentialRow, urls: Record<string, string>): Promise<string> {
    const id = newId()
    const useRefresh = def.oauth?.revokeTokenHint === 'refresh_token' && c.refreshToken !== null
    const token = this.#d.vault.open(useRefresh ? c.refreshToken! : c.accessToken, sealCtx(useRefresh ? COL.refreshToken : COL.accessToken, c.teamId, c.integrationId))
    const client = clientFor(this.#d.catalog, this.#d.vault, def, integration)
    await tx.insert(tokenRevocations).values({
      id,
      teamId: integration.teamId,
      integrationId: integration.id,
      provider: def.id,
      endpoint: { urls, clientId: client?.clientId ?? null },
      token: this.#d.vault.seal(token, sealCtx(COL.revokeToken, integration.teamId, id)),
      tokenTypeHint: useRefresh ? 'refresh_token' : 'access_token',
      clientSecret: this.#d.vault.sealOptional(client?.clientSecret, sealCtx(COL.revokeClientSecret, integration.teamId, id)),
      nextAttemptAt: this.#d.clock.now()
    })
    return id
  }

  /** One attempt at an owed revocation; reschedules itself on failure. Returns the outcome. */
  async processRevocation (id: string): Promise<'revoked' | 'retrying' | 'failed' | 'skipped'> {
    // Cross-team (runs as the owner): a queued retry carries only the revocation's id; the row names its team, whose work the rest is.
    const [r] = await this.#d.db.select().from(tokenRevocations).where(and(eq(tokenRevocations.id, id), isNull(tokenRevocations.completedAt))).limit(1)
    if (r?.token == null) return 'skipped'
    const def = this.#d.catalog.get(r.provider)
    const now = () => this.#d.clock.now()
    const done = async (outcome: 'revoked' | 'failed', error: string | null) => {
      await asTenant(this.#d.db, r.teamId, async (tx) => {
        await tx.update(tokenRevocations).set({ token: null, clientSecret: null, outcome, completedAt: now(), attempts: r.attempts + 1, lastError: error }).where(and(eq(tokenRevocations.id, id), eq(tokenRevocations.teamId, r.teamId)))
        await recordAudit(tx, { teamId: r.teamId, actor: SYSTEM, action: outcome === 'revoked' ? 'integration.token_revoked' : 'integration.token_revoke_failed', target: { type: 'integration', id: r.integrationId }, metadata: { provider: r.provider, attempts: r.attempts + 1, ...(error !== null && { error }) } })
      })
      return outcome
    }
    if (def === undefined) return done('failed', 'unknown provider')
    try {
      const endpoint = r.endpoint as { urls: Record<string, string>, clientId: string | null }
      const clientSecret = this.#d.vault.openOptional(r.clientSecret, sealCtx(COL.revokeClientSecret, r.teamId, r.id))
      await this.#d.oauth.revoke(def, endpoint.urls, { clientId: endpoint.clientId ?? '', clientSecret }, this.#d.vault.open(r.token, sealCtx(COL.revokeToken, r.teamId, r.id)), r.tokenTypeHint as 'refresh_token' | 'access_token')
      return await done('revoked', null)
    } catch (err) {
      const attempts = r.attempts + 1
      const message = (err as Error).message
      // BAD_USER_INPUT (the outbound guard refused the stored revoke URL) does not get better with time.
      if (attempts > REVOKE_BACKOFF_MINUTES.length || (err instanceof AppError && err.code === 'BAD_USER_INPUT')) return done('failed', message)
      const retryAfter = Number((err as { retryAfter?: string | null }).retryAfter ?? NaN)
      const delaySeconds = Math.max(REVOKE_BACKOFF_MINUTES[attempts - 1]! * 60, Number.isFinite(retryAfter) ? retryAfter : 0)
      await asTenant(this.#d.db, r.teamId, (tx) => tx.update(tokenRevocations).set({ attempts, lastError: message, nextAttemptAt: new Date(now().getTime() + delaySeconds * 1000) })
        .where(and(eq(tokenRevocations.id, id), eq(tokenRevocations.teamId, r.teamId))))
      this.#d.log.warn({ revocationId: id, provider: r.provider, attempts, error: message, retryInSeconds: delaySeconds }, 'token revocation failed; will retry')
      await this.#d.scheduleRevocationRetry?.(id, delaySeconds)
      return 'retrying'
    }
  }

  // ── background jobs (plain functions; registered through app.jobs when it exists) ────

  /** Refresh every valid token expiring within the margin whose backoff has passed. */
  async refreshDueTokens (): Promise<{ refreshed: number, failed: number }> {
    const now = this.#d.clock.now()
    // Cross-team (runs as the owner): the job looks for due tokens in every team; each refresh then runs as its team.
    const due = await this.#d.db.select({ teamId: integrationCredentials.teamId, id: integrationCredentials.integrationId }).from(integrationCredentials)
      .where(and(
        eq(integrationCredentials.status, 'valid'),
        isNotNull(integrationCredentials.refreshToken),
        lte(integrationCredentials.expiresAt, new Date(now.getTime() + this.#d.refreshMarginSeconds * 1000)),
        or(isNull(integrationCredentials.nextRefreshAt), lte(integrationCredentials.nextRefreshAt, now))
      )).limit(500)
    let refreshed = 0; let failed = 0
    for (const row of due) {
      const r = await this.#singleFlight(row.teamId, row.id, false)
      if (r.ok) refreshed++; else failed++
    }
    return { refreshed, failed }
  }

  /** Retry every owed revocation whose time has come. */
  async retryDueRevocations (): Promise<Record<string, number>> {
    // Cross-team (runs as the owner): the job looks for owed revocations in every team.
    const due = await this.#d.db.select({ id: tokenRevocations.id }).from(tokenRevocations)
      .where(and(isNull(tokenRevocations.completedAt), lte(tokenRevocations.nextAttemptAt, this.#d.clock.now()))).limit(200)
    const counts: Record<string, number> = {}
    for (const { id } of due) { const o = await this.processRevocation(id); counts[o] = (counts[o] ?? 0) + 1 }
    return counts
  }

  async #integration (q: Queryable, teamId: string, id: string, lock = false): Promise<IntegrationRow | undefined> {
    if (!isUuid(id)) return undefined
    const query = q.select().from(integrations).where(and(eq(integrations.teamId, teamId), eq(integrations.id, id))).limit(1)
    const [row] = lock ? await query.for('update') : await query
    return row
  }
}
