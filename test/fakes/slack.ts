/**
 * Slack (providers.md §7): oauth.v2.access answers 200 {ok:false,error} on failure; bot token +
 * team; auth.revoke with the token; token rotation on (12 h + rotating refresh). Data API:
 * chat.postMessage, conversations.list (cursor / response_metadata.next_cursor, "" at the end),
 * auth.test; errors are HTTP 200 `{ok:false}`: token_expired for expired tokens, invalid_auth for
 * unknown or revoked ones, channel_not_found / not_in_channel.
 */
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply, type FakeRequest } from './base.ts'

export interface SlackFake extends FakeProvider { channels: Array<{ id: string, name: string, member: boolean }>, messages: Array<{ channel: string, text: string, ts: string }>, pageSize: number }

export async function startSlack (): Promise<SlackFake> {
  const oauth = new OAuthCore({
    clientId: 'slack-client', clientSecret: 'slack-secret', clientAuth: 'basic', exchangeGrantType: true, pkce: 'none', rotate: true, expiresIn: 43200, issuesRefreshToken: true,
    tokenExtras: () => ({ ok: true, token_type: 'bot', bot_user_id: 'U0BOT', app_id: 'A0APP', team: { id: 'T123', name: 'Acme' }, enterprise: null, is_enterprise_install: false, authed_user: { id: 'U1', scope: 'chat:write', access_token: 'xoxp-user-token', token_type: 'user' } }),
    errorReply: (error) => ({ status: 200, body: { ok: false, error } })
  })
  const fake = { pageSize: 200, channels: [{ id: 'C001', name: 'general', member: true }, { id: 'C002', name: 'design', member: true }, { id: 'C003', name: 'random', member: false }], messages: [] as SlackFake['messages'] }
  const api = (h: (req: FakeRequest) => FakeReply) => (req: FakeRequest): FakeReply => {
    const state = oauth.tokenState(String(req.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (state !== 'valid') return { status: 200, body: { ok: false, error: state === 'expired' ? 'token_expired' : 'invalid_auth' } }
    return h(req)
  }
  const server: FakeServer = new FakeServer()
    .route('POST', '/api/oauth.v2.access', oauth.token)
    .route('POST', '/api/auth.revoke', (req) => {
      if (!oauth.bearerOk(req)) return { status: 200, body: { ok: false, error: 'invalid_auth' } }
      oauth.revokeToken(String(req.headers.authorization).slice(7))
      return { status: 200, body: { ok: true, revoked: true } }
    })
    .route('POST', '/api/auth.test', api(() => ({ status: 200, body: { ok: true, url: 'https://acme.slack.example/', team: 'Acme', user: 'switchboard', team_id: 'T123', user_id: 'U0BOT' } })))
    .route('POST', '/api/chat.postMessage', api((req) => {
      const c = fake.channels.find((x) => x.id === req.body.channel || x.name === String(req.body.channel).replace(/^#/, ''))
      if (c === undefined) return { status: 200, body: { ok: false, error: 'channel_not_found' } }
      if (!c.member) return { status: 200, body: { ok: false, error: 'not_in_channel' } }
      const ts = `${Math.floor(Date.now() / 1000)}.${String(fake.messages.length).padStart(6, '0')}`
      fake.messages.push({ channel: c.id, text: String(req.body.text), ts })
      return { status: 200, body: { ok: true, channel: c.id, ts, message: { type: 'message', text: req.body.text, ts } } }
    }))
    .route('GET', '/api/conversations.list', api((req) => {
      const size = Math.min(Number(req.query.get('limit') ?? 100), fake.pageSize)
      const start = Number(req.query.get('cursor') === null ? 0 : Buffer.from(req.query.get('cursor')!, 'base64url').toString().split(':')[1])
      const page = fake.channels.slice(start, start + size)
      const next = start + size < fake.channels.length ? Buffer.from(`next:${start + size}`).toString('base64url') : ''
      return { status: 200, body: { ok: true, channels: page.map((c) => ({ id: c.id, name: c.name, is_channel: true, is_private: false, is_member: c.member })), response_metadata: { next_cursor: next } } }
    }))
  await server.start()
  return Object.assign(fake, { server, oauth, tokenRoute: 'POST /api/oauth.v2.access', refreshRoute: 'POST /api/oauth.v2.access', revokeRoute: 'POST /api/auth.revoke', close: () => server.close() })
}
