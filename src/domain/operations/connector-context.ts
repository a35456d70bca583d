/**
 * Binds a connector to one integration of a team: loads the integration (team-scoped; another
 * team's id is NOT_FOUND), its provider's connector and URLs, a token source over the token
 * service (on-demand single-flight refresh; one forced refresh after a rejection) and the
 * shared outbound client. INVALID_CREDENTIALS after a failed refresh leaves the integration
 * `needs_reauth` (the token service marks it when the provider refuses the refresh; this file
 * marks it when there is nothing to refresh with, or a fresh token is refused as well). Both the
 * load and the mark run as the integration's team (asTenant), whether a request or a job asks.
 */
import { and, eq } from 'drizzle-orm'
import type { Connector, ConnectorContext } from '../../connectors/connector.ts'
import type { ProviderCatalog } from '../../connectors/registry.ts'
import type { ProviderDefinition } from '../../connectors/types.ts'
import { apiClient, type OutboundDeps, type TokenSource } from '../../connectors/outbound/api-client.ts'
import type { FileSource } from '../../connectors/outbound/files.ts'
import type { Db } from '../../db/client.ts'
import { asTenant } from '../../db/tenant.ts'
import { integrationCredentials, integrations, type IntegrationRow } from '../../db/schema.ts'
import { AppError, notFound } from '../../errors.ts'
import { recordAudit } from '../audit/audit.ts'
import type { Clock } from '../clock.ts'
import { isUuid } from '../ids.ts'
import { urlVars } from '../integrations/integration-context.ts'
import type { Logger } from '../logger.ts'
import type { TokenService } from '../oauth/token.service.ts'
import { fail, ok, type Result } from '../result.ts'

export interface Bound { ctx: ConnectorContext, def: ProviderDefinition, connector: Connector, integration: IntegrationRow }
export interface RunHooks { progress?(p: Record<string, unknown>): void, emit?(items: unknown[]): Promise<void> }

export interface ConnectorContextDeps { db: Db, clock: Clock, catalog: ProviderCatalog, tokens: TokenService, outbound: OutboundDeps, files: FileSource, log: Logger }

export class ConnectorContexts {
  readonly #d: ConnectorContextDeps
  constructor (deps: ConnectorContextDeps) { this.#d = deps }

  async open (teamId: string, integrationId: string, requestId: string, hooks: RunHooks = {}): Promise<Result<Bound>> {
    if (!isUuid(integrationId)) return fail(notFound('Integration'))
    const [row] = await asTenant(this.#d.db, teamId, (tx) => tx.select().from(integrations).where(and(eq(integrations.teamId, teamId), eq(integrations.id, integrationId))).limit(1))
    if (row === undefined) return fail(notFound('Integration'))
    const def = this.#d.catalog.get(row.provider)
    const connector = def?.connector
    if (def === undefined || connector === undefined) return fail(new AppError('BAD_USER_INPUT', `${def?.name ?? row.provider} has no operations`, { details: { field: 'integrationId' } }))
    if (row.status === 'needs_reauth') return fail(new AppError('INVALID_CREDENTIALS', undefined, { details: { platform: def.id } }))
    if (row.status !== 'connected') return fail(new AppError('CONNECTION_FAILED', 'This integration is not connected', { details: { platform: def.id, retryable: false } }))
    const api = apiClient(this.#d.outbound, { provider: def.id, teamId, integrationId, requestId, dialect: connector.dialect, tokens: this.#tokenSource(row, def.id) })
    const ctx: ConnectorContext = {
      provider: def.id,
      api,
      urls: this.#d.catalog.urls(def, urlVars(row.config), row.config),
      integration: { id: row.id, teamId, config: row.config, accountMetadata: row.accountMetadata },
      files: this.#d.files,
      progress: hooks.progress ?? (() => {}),
      emit: hooks.emit ?? (async () => {})
    }
    return ok({ ctx, def, connector, integration: row })
  }

  #tokenSource (row: IntegrationRow, platform: string): TokenSource {
    const { tokens } = this.#d
    const withPlatform = (e: AppError) => new AppError(e.code, e.message, { details: { ...e.details, platform } })
    // Reused for the calls of one operation (a 40-page import asks the token service once) while
    // it is comfortably valid; the token service still decides when to refresh.
    let cached: { token: string, until: number } | undefined
    const current = async (): Promise<string> => {
      const now = this.#d.clock.now().getTime()
      if (cached !== undefined && cached.until > now) return cached.token
      const t = await tokens.accessToken(row.teamId, row.id)
      if (!t.ok) throw withPlatform(t.error)
      const expires = t.value.expiresAt?.getTime() ?? Infinity
      cached = { token: t.value.accessToken, until: Math.min(now + 30_000, expires - 120_000) }
      return t.value.accessToken
    }
    return {
      current,
      refreshAfterRejection: async (used) => {
        cached = undefined
        // Another call may already have refreshed it: use that token rather than refreshing again.
        const latest = await current()
        if (latest !== used) return latest
        const r = await tokens.refreshNow({ kind: 'api_key', teamId: row.teamId, scopes: [] }, row.id)
        cached = undefined
        if (r.ok) return current()
        if (r.error.code !== 'INVALID_CREDENTIALS' && r.error.code !== 'BAD_USER_INPUT') throw withPlatform(r.error)
        // BAD_USER_INPUT: no refresh token to try; the rejected token is all there is.
        if (r.error.code === 'BAD_USER_INPUT') await this.#markNeedsReauth(row, platform, 'token rejected and no refresh token')
        throw new AppError('INVALID_CREDENTIALS', undefined, { details: { platform } })
      },
      markInvalid: (reason) => this.#markNeedsReauth(row, platform, reason)
    }
  }

  async #markNeedsReauth (row: IntegrationRow, platform: string, reason: string): Promise<void> {
    const now = this.#d.clock.now()
    await asTenant(this.#d.db, row.teamId, async (tx) => {
      await tx.update(integrationCredentials).set({ status: 'needs_reauth', updatedAt: now }).where(and(eq(integrationCredentials.teamId, row.teamId), eq(integrationCredentials.integrationId, row.id)))
      await tx.update(integrations).set({ status: 'needs_reauth', lastError: 'The provider no longer accepts the token; please reconnect', updatedAt: now }).where(and(eq(integrations.teamId, row.teamId), eq(integrations.id, row.id)))
      await recordAudit(tx, { teamId: row.teamId, actor: { type: 'system', id: 'connector' }, action: 'integration.needs_reauth', target: { type: 'integration', id: row.id }, metadata: { provider: platform, reason } })
    })
    this.#d.log.warn({ integrationId: row.id, provider: platform, reason }, 'provider refused the token: integration needs re-authorization')
  }
}
