/**
 * What a provider is, declared once per provider in src/connectors/providers/<id>.ts and listed
 * in registry.ts. A provider's OAuth dialect is data (fields below) plus a few optional methods
 * for the quirks data cannot express; nothing anywhere branches on a provider id.
 */
import type { Connector, JsonSchema } from './connector.ts'
import type { HttpClient } from './http.ts'

export type ProviderCategory = 'design-tools' | 'ecommerce' | 'marketing' | 'storage' | 'productivity' | 'crm' | 'communication' | 'automation'
export type ProviderStatus = 'active' | 'coming_soon'
export type AuthMode = 'oauth2' | 'api_key' | 'basic' | 'webhook'

/** Named URL templates; `{shop}` and `{tenant}` are filled per integration. Each is overridable by config. */
export type ProviderUrls = Record<string, string> & { authorize?: string, token?: string, refresh?: string, revoke?: string, api?: string
  /** The authorization server's issuer identifier (RFC 9207): a callback carrying another `iss` is refused. */
  issuer?: string }

/** An operation in the catalog; providers with a connector list the connector's own operations here. */
export interface ProviderOperation { name: string, description: string, scopes?: string[], inputSchema?: JsonSchema, long?: boolean }

/** Tokens as a provider returned them, normalised. */
export interface TokenSet {
  accessToken: string
  refreshToken: string | null
  tokenType: string
  /** Seconds; null when the response has none (see OAuthSettings.defaultTokenLifetimeSeconds). */
  expiresIn: number | null
  /** Seconds the refresh token itself lives (`refresh_token_expires_in`, Shopify expiring tokens); absent/null = unknown. */
  refreshTokenExpiresIn?: number | null
  scopes: string[] | null
  /** Non-secret extras the provider sends with the token (workspace, instance URL, user id…). */
  extra: Record<string, unknown>
}

export interface AccountInfo {
  accountId: string
  accountName: string | null
  metadata: Record<string, unknown>
}

/** Everything a provider hook may need to talk to the provider for one integration. */
export interface ProviderCallContext {
  http: HttpClient
  urls: Record<string, string>
  client: { clientId: string, clientSecret: string | null }
}

export type OAuthFailure = { error: string, description: string | null }

export interface OAuthSettings {
  /** Scopes requested when the caller names none. */
  defaultScopes: string[]
  scopeSeparator: ' ' | ','
  /** Notion has no scope parameter at all. */
  sendsScope: boolean
  /** `required`: always S256 (Etsy); `supported`: S256 sent; `none`: the flow has no PKCE. */
  pkce: 'required' | 'supported' | 'none'
  /** Extra authorize parameters (`access_type=offline`, `token_access_type=offline`, `owner=user`). */
  extraAuthorizeParams: Record<string, string>
  /** How the client authenticates at the token endpoint: form body, HTTP Basic, or no secret (PKCE public client). */
  clientAuth: 'body' | 'basic' | 'none'
  /** Token request body encoding (Notion takes JSON). */
  tokenRequestFormat: 'form' | 'json'
  /** Whether the token endpoint wants `grant_type` on the authorization-code exchange (Shopify does not). */
  sendsGrantType: boolean
  /** Extra body parameters on the authorization-code exchange only (Shopify: `expiring=1` for expiring offline tokens). */
  extraExchangeParams?: Record<string, string>
  /** Lifetime to assume when a token response has no `expires_in` (Salesforce: session timeout). */
  defaultTokenLifetimeSeconds: number | null
  /** Whether the provider may rotate the refresh token on refresh (then the new one is kept). */
  rotatesRefreshToken: boolean
  /** How tokens are revoked: RFC 7009 form POST, the provider's own call, or not at all. */
  revocation: 'rfc7009' | 'custom' | 'none'
  /** Which token RFC 7009 revocation sends. */
  revokeTokenHint: 'refresh_token' | 'access_token'
  /** Per-shop hosts (Shopify): `startOAuth` needs `shop`, URLs use `{shop}`. */
  perShop: boolean
}

export interface ProviderDefinition {
  id: string
  name: string
  description: string
  category: ProviderCategory
  logoUrl: string
  status: ProviderStatus
  authMode: AuthMode
  /** Named URL templates; every one can be overridden by PROVIDER_URL_OVERRIDES. */
  urls: ProviderUrls
  oauth?: OAuthSettings
  operations: ProviderOperation[]
  /** The provider's data API (operations, capabilities), for providers that have one (connector.ts). */
  connector?: Connector
  /** Custom OAuth2: the URLs and client come from the integration's config, not the catalog. */
  urlsFromIntegration?: boolean

  /** Token response → TokenSet (default: RFC 6749 §5.1 / §5.2). Slack answers 200 {ok:false}. */
  parseTokenResponse?(status: number, body: unknown): TokenSet | OAuthFailure
  /** Check provider-specific callback parameters before anything else (Shopify HMAC + shop). */
  verifyCallback?(query: Record<string, string>, client: { clientId: string, clientSecret: string | null }, expected: { shop: string | null }): OAuthFailure | null
  /** Fetch the connected account's id, name and metadata right after the exchange. */
  fetchAccount?(ctx: ProviderCallContext, tokens: TokenSet): Promise<AccountInfo>
  /** Provider-specific revocation (when `oauth.revocation` is `custom`); throws on failure. */
  revoke?(ctx: ProviderCallContext, token: string, hint: 'refresh_token' | 'access_token'): Promise<void>
}

/** Default settings for an RFC 6749 provider; provider files spread this and change what differs. */
export const RFC6749_DEFAULTS: OAuthSettings = {
  defaultScopes: [],
  scopeSeparator: ' ',
  sendsScope: true,
  pkce: 'supported',
  extraAuthorizeParams: {},
  clientAuth: 'body',
  tokenRequestFormat: 'form',
  sendsGrantType: true,
  defaultTokenLifetimeSeconds: null,
  rotatesRefreshToken: true,
  revocation: 'rfc7009',
  revokeTokenHint: 'refresh_token',
  perShop: false
}

export const isOAuthFailure = (v: TokenSet | OAuthFailure): v is OAuthFailure => 'error' in v
