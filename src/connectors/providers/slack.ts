/**
 * Slack (providers.md §7). `oauth.v2.access` answers HTTP 200 with `{ok:false,error}` on
 * failure, and a bot token plus the workspace (`team`) on success; comma-separated scopes;
 * tokens do not expire unless token rotation is on (then 12 h + rotating refresh token); PKCE
 * is opt-in per app and makes it a public client, so it is not sent; revocation is `auth.revoke`
 * called with the token itself.
 */
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, optString, parseRfc6749, RevokeFailed } from '../oauth-defaults.ts'
import { slackConnector } from './slack.connector.ts'

export const slack: ProviderDefinition = {
  id: 'slack',
  name: 'Slack',
  description: 'Post messages to Slack channels.',
  category: 'communication',
  logoUrl: 'https://cdn.switchboard.dev/logos/slack.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {
    authorize: 'https://slack.com/oauth/v2/authorize',
    token: 'https://slack.com/api/oauth.v2.access',
    revoke: 'https://slack.com/api/auth.revoke',
    api: 'https://slack.com/api'
  },
  oauth: {
    ...RFC6749_DEFAULTS,
    defaultScopes: ['chat:write', 'channels:read'],
    scopeSeparator: ',',
    pkce: 'none',
    clientAuth: 'basic',
    revocation: 'custom',
    revokeTokenHint: 'access_token'
  },
  // Data API: slack.connector.ts
  operations: slackConnector.operations,
  connector: slackConnector,

  parseTokenResponse (status, body) {
    const b = asRecord(body)
    if (b.ok !== true) return { error: optString(b.error) ?? (status >= 500 ? 'server_error' : 'invalid_response'), description: null }
    return parseRfc6749(status, body, ',')
  },

  async fetchAccount (_ctx, tokens) {
    const team = asRecord(tokens.extra.team)
    return {
      accountId: String(team.id ?? 'unknown'),
      accountName: optString(team.name),
      metadata: { appId: tokens.extra.app_id ?? null, botUserId: tokens.extra.bot_user_id ?? null, enterprise: tokens.extra.enterprise ?? null }
    }
  },

  async revoke (ctx, token) {
    const res = await ctx.http.request(ctx.urls.revoke!, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    const b = asRecord(res.body)
    if (res.status !== 200) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
    if (b.ok !== true && b.error !== 'invalid_auth' && b.error !== 'token_revoked') throw new RevokeFailed(502)
  }
}
