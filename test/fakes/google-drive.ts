/** Google OAuth + Drive `about` (providers.md §4): secret in body, refresh token not rotated, revoke = POST /revoke token=… */
import { FakeServer, OAuthCore, type FakeProvider } from './base.ts'

export async function startGoogleDrive (): Promise<FakeProvider> {
  const oauth = new OAuthCore({ clientId: 'google-client', clientSecret: 'google-secret', clientAuth: 'body', exchangeGrantType: true, pkce: 'optional', rotate: false, expiresIn: 3599, issuesRefreshToken: true })
  const server = new FakeServer()
    .route('POST', '/token', oauth.token)
    .route('POST', '/revoke', (req) => {
      const t = req.body.token ?? req.query.get('token') ?? ''
      if (!oauth.accessTokens.has(t) && oauth.refreshTokens.get(t) !== 'valid') return { status: 400, body: { error: 'invalid_token' } }
      oauth.revokeToken(t)
      return { status: 200, body: {} }
    })
    .route('GET', '/drive/v3/about', (req) => oauth.bearerOk(req)
      ? { status: 200, body: { user: { displayName: 'Ada', emailAddress: 'ada@example.com', permissionId: '0123' }, storageQuota: { limit: '100', usage: '1' } } }
      : { status: 401, body: { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } } })
  await server.start()
  return { server, oauth, tokenRoute: 'POST /token', refreshRoute: 'POST /token', revokeRoute: 'POST /revoke', close: () => server.close() }
}
