/**
 * A generic OAuth 2.0 authorization server configured only by URLs on the integration
 * (`createIntegration(provider: "custom_oauth2", config: {authorizeUrl, tokenUrl, revokeUrl,
 * clientId, clientSecret, scopes, userinfoUrl?})`). Speaks plain RFC 6749 (code grant, client
 * secret in the body), RFC 7636 (S256 always sent: servers without PKCE ignore unknown
 * parameters) and RFC 7009 (revocation, when `revokeUrl` is set). The account id comes from an
 * optional `userinfoUrl` (`sub` or `id`), otherwise the integration has no account id.
 */
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, optString } from '../oauth-defaults.ts'

export const customOAuth2: ProviderDefinition = {
  id: 'custom_oauth2',
  name: 'Custom OAuth 2.0',
  description: 'Any OAuth 2.0 provider, configured by its authorize, token and revoke URLs.',
  category: 'automation',
  logoUrl: 'https://cdn.switchboard.dev/logos/custom_oauth2.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {},
  urlsFromIntegration: true,
  oauth: { ...RFC6749_DEFAULTS, pkce: 'required' },
  operations: [{ name: 'request', description: 'Call the provider API with the stored token' }],

  async fetchAccount (ctx, tokens) {
    if (ctx.urls.userinfo === undefined) return { accountId: '', accountName: null, metadata: {} }
    const res = await ctx.http.request(ctx.urls.userinfo, { headers: { authorization: `Bearer ${tokens.accessToken}` } })
    if (res.status !== 200) throw new Error(`userinfo answered ${res.status}`)
    const u = asRecord(res.body)
    return { accountId: String(u.sub ?? u.id ?? ''), accountName: optString(u.name) ?? optString(u.email), metadata: {} }
  }
}
