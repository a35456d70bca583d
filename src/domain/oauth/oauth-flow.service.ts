/**
 * The OAuth 2.0 connect flow: `startOAuth` stores a pending state and returns a gateway launch
 * URL; the launch route (routes/oauth-start.ts) binds the flow to the browser and redirects to
 * the provider; the callback (routes/oauth-callback.ts) hands its query and cookies here.
 *
 * State: 32 random bytes (base64url), stored only as SHA-256, single use (consumed by an atomic
 * UPDATE … WHERE consumed_at IS NULL), valid OAUTH_STATE_TTL_SECONDS, bound to the team and the
 * principal that started it and to the provider in the callback path. A missing, altered,
 * expired, replayed or foreign state is refused before any call to the token endpoint.
 *
 * Browser binding (security.md §1.2 "state bound to the user agent", §2 "cookie-bound"): the
 * flow is started by a GraphQL mutation, often from a backend holding an API key, so the
 * browser that will consent is not the caller and no cookie can be set there. Instead
 * `authUrl` is `${PUBLIC_URL}/oauth/start?session=<handle>`: a one-time, 32-byte launch handle
 * (only its SHA-256 stored). The first browser to open it consumes the handle, receives a fresh
 * random 32-byte nonce in a cookie (HttpOnly, SameSite=Lax so it survives the provider's
 * top-level redirect back, Secure on https/production, Path limited to this provider's callback,
 * Max-Age = the state's remaining lifetime, one cookie name per flow so parallel connects in one
 * browser do not clobber each other), only the nonce's SHA-256 is stored with the state, and the
 * browser is redirected to the provider's authorize URL (kept vault-encrypted with the state,
 * since it carries the raw state). The callback consumes the state only if the request carries
 * the cookie whose hash matches (the comparison is part of the atomic UPDATE, so a callback
 * without it, or with another browser's cookie, writes nothing, leaves the state usable by its
 * own browser and makes zero token calls), and clears the cookie. A callback URL leaked through
 * logs, history or a Referer is therefore useless in any other browser, and a flow never opened
 * through the launch route can never complete.
 *
 * Mix-up defence (RFC 9207): the issuer expected for the flow (custom OAuth2 `config.issuer`,
 * or a provider's declared `urls.issuer`) is stored with the state; a callback whose `iss`
 * differs is refused before the code exchange.
 * Verify, then consume: the `iss` check and the provider's own callback check (Shopify HMAC and
 * shop) run on the pending state *before* the atomic UPDATE that consumes it, so a forged
 * callback is refused without burning the user's flow (and the route keeps the binding cookie).
 * The redirect back never carries a provider's words beyond an RFC 6749 error code.
 * PKCE: S256 with a 32-byte verifier, stored encrypted; it appears in no URL and no log.
 * Nothing is written for the integration until the exchange and the account lookup succeeded,
 * and then tokens, integration and audit event are written in one transaction.
 *
 * Row-level security: starting a flow runs as the caller's team (asTenant). The launch and the
 * callback find their state by a secret value before any team is known, which only the owner
 * can do; once the state names its team, consuming it and saving the connection run as that team.
 */
import { createHash, randomBytes } from 'node:crypto'
import { and, eq, gt, isNull, ne } from 'drizzle-orm'
import type { HttpClient } from '../../connectors/http.ts'
import type { ProviderCatalog } from '../../connectors/registry.ts'
import { normalizeShop, SHOP_DOMAIN } from '../../connectors/providers/shopify.ts'
import type { AccountInfo, ProviderDefinition } from '../../connectors/types.ts'
import type { Db } from '../../db/client.ts'
import { integrations, oauthStates, type IntegrationRow, type OAuthStateRow } from '../../db/schema.ts'
import { asTenant } from '../../db/tenant.ts'
import { AppError, badInput, notFound } from '../../errors.ts'
import { recordAudit } from '../audit/audit.ts'
import { actorOf, type Principal } from '../auth/principal.ts'
import type { Clock } from '../clock.ts'
import { isUuid, newId } from '../ids.ts'
import type { Logger } from '../logger.ts'
import { fail, ok, type Result } from '../result.ts'
import { sealCtx } from '../vault/encrypted-columns.ts'
import type { Vault } from '../vault/vault.ts'
import { clientFor, COL, urlVars } from '../integrations/integration-context.ts'
import { rfc6749Error, type OAuthClient, type TokenOutcome } from './oauth-client.ts'
import type { TokenService } from './token.service.ts'

export interface StartOAuthInput { provider: string, integrationId?: string | null, redirectTo: string, scopes?: string[] | null, shop?: string | null, name?: string | null }
export interface OAuthStart { authUrl: string, state: string, expiresAt: Date }

/** What the callback route does: refuse (400, no redirect: the target is not trusted) or redirect. */
export type CallbackOutcome =
  | { kind: 'refuse', reason: 'invalid_state' | 'invalid_provider' | 'invalid_hmac' | 'invalid_shop' | 'invalid_issuer', message: string }
  | { kind: 'redirect', location: string }

/** What the launch route does: refuse (400) or set the binding cookie and redirect to the provider. */
export type LaunchOutcome =
  | { kind: 'refuse', reason: 'invalid_state', message: string }
  | { kind: 'redirect', location: string, cookie: BindingCookie }

/** Refusals decided before the state is consumed (a forged callback): the flow stays usable, so its binding cookie stays too. */
export const STATE_KEPT_ON: ReadonlySet<string> = new Set(['invalid_issuer', 'invalid_hmac', 'invalid_shop'])

export interface BindingCookie { name: string, value: string, path: string, maxAgeSeconds: number, secure: boolean }

export interface OAuthFlowDeps {
  db: Db
  clock: Clock
  vault: Vault
  catalog: ProviderCatalog
  oauth: OAuthClient
  tokens: TokenService
  http: HttpClient
  log: Logger
  publicUrl: string
  redirectAllowList: string[]
  stateTtlSeconds: number
  /** Mark the binding cookie `Secure` (production or an https PUBLIC_URL). */
  secureCookies: boolean
}

export const hashState = (state: string): string => createHash('sha256').update(state).digest('hex')
/** One binding cookie per flow, named after the state's hash (never the state): parallel flows in one browser coexist. */
export const bindingCookieName = (stateHash: string): string => `sb_oauth_${stateHash.slice(0, 24)}`
export const bindingCookiePath = (providerId: string): string => `/oauth/callback/${providerId}`
const HANDLE = /^[A-Za-z0-9_-]{43}$/
export const pkceChallenge = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url')

/** `redirectTo` must be an allow-listed origin, or lie under an allow-listed origin + path prefix. */
export function redirectAllowed (target: string, allowList: readonly string[]): boolean {
  let u: URL
  try { u = new URL(target) } catch { return false }
  if (u.username !== '' || u.password !== '') return false
  return allowList.some((entry) => {
    const a = new URL(entry)
    if (a.origin !== u.origin) return false
    if (a.pathname === '/' || entry === a.origin) return true
    const prefix = a.pathname.endsWith('/') ? a.pathname : a.pathname + '/'
    return u.pathname === a.pathname || u.pathname.startsWith(prefix)
  })
}

export class OAuthFlowService {
  readonly #d: OAuthFlowDeps
  constructor (deps: OAuthFlowDeps) { this.#d = deps }

  async start (p: Principal, input: StartOAuthInput): Promise<Result<OAuthStart>> {
    const def = this.#d.catalog.get(input.provider)
    if (def?.oauth === undefined || def.authMode !== 'oauth2') return fail(badInput(`${input.provider} is not an OAuth provider`, { field: 'provider' }))
    if (def.status !== 'active') return fail(badInput(`${def.name} is not available yet`, { field: 'provider' }))
    if (!redirectAllowed(input.redirectTo, this.#d.redirectAllowList)) return fail(badInput('redirectTo is not an allowed redirect target', { field: 'redirectTo' }))
    const oauth = def.oauth
    // The integration is read and the state stored as the team (row-level security behind the filters).
    return asTenant(this.#d.db, p.teamId, async (tx): Promise<Result<OAuthStart>> => {
      let integration: IntegrationRow | undefined
      if (input.integrationId != null) {
        if (isUuid(input.integrationId)) {
          [integration] = await tx.select().from(integrations).where(and(eq(integrations.teamId, p.teamId), eq(integrations.id, input.integrationId))).limit(1)
        }
        if (integration === undefined) return fail(notFound('Integration'))
        if (integration.provider !== def.id) return fail(badInput('The integration belongs to another provider', { field: 'integrationId' }))
      } else if (def.urlsFromIntegration === true) {
        return fail(badInput('Create the custom OAuth2 integration first, then pass its integrationId', { field: 'integrationId' }))
      }
      const client = clientFor(this.#d.catalog, this.#d.vault, def, integration)
      if (client === undefined) return fail(badInput(`No OAuth app is configured for ${def.name}`, { field: 'provider' }))

      let shop: string | null = null
      if (oauth.perShop) {
        const stored = typeof integration?.config.shop === 'string' ? integration.config.shop : null
        shop = normalizeShop(input.shop ?? stored ?? '')
        if (!SHOP_DOMAIN.test(shop)) return fail(badInput('shop must be a *.myshopify.com domain', { field: 'shop' }))
        // Once connected, an integration stays with its shop (issue 15 §2): another shop is another integration.
        if (integration?.connectedAt != null && stored !== null && shop !== stored) return fail(badInput('This integration is connected to another shop; create a new integration for this one', { field: 'shop' }))
      }
      const urls = this.#d.catalog.urls(def, urlVars(integration?.config ?? {}, shop), integration?.config ?? {})
      if (urls.authorize === undefined || urls.token === undefined) return fail(badInput('The provider has no authorize or token URL configured'))
      const configured = integration?.config.scopes
      const scopes = input.scopes ?? (Array.isArray(configured) ? configured.map(String) : oauth.defaultScopes)

      const state = randomBytes(32).toString('base64url')
      const verifier = oauth.pkce === 'none' ? null : randomBytes(32).toString('base64url')
      const redirectUri = `${this.#d.publicUrl}/oauth/callback/${def.id}`
      const now = this.#d.clock.now()
      const expiresAt = new Date(now.getTime() + this.#d.stateTtlSeconds * 1000)
      const id = newId()
      const actor = actorOf(p)
      const handle = randomBytes(32).toString('base64url')

      const authUrl = new URL(urls.authorize)
      const q = authUrl.searchParams
      q.set('response_type', 'code')
      q.set('client_id', client.clientId)
      q.set('redirect_uri', redirectUri)
      if (oauth.sendsScope && scopes.length > 0) q.set('scope', scopes.join(oauth.scopeSeparator))
      q.set('state', state)
      if (verifier !== null) { q.set('code_challenge', pkceChallenge(verifier)); q.set('code_challenge_method', 'S256') }
      for (const [k, v] of Object.entries(oauth.extraAuthorizeParams)) q.set(k, v)

      await tx.insert(oauthStates).values({
        id, stateHash: hashState(state), teamId: p.teamId, actorType: actor.type, actorId: actor.id, provider: def.id,
        integrationId: integration?.id ?? null, name: input.name ?? null, redirectTo: input.redirectTo, redirectUri, shop, scopes,
        codeVerifier: this.#d.vault.sealOptional(verifier, sealCtx(COL.codeVerifier, p.teamId, id)), expiresAt, createdAt: now,
        launchHash: hashState(handle), authorizeUrl: this.#d.vault.seal(authUrl.toString(), sealCtx(COL.authorizeUrl, p.teamId, id)),
        issuer: urls.issuer ?? null
      })
      const launch = new URL(`${this.#d.publicUrl}/oauth/start`)
      launch.searchParams.set('session', handle)
      return ok({ authUrl: launch.toString(), state, expiresAt })
    })
  }

  /**
   * `GET /oauth/start?session=`: the first browser to open the launch URL binds the flow (see the
   * header comment). Single use; refused once the state expired or was used.
   */
  async launch (handle: string | undefined): Promise<LaunchOutcome> {
    const refuse: LaunchOutcome = { kind: 'refuse', reason: 'invalid_state', message: 'The authorization link is unknown, expired or already used; start again' }
    if (typeof handle !== 'string' || !HANDLE.test(handle)) return refuse
    const now = this.#d.clock.now()
    const nonce = randomBytes(32).toString('base64url')
    // Cross-team (runs as the owner): the flow is found by its launch handle before its team is known.
    const [row] = await this.#d.db.update(oauthStates).set({ launchedAt: now, browserBindingHash: hashState(nonce) })
      .where(and(eq(oauthStates.launchHash, hashState(handle)), isNull(oauthStates.launchedAt), isNull(oauthStates.consumedAt), gt(oauthStates.expiresAt, now)))
      .returning()
    if (row?.authorizeUrl == null) return refuse
    const location = this.#d.vault.open(row.authorizeUrl, sealCtx(COL.authorizeUrl, row.teamId, row.id))
    return {
      kind: 'redirect',
      location,
      cookie: {
        name: bindingCookieName(row.stateHash),
        value: nonce,
        path: bindingCookiePath(row.provider),
        maxAgeSeconds: Math.max(1, Math.ceil((row.expiresAt.getTime() - now.getTime()) / 1000)),
        secure: this.#d.secureCookies
      }
    }
  }

  /** `cookies`: the request's cookies; the flow's binding cookie must be among them. */
  async callback (providerId: string, query: Record<string, string>, cookies: Record<string, string> = {}): Promise<CallbackOutcome> {
    const refuse = (reason: Extract<CallbackOutcome, { kind: 'refuse' }>['reason'], message: string): CallbackOutcome => ({ kind: 'refuse', reason, message })
    const def = this.#d.catalog.get(providerId)
    if (def?.oauth === undefined) return refuse('invalid_provider', 'Unknown provider')
    const state = query.state
    if (typeof state !== 'string' || state.length < 40 || state.length > 64) return refuse('invalid_state', 'Missing or invalid state')
    const stateHash = hashState(state)
    const nonce = cookies[bindingCookieName(stateHash)]
    if (typeof nonce !== 'string' || nonce === '') return refuse('invalid_state', 'The authorization was not started in this browser; start again')
    const now = this.#d.clock.now()
    // Expired, foreign and other-browser states never match.
    const pending = and(eq(oauthStates.stateHash, stateHash), isNull(oauthStates.consumedAt), gt(oauthStates.expiresAt, now), eq(oauthStates.provider, def.id),
      eq(oauthStates.browserBindingHash, hashState(nonce)))
    const gone = () => refuse('invalid_state', 'The authorization request is unknown, expired, already used or was started in another browser; start again')
    // Cross-team (runs as the owner): the state is found by its value before its team is known.
    const [found] = await this.#d.db.select().from(oauthStates).where(pending).limit(1)
    if (found === undefined) return gone()

    // Verify before consuming (STATE_KEPT_ON): a forged callback must not burn the user's flow.
    // RFC 9207: a response from another authorization server than the one this flow went to.
    if (found.issuer !== null && query.iss !== undefined && query.iss !== found.issuer) return refuse('invalid_issuer', 'The callback comes from another authorization server')
    // The state names the team: from here on everything runs as that team.
    const claimed = await asTenant(this.#d.db, found.teamId, async (tx) => {
      const integration = found.integrationId === null ? undefined : (await tx.select().from(integrations).where(and(eq(integrations.id, found.integrationId), eq(integrations.teamId, found.teamId))).limit(1))[0]
      const client = clientFor(this.#d.catalog, this.#d.vault, def, integration)
      const bad = client === undefined ? null : def.verifyCallback?.(query, client, { shop: found.shop })
      if (bad != null) return refuse(bad.error as 'invalid_hmac' | 'invalid_shop', 'The callback signature or shop is not valid')
      // Single use: only one request can flip consumed_at.
      const [row] = await tx.update(oauthStates).set({ consumedAt: now }).where(and(pending, eq(oauthStates.teamId, found.teamId))).returning()
      return row === undefined ? gone() : { row, integration, client }
    })
    if ('kind' in claimed) return claimed
    const { row, integration, client } = claimed
    if (client === undefined) return this.#back(row, 'OAUTH_ERROR', 'unauthorized_client')
    if (query.error !== undefined) return this.#back(row, 'OAUTH_ERROR', rfc6749Error(query.error))
    if (typeof query.code !== 'string' || query.code === '') return this.#back(row, 'OAUTH_ERROR', 'invalid_request')

    const urls = this.#d.catalog.urls(def, urlVars(integration?.config ?? {}, row.shop), integration?.config ?? {})
    const verifier = this.#d.vault.openOptional(row.codeVerifier, sealCtx(COL.codeVerifier, row.teamId, row.id))
    const exchanged = await this.#d.oauth.exchangeCode(def, urls, client, { code: query.code, redirectUri: row.redirectUri, codeVerifier: verifier })
    if (!exchanged.ok) {
      this.#d.log.warn({ provider: def.id, error: exchanged.error }, 'OAuth code exchange refused')
      return this.#back(row, exchanged.transient ? 'CONNECTION_FAILED' : 'OAUTH_ERROR', redirectReason(exchanged.error))
    }
    const tokens = exchanged.tokens
    let account: AccountInfo
    try {
      account = await (def.fetchAccount?.({ http: this.#d.http, urls, client }, tokens) ?? Promise.resolve({ accountId: '', accountName: null, metadata: {} }))
    } catch (err) {
      this.#d.log.warn({ provider: def.id, reason: (err as Error).message }, 'account lookup after OAuth exchange failed')
      return this.#back(row, 'CONNECTION_FAILED', 'account_lookup_failed')
    }
    const saved = await this.#save(row, def, integration, account, tokens)
    if (!saved.ok) return this.#back(row, saved.error.code, saved.error.details?.reason as string ?? 'failed')
    const to = new URL(row.redirectTo)
    to.searchParams.set('connected', def.id)
    to.searchParams.set('integrationId', saved.value)
    return { kind: 'redirect', location: to.toString() }
  }

  /** Tokens, integration and audit event in one transaction; the account may be connected only once per team. */
  async #save (row: OAuthStateRow, def: ProviderDefinition, existing: IntegrationRow | undefined, account: AccountInfo, tokens: import('../../connectors/types.ts').TokenSet): Promise<Result<string>> {
    const accountId = account.accountId === '' ? null : account.accountId
    const now = this.#d.clock.now()
    try {
      return await asTenant(this.#d.db, row.teamId, async (tx): Promise<Result<string>> => {
        let target = existing
        if (accountId !== null) {
          const [other] = await tx.select().from(integrations).where(and(eq(integrations.teamId, row.teamId), eq(integrations.provider, def.id), eq(integrations.accountId, accountId),
            ...(existing !== undefined ? [ne(integrations.id, existing.id)] : []))).limit(1)
          if (other !== undefined) {
            if (existing !== undefined) return fail(new AppError('BAD_USER_INPUT', 'This account is already connected by another integration', { details: { reason: 'account_already_connected' } }))
            target = other // connecting an account again = reconnecting its integration
          }
        }
        const values = {
          status: 'connected', accountId, accountName: account.accountName, accountMetadata: account.metadata, lastError: null, connectedAt: now, updatedAt: now,
          accountRefreshedAt: now, accountRefreshFailedAt: null, accountRefreshError: null,
          config: { ...(target?.config ?? {}), ...(row.shop !== null && { shop: row.shop }), scopes: row.scopes }
        }
        let id: string
        if (target !== undefined) {
          id = target.id
          await tx.update(integrations).set(values).where(eq(integrations.id, id))
        } else {
          id = newId()
          await tx.insert(integrations).values({ id, teamId: row.teamId, provider: def.id, name: row.name ?? account.accountName ?? def.name, authMode: 'oauth2', createdAt: now, ...values })
        }
        await this.#d.tokens.storeTokens(tx, row.teamId, id, def, tokens, now, row.scopes)
        await recordAudit(tx, { teamId: row.teamId, actor: { type: row.actorType as 'user' | 'api_key', id: row.actorId }, action: 'integration.connected', target: { type: 'integration', id }, metadata: { provider: def.id, accountId, scopes: tokens.scopes ?? row.scopes } })
        return ok(id)
      })
    } catch (err) {
      // A concurrent connect of the same account lost the unique index race: nothing was written.
      if ((err as { code?: string }).code === '23505' || (err as { cause?: { code?: string } }).cause?.code === '23505') {
        return fail(new AppError('BAD_USER_INPUT', 'This account is already connected', { details: { reason: 'account_already_connected' } }))
      }
      throw err
    }
  }

  /** `reason`: an RFC 6749 code, or one of our fixed words (account_lookup_failed, account_already_connected); never upstream text. */
  #back (row: OAuthStateRow, code: string, reason: string): CallbackOutcome {
    const to = new URL(row.redirectTo)
    to.searchParams.set('error', code)
    to.searchParams.set('reason', reason)
    to.searchParams.set('provider', row.provider)
    return { kind: 'redirect', location: to.toString() }
  }
}

/** Our own token-exchange failures, as the RFC 6749 code the app receives in `?reason=`. */
function redirectReason (error: Extract<TokenOutcome, { ok: false }>['error']): string {
  if (error === 'network_error') return 'temporarily_unavailable'
  if (error === 'destination_refused' || error === 'unsupported') return 'server_error'
  return error
}
