/** Figma (providers.md §3): Basic client auth, separate /v1/oauth/refresh returning no refresh token, no revoke. */
import { FakeServer, OAuthCore, type FakeProvider } from './base.ts'

export async function startFigma (): Promise<FakeProvider> {
  const oauth = new OAuthCore({
    clientId: 'figma-client', clientSecret: 'figma-secret', clientAuth: 'basic', exchangeGrantType: true, pkce: 'optional', rotate: false, expiresIn: 7_776_000, issuesRefreshToken: true,
    tokenExtras: (kind) => kind === 'exchange' ? { user_id: 77, user_id_string: '77' } : {},
    errorReply: (error, description) => ({ status: 400, body: { error, error_description: description, status: 400, message: description } })
  })
  const server = new FakeServer()
    .route('POST', '/v1/oauth/token', oauth.token)
    .route('POST', '/v1/oauth/refresh', oauth.refresh)
    .route('GET', '/v1/me', (req) => oauth.bearerOk(req) ? { status: 200, body: { id: '77', email: 'ada@example.com', handle: 'ada' } } : { status: 403, body: { status: 403, err: 'Invalid token' } })
  await server.start()
  return { server, oauth, tokenRoute: 'POST /v1/oauth/token', refreshRoute: 'POST /v1/oauth/refresh', revokeRoute: null, close: () => server.close() }
}
