/** A plain RFC 6749 / 7636 / 7009 authorization server (client secret in the body, PKCE, rotating refresh tokens). */
import { FakeServer, OAuthCore, type FakeProvider, type OAuthDialect } from './base.ts'

export async function startCustomOAuth2 (opts: Partial<OAuthDialect> = {}): Promise<FakeProvider> {
  const oauth = new OAuthCore({ clientId: 'custom-client', clientSecret: 'custom-secret', clientAuth: 'body', exchangeGrantType: true, pkce: 'required', rotate: true, expiresIn: 3600, issuesRefreshToken: true, ...opts })
  const server = new FakeServer()
    .route('POST', '/oauth/token', oauth.token)
    .route('POST', '/oauth/revoke', (req) => {
      if (req.body.client_id !== oauth.d.clientId || req.body.client_secret !== oauth.d.clientSecret) return { status: 401, body: { error: 'invalid_client' } }
      oauth.revokeToken(req.body.token ?? '')
      return { status: 200, body: '' }
    })
    .route('GET', '/userinfo', (req) => oauth.bearerOk(req) ? { status: 200, body: { sub: 'user-42', name: 'Ada' } } : { status: 401, body: { error: 'invalid_token' } })
  await server.start()
  return { server, oauth, tokenRoute: 'POST /oauth/token', refreshRoute: 'POST /oauth/token', revokeRoute: 'POST /oauth/revoke', close: () => server.close() }
}
