/**
 * Figma (providers.md §3). Client authenticates with HTTP Basic at `api.figma.com/v1/oauth/token`;
 * refresh goes to a separate `/v1/oauth/refresh` and returns no new refresh token (kept); scopes
 * are comma-separated; PKCE S256 supported; no revocation endpoint is documented.
 */
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, optString, parseRfc6749 } from '../oauth-defaults.ts'
import { figmaConnector } from './figma.connector.ts'

export const figma: ProviderDefinition = {
  id: 'figma',
  name: 'Figma',
  description: 'Browse files and export frames as images from Figma.',
  category: 'design-tools',
  logoUrl: 'https://cdn.switchboard.dev/logos/figma.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {
    authorize: 'https://www.figma.com/oauth',
    token: 'https://api.figma.com/v1/oauth/token',
    refresh: 'https://api.figma.com/v1/oauth/refresh',
    api: 'https://api.figma.com'
  },
  oauth: {
    ...RFC6749_DEFAULTS,
    defaultScopes: ['current_user:read', 'file_content:read', 'file_metadata:read', 'projects:read'],
    scopeSeparator: ',',
    clientAuth: 'basic',
    rotatesRefreshToken: false,
    revocation: 'none'
  },
  // Data API: figma.connector.ts
  operations: figmaConnector.operations,
  connector: figmaConnector,

  parseTokenResponse: (status, body) => parseRfc6749(status, body, ','),

  async fetchAccount (ctx, tokens) {
    const res = await ctx.http.request(`${ctx.urls.api}/v1/me`, { headers: { authorization: `Bearer ${tokens.accessToken}` } })
    if (res.status !== 200) throw new Error(`/v1/me answered ${res.status}`)
    const me = asRecord(res.body)
    return { accountId: String(me.id ?? tokens.extra.user_id_string ?? tokens.extra.user_id), accountName: optString(me.email) ?? optString(me.handle), metadata: { handle: me.handle ?? null } }
  }
}
