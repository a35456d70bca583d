/**
 * The client side of the OAuth 2.0 token endpoint for every provider: authorization-code
 * exchange (RFC 6749 §4.1.3 + RFC 7636 verifier), refresh (§6) and revocation (RFC 7009 or the
 * provider's own call), with each provider's dialect read from its definition.
 *
 * Why not @fastify/oauth2: it is registered once per provider at boot with fixed credentials
 * and hosts, and keeps state and PKCE verifier in browser cookies set by its own start route.
 * Here the flow is started by a GraphQL mutation (often from a backend holding an API key, no
 * browser cookie), the state must be stored hashed in the database bound to team and user,
 * Shopify's token host differs per shop, custom OAuth2 endpoints differ per integration, and a
 * team may bring its own client. None of those fit its model, so one small client serves all.
 */
import type { HttpClient } from '../../connectors/http.ts'
import { basicAuth, parseRfc6749, revokeRfc7009 } from '../../connectors/oauth-defaults.ts'
import { OutboundRefused } from '../../connectors/outbound/guard.ts'
import { isOAuthFailure, type ProviderDefinition, type TokenSet } from '../../connectors/types.ts'

export interface OAuthClientCreds { clientId: string, clientSecret: string | null }

/** RFC 6749 §4.1.2.1 and §5.2 error codes: the only provider words that travel further (redirects, GraphQL errors). */
export const RFC6749_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'access_denied', 'unsupported_response_type', 'server_error', 'temporarily_unavailable'] as const
export type Rfc6749Error = typeof RFC6749_ERRORS[number]

/**
 * A provider's error word as an RFC 6749 code. Anything else the provider (or a browser) sent is
 * not repeated: it may carry the body, a secret or markup, so it becomes `server_error` (the
 * server answered outside the protocol).
 */
export function rfc6749Error (raw: string): Rfc6749Error {
  return (RFC6749_ERRORS as readonly string[]).includes(raw) ? raw as Rfc6749Error : 'server_error'
}

export type TokenOutcome =
  | { ok: true, tokens: TokenSet }
  /**
   * `error`: an RFC 6749 code, or ours: `network_error` (unreachable), `destination_refused`
   * (the outbound guard refused the token URL; nothing was sent), `unsupported` (no token URL).
   * `transient`: network error or 5xx/429, worth retrying; otherwise the grant is refused.
   * The provider's description is never kept: it is free text from upstream.
   */
  | { ok: false, error: Rfc6749Error | 'network_error' | 'destination_refused' | 'unsupported', transient: boolean }

export class OAuthClient {
  readonly #http: HttpClient
  constructor (deps: { http: HttpClient }) { this.#http = deps.http }

  exchangeCode (def: ProviderDefinition, urls: Record<string, string>, client: OAuthClientCreds, p: { code: string, redirectUri: string, codeVerifier: string | null }): Promise<TokenOutcome> {
    const params: Record<string, string> = { code: p.code, redirect_uri: p.redirectUri }
    if (def.oauth?.sendsGrantType !== false) params.grant_type = 'authorization_code'
    if (p.codeVerifier !== null) params.code_verifier = p.codeVerifier
    Object.assign(params, def.oauth?.extraExchangeParams)
    return this.#tokenRequest(def, urls.token, client, params)
  }

  refresh (def: ProviderDefinition, urls: Record<string, string>, client: OAuthClientCreds, refreshToken: string): Promise<TokenOutcome> {
    return this.#tokenRequest(def, urls.refresh ?? urls.token, client, { grant_type: 'refresh_token', refresh_token: refreshToken })
  }

  /** Throws (RevokeFailed, NetworkError) when the provider did not confirm. */
  async revoke (def: ProviderDefinition, urls: Record<string, string>, client: OAuthClientCreds, token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
    const ctx = { http: this.#http, urls, client }
    if (def.revoke !== undefined) return def.revoke(ctx, token, hint)
    if (def.oauth?.revocation === 'rfc7009') return revokeRfc7009(ctx, token, hint, def.oauth.clientAuth)
  }

  async #tokenRequest (def: ProviderDefinition, url: string | undefined, client: OAuthClientCreds, params: Record<string, string>): Promise<TokenOutcome> {
    const o = def.oauth
    if (o === undefined || url === undefined) return { ok: false, error: 'unsupported', transient: false }
    const headers: Record<string, string> = {}
    if (o.clientAuth === 'basic' && client.clientSecret !== null) headers.authorization = basicAuth(client.clientId, client.clientSecret)
    else {
      params.client_id = client.clientId
      if (o.clientAuth === 'body' && client.clientSecret !== null) params.client_secret = client.clientSecret
    }
    let res
    try {
      res = await this.#http.request(url, { method: 'POST', headers, ...(o.tokenRequestFormat === 'json' ? { json: params } : { form: params }) })
    } catch (err) {
      if (err instanceof OutboundRefused) return { ok: false, error: 'destination_refused', transient: false }
      return { ok: false, error: 'network_error', transient: true }
    }
    const parsed = def.parseTokenResponse?.(res.status, res.body) ?? parseRfc6749(res.status, res.body, o.scopeSeparator)
    if (isOAuthFailure(parsed)) {
      const transient = res.status >= 500 || res.status === 429 || parsed.error === 'server_error' || parsed.error === 'temporarily_unavailable'
      return { ok: false, error: rfc6749Error(parsed.error), transient }
    }
    return { ok: true, tokens: parsed }
  }
}
