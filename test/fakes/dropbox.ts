/** Dropbox (providers.md §5): 4 h tokens, non-rotating refresh, revoke = POST /2/auth/token/revoke with Bearer. */
import { FakeServer, OAuthCore, type FakeProvider } from './base.ts'

export async function startDropbox (): Promise<FakeProvider> {
  const oauth = new OAuthCore({
    clientId: 'dropbox-key', clientSecret: 'dropbox-secret', clientAuth: 'body', exchangeGrantType: true, pkce: 'optional', rotate: false, expiresIn: 14400, issuesRefreshToken: true,
    tokenExtras: (kind) => kind === 'exchange' ? { account_id: 'dbid:AAA', uid: '12345', token_type: 'bearer' } : { token_type: 'bearer' }
  })
  const server = new FakeServer()
    .route('POST', '/oauth2/token', oauth.token)
    .route('POST', '/2/auth/token/revoke', (req) => {
      if (!oauth.bearerOk(req)) return { status: 401, body: { error_summary: 'invalid_access_token/', error: { '.tag': 'invalid_access_token' } } }
      oauth.revokeToken(String(req.headers.authorization).slice(7))
      return { status: 200, body: 'null' }
    })
    .route('POST', '/2/users/get_current_account', (req) => oauth.bearerOk(req)
      ? { status: 200, body: { account_id: 'dbid:AAA', name: { display_name: 'Ada Lovelace' }, email: 'ada@example.com', account_type: { '.tag': 'basic' } } }
      : { status: 401, body: { error_summary: 'expired_access_token/', error: { '.tag': 'expired_access_token' } } })
  await server.start()
  return { server, oauth, tokenRoute: 'POST /oauth2/token', refreshRoute: 'POST /oauth2/token', revokeRoute: 'POST /2/auth/token/revoke', close: () => server.close() }
}
