/** Notion (providers.md §6): JSON body + Basic auth, workspace in the token response, rotating refresh, POST /v1/oauth/revoke. */
import { FakeServer, OAuthCore, type FakeProvider } from './base.ts'

export async function startNotion (): Promise<FakeProvider> {
  const oauth = new OAuthCore({
    clientId: 'notion-client', clientSecret: 'notion-secret', clientAuth: 'basic', exchangeGrantType: true, pkce: 'none', rotate: true, expiresIn: null, issuesRefreshToken: true,
    tokenExtras: () => ({ token_type: 'bearer', bot_id: 'bot-1', workspace_id: 'ws-1', workspace_name: 'Acme HQ', workspace_icon: null, owner: { type: 'user', user: { id: 'u-1' } }, duplicated_template_id: null, request_id: 'r-1' })
  })
  const server = new FakeServer()
    .route('POST', '/v1/oauth/token', oauth.token)
    .route('POST', '/v1/oauth/revoke', (req) => {
      if (req.headers.authorization !== 'Basic ' + Buffer.from('notion-client:notion-secret').toString('base64')) return { status: 401, body: { object: 'error', status: 401, code: 'unauthorized' } }
      oauth.revokeToken(req.body.token ?? '')
      return { status: 200, body: {} }
    })
  await server.start()
  return { server, oauth, tokenRoute: 'POST /v1/oauth/token', refreshRoute: 'POST /v1/oauth/token', revokeRoute: 'POST /v1/oauth/revoke', close: () => server.close() }
}
