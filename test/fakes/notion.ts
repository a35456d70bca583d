/**
 * Notion (providers.md §6): JSON body + Basic auth, workspace in the token response, rotating
 * refresh, POST /v1/oauth/revoke. Data API: `POST /v1/search` (start_cursor/next_cursor/has_more,
 * page_size ≤ 100), `POST /v1/pages`, `GET /v1/users/me`; Notion-Version required (400
 * missing_version); 401 `unauthorized` for expired and revoked tokens alike.
 */
import { randomUUID } from 'node:crypto'
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply, type FakeRequest } from './base.ts'

export interface NotionPage { id: string, object: 'page' | 'database', title: string, parent: Record<string, unknown>, children: unknown[] }
export interface NotionFake extends FakeProvider { pages: NotionPage[], pageSize: number }

export async function startNotion (): Promise<NotionFake> {
  const oauth = new OAuthCore({
    clientId: 'notion-client', clientSecret: 'notion-secret', clientAuth: 'basic', exchangeGrantType: true, pkce: 'none', rotate: true, expiresIn: null, issuesRefreshToken: true,
    tokenExtras: () => ({ token_type: 'bearer', bot_id: 'bot-1', workspace_id: 'ws-1', workspace_name: 'Acme HQ', workspace_icon: null, owner: { type: 'user', user: { id: 'u-1' } }, duplicated_template_id: null, request_id: 'r-1' })
  })
  const pages: NotionPage[] = []
  const fake = { pageSize: 100 }
  const err = (status: number, code: string, message: string): FakeReply => ({ status, body: { object: 'error', status, code, message, request_id: randomUUID() } })
  const api = (h: (req: FakeRequest) => FakeReply) => (req: FakeRequest): FakeReply => {
    if (!oauth.bearerOk(req)) return err(401, 'unauthorized', 'API token is invalid.')
    if (req.headers['notion-version'] === undefined) return err(400, 'missing_version', 'Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.')
    return h(req)
  }
  const view = (p: NotionPage) => ({ object: p.object, id: p.id, url: `https://www.notion.so/${p.id.replace(/-/g, '')}`, parent: p.parent,
    ...(p.object === 'page' ? { properties: { title: { id: 'title', type: 'title', title: [{ type: 'text', text: { content: p.title }, plain_text: p.title }] } } } : { title: [{ type: 'text', plain_text: p.title }] }) })
  const server: FakeServer = new FakeServer()
    .route('POST', '/v1/oauth/token', oauth.token)
    .route('POST', '/v1/oauth/revoke', (req) => {
      if (req.headers.authorization !== 'Basic ' + Buffer.from('notion-client:notion-secret').toString('base64')) return { status: 401, body: { object: 'error', status: 401, code: 'unauthorized' } }
      oauth.revokeToken(req.body.token ?? '')
      return { status: 200, body: {} }
    })
    .route('GET', '/v1/users/me', api(() => ({ status: 200, body: { object: 'user', id: 'bot-1', type: 'bot', name: 'Switchboard', bot: { owner: { type: 'workspace', workspace: true }, workspace_name: 'Acme HQ' } } })))
    .route('POST', '/v1/search', api((req) => {
      const b = req.body as Record<string, any>
      const size = Math.min(Number(b.page_size ?? 100), 100, fake.pageSize)
      const all = pages.filter((p) => (b.query === undefined || p.title.toLowerCase().includes(String(b.query).toLowerCase())) && (b.filter === undefined || p.object === b.filter.value))
      const start = b.start_cursor === undefined ? 0 : all.findIndex((p) => p.id === b.start_cursor)
      if (start < 0) return err(400, 'validation_error', 'start_cursor is invalid')
      const page = all.slice(start, start + size)
      const next = all[start + size]
      return { status: 200, body: { object: 'list', results: page.map(view), next_cursor: next?.id ?? null, has_more: next !== undefined, type: 'page_or_database', page_or_database: {} } }
    }))
    .route('POST', '/v1/pages', api((req) => {
      const b = req.body as Record<string, any>
      const parentId = b.parent?.page_id ?? b.parent?.database_id
      if (!pages.some((p) => p.id === parentId)) return err(404, 'object_not_found', `Could not find page with ID: ${String(parentId)}. Make sure the relevant pages and databases are shared with your integration.`)
      const titleProp = b.parent.database_id !== undefined ? b.properties?.Name : b.properties?.title
      const p: NotionPage = { id: randomUUID(), object: 'page', title: String(titleProp?.title?.[0]?.text?.content ?? ''), parent: b.parent, children: b.children ?? [] }
      pages.push(p)
      return { status: 200, body: view(p) }
    }))
  await server.start()
  return Object.assign(fake, { server, oauth, pages, tokenRoute: 'POST /v1/oauth/token', refreshRoute: 'POST /v1/oauth/token', revokeRoute: 'POST /v1/oauth/revoke', close: () => server.close() })
}
