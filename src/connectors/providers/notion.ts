/**
 * Notion (providers.md §6). No scope parameter (capabilities are set on the integration);
 * `owner=user`; the token endpoint takes JSON with HTTP Basic client auth; the response carries
 * the workspace, so no extra account call is needed; refresh rotates the refresh token;
 * revocation is Notion's `POST /v1/oauth/revoke` (Basic auth, JSON `{token}`; body shape
 * unconfirmed). PKCE unconfirmed, so not sent.
 */
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, basicAuth, optString, RevokeFailed } from '../oauth-defaults.ts'
import { notionConnector } from './notion.connector.ts'

export const notion: ProviderDefinition = {
  id: 'notion',
  name: 'Notion',
  description: 'Search and create pages in a Notion workspace.',
  category: 'productivity',
  logoUrl: 'https://cdn.switchboard.dev/logos/notion.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {
    authorize: 'https://api.notion.com/v1/oauth/authorize',
    token: 'https://api.notion.com/v1/oauth/token',
    revoke: 'https://api.notion.com/v1/oauth/revoke',
    api: 'https://api.notion.com/v1'
  },
  oauth: {
    ...RFC6749_DEFAULTS,
    sendsScope: false,
    pkce: 'none',
    extraAuthorizeParams: { owner: 'user' },
    clientAuth: 'basic',
    tokenRequestFormat: 'json',
    revocation: 'custom',
    revokeTokenHint: 'access_token'
  },
  // Data API: notion.connector.ts
  operations: notionConnector.operations,
  connector: notionConnector,

  async fetchAccount (_ctx, tokens) {
    const e = tokens.extra
    return {
      accountId: String(e.workspace_id ?? e.bot_id),
      accountName: optString(e.workspace_name),
      metadata: { botId: e.bot_id ?? null, workspaceIcon: e.workspace_icon ?? null, ownerType: asRecord(e.owner).type ?? null }
    }
  },

  async revoke (ctx, token) {
    const res = await ctx.http.request(ctx.urls.revoke!, { method: 'POST', json: { token }, headers: { authorization: basicAuth(ctx.client.clientId, ctx.client.clientSecret ?? '') } })
    if (res.status !== 200) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
  }
}
