/**
 * A team's integrations and the provider catalog as the team sees it. Every query filters by
 * the principal's team and runs as that team (asTenant), so row-level security stands behind
 * the filter; another team's id answers NOT_FOUND exactly like a missing one.
 * Secrets in the input (client secret, API-key or basic credentials) go to vault columns
 * only; views never carry them.
 *
 * Team-supplied destinations are validated when saved (issue 15 §1): URLs must be http(s)
 * (https in production), without credentials, and not at a private address or an obviously
 * local name; header names must pass the outbound header allow-list; Shopify `shop` must be a
 * *.myshopify.com domain and cannot change once the integration is connected. These are
 * conveniences for the caller: the outbound guard re-checks every request when it connects.
 */
import { and, count, desc, eq, ilike, lt, or, type SQL } from 'drizzle-orm'
import type { HttpClient } from '../../connectors/http.ts'
import { headerNameRefusal, urlRefusal, type UrlRules } from '../../connectors/outbound/guard.ts'
import { normalizeShop } from '../../connectors/providers/shopify.ts'
import { URL_VARIABLES, type ProviderCatalog } from '../../connectors/registry.ts'
import type { ProviderDefinition } from '../../connectors/types.ts'
import type { Db } from '../../db/client.ts'
import { integrations, type IntegrationRow } from '../../db/schema.ts'
import { asTenant } from '../../db/tenant.ts'
import { AppError, badInput, notFound } from '../../errors.ts'
import { recordAudit } from '../audit/audit.ts'
import { actorOf, type Principal } from '../auth/principal.ts'
import type { Clock } from '../clock.ts'
import { isUuid, newId } from '../ids.ts'
import { parsePage, toConnection, type Connection, type PageLimits } from '../pagination.ts'
import { fail, ok, type Result } from '../result.ts'
import { sealCtx } from '../vault/encrypted-columns.ts'
import type { Vault } from '../vault/vault.ts'
import type { TokenService } from '../oauth/token.service.ts'
import { clientFor, COL, urlVars } from './integration-context.ts'

export type IntegrationView = Omit<IntegrationRow, 'clientSecret' | 'credentials'> & { hasClientSecret: boolean, hasCredentials: boolean }
export interface ProviderView { def: ProviderDefinition, isConnected: boolean }
export interface IntegrationFilter { provider?: string | null, status?: string | null, search?: string | null }
export interface CreateIntegrationInput { provider: string, name: string, config?: Record<string, unknown> | null, credentials?: Record<string, unknown> | null }
export interface UpdateIntegrationInput { name?: string | null, config?: Record<string, unknown> | null, credentials?: Record<string, unknown> | null }
export interface TestResult { success: boolean, message: string, latencyMs: number }

export const STATUSES = ['pending', 'connected', 'needs_reauth', 'error', 'disconnected'] as const
const URL_KEYS = ['authorizeUrl', 'tokenUrl', 'revokeUrl', 'userinfoUrl', 'baseUrl', 'issuer']

export const toView = ({ clientSecret, credentials, ...rest }: IntegrationRow): IntegrationView =>
  ({ ...rest, hasClientSecret: clientSecret !== null, hasCredentials: credentials !== null })

export interface IntegrationServiceDeps {
  db: Db, clock: Clock, vault: Vault, catalog: ProviderCatalog, tokens: TokenService, http: HttpClient, pages: PageLimits
  /** The outbound guard's URL rules (OUTBOUND_ALLOW_PRIVATE, https only in production). */
  urlRules: UrlRules
}

export class IntegrationService {
  readonly #d: IntegrationServiceDeps
  constructor (deps: IntegrationServiceDeps) { this.#d = deps }

  async providers (p: Principal, args: { search?: string | null, category?: string | null, status?: string | null }): Promise<ProviderView[]> {
    const rows = await asTenant(this.#d.db, p.teamId, (tx) => tx.selectDistinct({ provider: integrations.provider }).from(integrations)
      .where(and(eq(integrations.teamId, p.teamId), eq(integrations.status, 'connected'))))
    const connected = new Set(rows.map((r) => r.provider))
    const q = args.search?.trim().toLowerCase()
    return this.#d.catalog.list()
      .filter((d) => (args.category == null || d.category === args.category) && (args.status == null || d.status === args.status))
      .filter((d) => q === undefined || q === '' || d.name.toLowerCase().includes(q) || d.id.includes(q) || d.description.toLowerCase().includes(q))
      .map((def) => ({ def, isConnected: connected.has(def.id) }))
  }

  async list (p: Principal, args: { filter?: IntegrationFilter | null, first?: number | null, after?: string | null }): Promise<Result<Connection<IntegrationView>>> {
    const page = parsePage(args, this.#d.pages)
    if (!page.ok) return page
    const f = args.filter ?? {}
    const where: SQL[] = [eq(integrations.teamId, p.teamId)]
    if (f.provider != null) where.push(eq(integrations.provider, f.provider))
    if (f.status != null) where.push(eq(integrations.status, f.status))
    if (f.search != null && f.search.trim() !== '') {
      const like = `%${f.search.trim().replace(/[\\%_]/g, (c) => '\\' + c)}%`
      where.push(or(ilike(integrations.name, like), ilike(integrations.accountName, like))!)
    }
    const all = and(...where)
    const { afterId, limit } = page.value
    const [rows, [total]] = await asTenant(this.#d.db, p.teamId, async (tx) => [
      await tx.select().from(integrations).where(afterId === undefined ? all : and(all, lt(integrations.id, afterId)))
        .orderBy(desc(integrations.id)).limit(limit + 1),
      await tx.select({ n: count() }).from(integrations).where(all)
    ] as const)
    return ok(toConnection(rows.map(toView), limit, total?.n ?? 0))
  }

  async get (p: Principal, id: string): Promise<Result<IntegrationView>> {
    const row = await this.#find(p.teamId, id)
    return row === undefined ? fail(notFound('Integration')) : ok(toView(row))
  }

  async create (p: Principal, input: CreateIntegrationInput, requestId?: string): Promise<Result<IntegrationView>> {
    const def = this.#d.catalog.get(input.provider)
    if (def === undefined) return fail(badInput(`Unknown provider ${input.provider}`, { field: 'provider' }))
    if (def.status !== 'active') return fail(badInput(`${def.name} is not available yet`, { field: 'provider' }))
    const name = input.name.trim()
    if (name.length === 0 || name.length > 200) return fail(badInput('name must be 1 to 200 characters', { field: 'name' }))
    const checked = this.#checkConfig(def, input.config ?? {}, input.credentials ?? null, true)
    if (!checked.ok) return checked
    const { config, clientSecret } = checked.value
    const id = newId()
    const now = this.#d.clock.now()
    const oauth = def.authMode === 'oauth2'
    const row = await asTenant(this.#d.db, p.teamId, async (tx) => {
      const [created] = await tx.insert(integrations).values({
        id, teamId: p.teamId, provider: def.id, name, authMode: def.authMode, config,
        status: oauth ? 'pending' : 'connected',
        clientSecret: this.#d.vault.sealOptional(clientSecret, sealCtx(COL.clientSecret, p.teamId, id)),
        credentials: input.credentials == null ? null : this.#d.vault.seal(JSON.stringify(input.credentials), sealCtx(COL.credentials, p.teamId, id)),
        connectedAt: oauth ? null : now, createdAt: now, updatedAt: now
      }).returning()
      await recordAudit(tx, { teamId: p.teamId, actor: actorOf(p), action: 'integration.created', target: { type: 'integration', id }, metadata: { provider: def.id, name }, requestId })
      return created!
    })
    return ok(toView(row))
  }

  async update (p: Principal, id: string, input: UpdateIntegrationInput, requestId?: string): Promise<Result<IntegrationView>> {
    if (!isUuid(id)) return fail(notFound('Integration'))
    return asTenant(this.#d.db, p.teamId, async (tx): Promise<Result<IntegrationView>> => {
      const [current] = await tx.select().from(integrations).where(and(eq(integrations.teamId, p.teamId), eq(integrations.id, id))).limit(1).for('update')
      const def = current === undefined ? undefined : this.#d.catalog.get(current.provider)
      if (current === undefined || def === undefined) return fail(notFound('Integration'))
      if (input.name != null && (input.name.trim().length === 0 || input.name.trim().length > 200)) return fail(badInput('name must be 1 to 200 characters', { field: 'name' }))
      let config = current.config
      let secret: string | null | undefined
      // A token for one shop is never sent to another: once connected, the shop is fixed.
      if (input.config != null && 'shop' in input.config && current.connectedAt !== null &&
        (typeof input.config.shop !== 'string' || normalizeShop(input.config.shop) !== current.config.shop)) {
        return fail(badInput('shop cannot change once the integration is connected; create a new integration for another shop', { field: 'config.shop' }))
      }
      if (input.config != null) {
        const checked = this.#checkConfig(def, { ...current.config, ...input.config }, input.credentials ?? null, false)
        if (!checked.ok) return checked
        config = checked.value.config
        secret = checked.value.clientSecret
      }
      const [row] = await tx.update(integrations).set({
        ...(input.name != null && { name: input.name.trim() }),
        config,
        ...(secret != null && { clientSecret: this.#d.vault.seal(secret, sealCtx(COL.clientSecret, p.teamId, id)) }),
        ...(input.credentials != null && { credentials: this.#d.vault.seal(JSON.stringify(input.credentials), sealCtx(COL.credentials, p.teamId, id)) }),
        updatedAt: this.#d.clock.now()
      }).where(eq(integrations.id, id)).returning()
      await recordAudit(tx, { teamId: p.teamId, actor: actorOf(p), action: 'integration.updated', target: { type: 'integration', id }, metadata: { changed: Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] != null) }, requestId })
      return ok(toView(row!))
    })
  }

  async delete (p: Principal, id: string, requestId?: string): Promise<Result<string>> {
    const r = await this.#d.tokens.disconnect(p, id, { remove: true, requestId })
    return r.ok ? ok(id) : r
  }

  async disconnect (p: Principal, id: string, requestId?: string): Promise<Result<IntegrationView>> {
    const r = await this.#d.tokens.disconnect(p, id, { remove: false, requestId })
    return r.ok ? ok(toView(r.value!)) : r
  }

  /** One cheap authenticated call to the provider (account lookup, or GET on a generic API). */
  async test (p: Principal, id: string): Promise<Result<TestResult>> {
    const row = await this.#find(p.teamId, id)
    const def = row === undefined ? undefined : this.#d.catalog.get(row.provider)
    if (row === undefined || def === undefined) return fail(notFound('Integration'))
    const started = performance.now()
    const done = (success: boolean, message: string): Result<TestResult> => ok({ success, message, latencyMs: Math.round(performance.now() - started) })
    try {
      const urls = this.#d.catalog.urls(def, urlVars(row.config), row.config)
      if (def.authMode === 'oauth2') {
        const token = await this.#d.tokens.accessToken(p.teamId, id)
        if (!token.ok) return done(false, token.error.message)
        if (def.fetchAccount === undefined) return done(true, 'Token is valid')
        const client = clientFor(this.#d.catalog, this.#d.vault, def, row) ?? { clientId: '', clientSecret: null }
        const account = await def.fetchAccount({ http: this.#d.http, urls, client }, { accessToken: token.value.accessToken, refreshToken: null, tokenType: token.value.tokenType, expiresIn: null, scopes: null, extra: token.value.extra })
        return done(true, `Connected to ${account.accountName ?? account.accountId}`)
      }
      if (urls.api === undefined) return done(true, 'Configured')
      const creds = row.credentials === null ? {} : JSON.parse(this.#d.vault.open(row.credentials, sealCtx(COL.credentials, row.teamId, row.id))) as Record<string, string>
      const headers: Record<string, string> = {}
      if (typeof creds.apiKey === 'string') headers[typeof row.config.apiKeyHeader === 'string' ? row.config.apiKeyHeader : 'authorization'] = typeof row.config.apiKeyHeader === 'string' ? creds.apiKey : `Bearer ${creds.apiKey}`
      if (typeof creds.username === 'string') headers.authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')
      const res = await this.#d.http.request(urls.api + (typeof row.config.testPath === 'string' ? row.config.testPath : ''), { headers })
      return done(res.status >= 200 && res.status < 300, `The API answered HTTP ${res.status}`)
    } catch (err) {
      return done(false, err instanceof AppError ? err.message : 'The provider could not be reached')
    }
  }

  /** Validates config for the provider; pulls a client secret out of it (it goes to the vault). */
  #checkConfig (def: ProviderDefinition, raw: Record<string, unknown>, credentials: Record<string, unknown> | null, creating: boolean): Result<{ config: Record<string, unknown>, clientSecret: string | null }> {
    const { clientSecret, teamId: _ignored, ...config } = raw
    for (const key of URL_KEYS) {
      const v = config[key]
      if (v === undefined || v === null) continue
      const reason = typeof v === 'string' ? urlRefusal(v, this.#d.urlRules) : 'must be an http(s) URL'
      if (reason !== null) return fail(badInput(`config.${key} ${reason}`, { field: `config.${key}` }))
    }
    if (config.apiKeyHeader !== undefined && config.apiKeyHeader !== null) {
      const reason = typeof config.apiKeyHeader === 'string' ? headerNameRefusal(config.apiKeyHeader) : 'must be a header name'
      if (reason !== null) return fail(badInput(`config.apiKeyHeader ${reason}`, { field: 'config.apiKeyHeader' }))
    }
    if (config.testPath !== undefined && config.testPath !== null && (typeof config.testPath !== 'string' || !/^\/[^\s]*$/.test(config.testPath))) {
      return fail(badInput('config.testPath must be a path starting with /', { field: 'config.testPath' }))
    }
    // Template variables a URL is built from (Shopify `shop`, Microsoft `tenant`): the catalog refuses them again when building.
    if (typeof config.shop === 'string') config.shop = normalizeShop(config.shop)
    for (const [name, rule] of Object.entries(URL_VARIABLES)) {
      const v = config[name]
      if (v !== undefined && v !== null && (typeof v !== 'string' || !rule.pattern.test(v))) return fail(badInput(rule.message, { field: `config.${name}` }))
    }
    if (config.scopes !== undefined && (!Array.isArray(config.scopes) || !config.scopes.every((s) => typeof s === 'string'))) return fail(badInput('config.scopes must be a list of strings', { field: 'config.scopes' }))
    if (clientSecret !== undefined && clientSecret !== null && typeof clientSecret !== 'string') return fail(badInput('config.clientSecret must be a string', { field: 'config.clientSecret' }))
    if (def.id === 'custom_oauth2') {
      for (const key of ['authorizeUrl', 'tokenUrl', 'clientId']) if (typeof config[key] !== 'string' || config[key] === '') return fail(badInput(`config.${key} is required for custom OAuth2`, { field: `config.${key}` }))
    } else if (def.authMode !== 'oauth2' && def.urlsFromIntegration === true && def.authMode !== 'webhook' && typeof config.baseUrl !== 'string') {
      return fail(badInput('config.baseUrl is required', { field: 'config.baseUrl' }))
    }
    if (creating && def.authMode !== 'oauth2' && (credentials === null || Object.keys(credentials).length === 0)) return fail(badInput('credentials are required for this integration type', { field: 'credentials' }))
    if (credentials !== null && !Object.values(credentials).every((v) => typeof v === 'string')) return fail(badInput('credentials values must be strings', { field: 'credentials' }))
    return ok({ config, clientSecret: typeof clientSecret === 'string' ? clientSecret : null })
  }

  async #find (teamId: string, id: string): Promise<IntegrationRow | undefined> {
    if (!isUuid(id)) return undefined
    const [row] = await asTenant(this.#d.db, teamId, (tx) => tx.select().from(integrations).where(and(eq(integrations.teamId, teamId), eq(integrations.id, id))).limit(1))
    return row
  }
}
