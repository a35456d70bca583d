/**
 * Keeps connected OAuth integrations' account facts current (shop name and plan, workspace name,
 * quota…): the background job calls `refreshDue`, which asks each provider's `fetchAccount` with a
 * usable token (refreshed first when due, by TokenService) and stores name and metadata.
 *
 * No flapping: a failure is recorded on the integration (`account_refresh_failed_at`,
 * `account_refresh_error`) and never changes its status by itself. The one exception goes
 * through the token logic: when the provider answers 401, TokenService.tokenRejected refreshes
 * the token once (its `invalid_grant` → needs_reauth), or marks needs_reauth when there is no
 * refresh token; the lookup is then retried once with the new token.
 *
 * The job's scan spans teams and runs as the owner; each integration's token and writes are then
 * that team's work (asTenant), behind row-level security.
 */
import { and, asc, eq, sql } from 'drizzle-orm'
import type { HttpClient } from '../../connectors/http.ts'
import type { ProviderCatalog } from '../../connectors/registry.ts'
import type { AccountInfo, ProviderDefinition } from '../../connectors/types.ts'
import type { Db } from '../../db/client.ts'
import { integrations, type IntegrationRow } from '../../db/schema.ts'
import { asTenant } from '../../db/tenant.ts'
import type { Clock } from '../clock.ts'
import type { Logger } from '../logger.ts'
import type { FreshToken, TokenService } from '../oauth/token.service.ts'
import { VaultError, type Vault } from '../vault/vault.ts'
import { clientFor, urlVars } from './integration-context.ts'

/** Every hour at minute 23 (UTC); each run handles the least recently refreshed first. */
export const ACCOUNT_REFRESH_CRON = '23 * * * *'
const BATCH = 200

export type AccountRefreshOutcome = 'refreshed' | 'failed' | 'needs_reauth' | 'skipped'

export interface AccountMetadataDeps { db: Db, clock: Clock, vault: Vault, catalog: ProviderCatalog, tokens: TokenService, http: HttpClient, log: Logger }

type Lookup = { ok: true, account: AccountInfo } | { ok: false, unauthorized: boolean, message: string }

export class AccountMetadataService {
  readonly #d: AccountMetadataDeps
  constructor (deps: AccountMetadataDeps) { this.#d = deps }

  /** The job: connected OAuth integrations, least recently refreshed first. */
  async refreshDue (): Promise<Record<AccountRefreshOutcome, number>> {
    // Cross-team (runs as the owner): the job picks the least recently refreshed integrations of every team.
    const rows = await this.#d.db.select().from(integrations)
      .where(and(eq(integrations.status, 'connected'), eq(integrations.authMode, 'oauth2')))
      .orderBy(sql`${integrations.accountRefreshedAt} asc nulls first`, asc(integrations.id)).limit(BATCH)
    const counts: Record<AccountRefreshOutcome, number> = { refreshed: 0, failed: 0, needs_reauth: 0, skipped: 0 }
    for (const row of rows) counts[await this.refreshOne(row)]++
    return counts
  }

  async refreshOne (row: IntegrationRow): Promise<AccountRefreshOutcome> {
    const def = this.#d.catalog.get(row.provider)
    if (def?.fetchAccount === undefined) return 'skipped'
    const token = await this.#d.tokens.accessToken(row.teamId, row.id)
    if (!token.ok) return this.#failed(row, token.error.message, token.error.code === 'INVALID_CREDENTIALS')
    let r = await this.#lookup(def, row, token.value)
    if (!r.ok && r.unauthorized) {
      const again = await this.#d.tokens.tokenRejected(row.teamId, row.id)
      if (!again.ok) return this.#failed(row, again.error.message, again.error.code === 'INVALID_CREDENTIALS')
      r = await this.#lookup(def, row, again.value)
    }
    if (!r.ok) return this.#failed(row, r.message, false)
    const now = this.#d.clock.now()
    if (r.account.accountId !== '' && row.accountId !== null && r.account.accountId !== row.accountId) {
      // The token now answers for another account: keep what was connected, report it.
      return this.#failed(row, 'The provider reports a different account for this token', false)
    }
    await asTenant(this.#d.db, row.teamId, (tx) => tx.update(integrations).set({
      accountName: r.account.accountName ?? row.accountName, accountMetadata: r.account.metadata,
      accountRefreshedAt: now, accountRefreshFailedAt: null, accountRefreshError: null
    }).where(and(eq(integrations.id, row.id), eq(integrations.teamId, row.teamId))))
    return 'refreshed'
  }

  async #lookup (def: ProviderDefinition, row: IntegrationRow, token: FreshToken): Promise<Lookup> {
    // Watch the statuses the provider answers: fetchAccount only throws, and a 401 must reach the token logic.
    const statuses: number[] = []
    const http: HttpClient = { request: async (url, req) => { const res = await this.#d.http.request(url, req); statuses.push(res.status); return res } }
    try {
      const client = clientFor(this.#d.catalog, this.#d.vault, def, row) ?? { clientId: '', clientSecret: null }
      const urls = this.#d.catalog.urls(def, urlVars(row.config), row.config)
      const account = await def.fetchAccount!({ http, urls, client }, { accessToken: token.accessToken, refreshToken: null, tokenType: token.tokenType, expiresIn: null, scopes: null, extra: token.extra })
      return { ok: true, account }
    } catch (err) {
      if (err instanceof VaultError) return { ok: false, unauthorized: false, message: 'The stored client secret cannot be decrypted' }
      const last = statuses.at(-1)
      return { ok: false, unauthorized: last === 401, message: last === undefined ? 'The provider could not be reached' : `The provider answered HTTP ${last}` }
    }
  }

  async #failed (row: IntegrationRow, message: string, reauth: boolean): Promise<AccountRefreshOutcome> {
    await asTenant(this.#d.db, row.teamId, (tx) => tx.update(integrations).set({ accountRefreshFailedAt: this.#d.clock.now(), accountRefreshError: message.slice(0, 500) })
      .where(and(eq(integrations.id, row.id), eq(integrations.teamId, row.teamId))))
    this.#d.log.warn({ integrationId: row.id, provider: row.provider, reason: message }, 'account metadata refresh failed')
    return reauth ? 'needs_reauth' : 'failed'
  }
}
