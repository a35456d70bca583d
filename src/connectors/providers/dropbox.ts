/**
 * Dropbox (providers.md §5). `token_access_type=offline` for a refresh token; PKCE supported;
 * the refresh token is not rotated; revocation is `POST /2/auth/token/revoke` with the access
 * token as Bearer and no body.
 */
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, optString, RevokeFailed } from '../oauth-defaults.ts'
import { dropboxConnector } from './dropbox.connector.ts'

export const dropbox: ProviderDefinition = {
  id: 'dropbox',
  name: 'Dropbox',
  description: 'Upload files and create folders in Dropbox.',
  category: 'storage',
  logoUrl: 'https://cdn.switchboard.dev/logos/dropbox.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {
    authorize: 'https://www.dropbox.com/oauth2/authorize',
    token: 'https://api.dropboxapi.com/oauth2/token',
    revoke: 'https://api.dropboxapi.com/2/auth/token/revoke',
    api: 'https://api.dropboxapi.com/2',
    content: 'https://content.dropboxapi.com/2'
  },
  oauth: {
    ...RFC6749_DEFAULTS,
    defaultScopes: ['files.content.write', 'files.metadata.read', 'account_info.read'],
    extraAuthorizeParams: { token_access_type: 'offline' },
    rotatesRefreshToken: false,
    revocation: 'custom',
    revokeTokenHint: 'access_token'
  },
  // Data API: dropbox.connector.ts
  operations: dropboxConnector.operations,
  connector: dropboxConnector,

  async fetchAccount (ctx, tokens) {
    const res = await ctx.http.request(`${ctx.urls.api}/users/get_current_account`, { method: 'POST', headers: { authorization: `Bearer ${tokens.accessToken}` } })
    if (res.status !== 200) throw new Error(`get_current_account answered ${res.status}`)
    const body = asRecord(res.body)
    return {
      accountId: optString(body.account_id) ?? String(tokens.extra.account_id),
      accountName: optString(asRecord(body.name).display_name) ?? optString(body.email),
      metadata: { email: body.email ?? null, accountType: asRecord(body.account_type)['.tag'] ?? null }
    }
  },

  async revoke (ctx, token) {
    const res = await ctx.http.request(ctx.urls.revoke!, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    if (res.status !== 200 && res.status !== 401) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
  }
}
