/** Slack (providers.md §7): oauth.v2.access answers 200 {ok:false,error} on failure; bot token + team; auth.revoke with the token. */
import { FakeServer, OAuthCore, type FakeProvider } from './base.ts'

export async function startSlack (): Promise<FakeProvider> {
  const oauth = new OAuthCore({
    clientId: 'slack-client', clientSecret: 'slack-secret', clientAuth: 'basic', exchangeGrantType: true, pkce: 'none', rotate: true, expiresIn: 43200, issuesRefreshToken: true,
    tokenExtras: () => ({ ok: true, token_type: 'bot', bot_user_id: 'U0BOT', app_id: 'A0APP', team: { id: 'T123', name: 'Acme' }, enterprise: null, is_enterprise_install: false, authed_user: { id: 'U1', scope: 'chat:write', access_token: 'xoxp-user-token', token_type: 'user' } }),
    errorReply: (error) => ({ status: 200, body: { ok: false, error } })
  })
  const server = new FakeServer()
    .route('POST', '/api/oauth.v2.access', oauth.token)
    .route('POST', '/api/auth.revoke', (req) => {
      if (!oauth.bearerOk(req)) return { status: 200, body: { ok: false, error: 'invalid_auth' } }
      oauth.revokeToken(String(req.headers.authorization).slice(7))
      return { status: 200, body: { ok: true, revoked: true } }
    })
  await server.start()
  return { server, oauth, tokenRoute: 'POST /api/oauth.v2.access', refreshRoute: 'POST /api/oauth.v2.access', revokeRoute: 'POST /api/auth.revoke', close: () => server.close() }
}
