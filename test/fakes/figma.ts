/**
 * Figma (providers.md §3): Basic client auth, separate /v1/oauth/refresh returning no refresh
 * token, no revoke. Data API: teams → projects → files, `/v1/files/{key}`, `/v1/images/{key}`
 * rendering node ids into URLs served by this fake (`/renders/…`), `/v1/me`; bad or expired
 * tokens answer 403 `{status, err}` ("Invalid token" / "Token expired").
 */
import { createHash } from 'node:crypto'
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply, type FakeRequest } from './base.ts'

export interface FigmaFake extends FakeProvider {
  teams: Map<string, Array<{ id: string, name: string, files: Array<{ key: string, name: string }> }>>
  /** Bytes a rendered node answers with (deterministic per key/node/format). */
  render(key: string, node: string, format: string): Buffer
}

export async function startFigma (): Promise<FigmaFake> {
  const oauth = new OAuthCore({
    clientId: 'figma-client', clientSecret: 'figma-secret', clientAuth: 'basic', exchangeGrantType: true, pkce: 'optional', rotate: false, expiresIn: 7_776_000, issuesRefreshToken: true,
    tokenExtras: (kind) => kind === 'exchange' ? { user_id: 77, user_id_string: '77' } : {},
    errorReply: (error, description) => ({ status: 400, body: { error, error_description: description, status: 400, message: description } })
  })
  const teams: FigmaFake['teams'] = new Map([['team-1', [
    { id: 'p1', name: 'Brand', files: [{ key: 'FILEa', name: 'Logo' }, { key: 'FILEb', name: 'Poster' }] },
    { id: 'p2', name: 'Mockups', files: [{ key: 'FILEc', name: 'T-shirt' }] }
  ]]])
  const render = (key: string, node: string, format: string) => Buffer.concat([Buffer.from(format === 'png' ? [0x89, 0x50, 0x4e, 0x47] : []), createHash('sha256').update(`${key}/${node}/${format}`).digest()])
  const api = (h: (req: FakeRequest) => FakeReply) => (req: FakeRequest): FakeReply => {
    const state = oauth.tokenState(String(req.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (state !== 'valid') return { status: 403, body: { status: 403, err: state === 'expired' ? 'Token expired' : 'Invalid token' } }
    return h(req)
  }
  const files = () => [...teams.values()].flat().flatMap((p) => p.files)
  const server: FakeServer = new FakeServer()
    .route('POST', '/v1/oauth/token', oauth.token)
    .route('POST', '/v1/oauth/refresh', oauth.refresh)
    .route('GET', '/v1/me', api(() => ({ status: 200, body: { id: '77', email: 'ada@example.com', handle: 'ada', img_url: 'https://figma.example/ada.png' } })))
    .route('GET', '/v1/teams/{team}/projects', api((req) => {
      const t = teams.get(req.path.split('/')[3]!)
      return t === undefined ? { status: 404, body: { status: 404, err: 'Not found' } } : { status: 200, body: { name: 'Team', projects: t.map((p) => ({ id: p.id, name: p.name })) } }
    }))
    .route('GET', '/v1/projects/{id}/files', api((req) => {
      const p = [...teams.values()].flat().find((x) => x.id === req.path.split('/')[3])
      return p === undefined ? { status: 404, body: { status: 404, err: 'Not found' } } : { status: 200, body: { name: p.name, files: p.files.map((f) => ({ key: f.key, name: f.name, thumbnail_url: `https://figma.example/thumb/${f.key}.png`, last_modified: '2026-01-01T00:00:00Z' })) } }
    }))
    .route('GET', '/v1/files/{key}', api((req) => {
      const f = files().find((x) => x.key === req.path.split('/')[3])
      return f === undefined ? { status: 404, body: { status: 404, err: 'Not found' } } : { status: 200, body: { name: f.name, lastModified: '2026-01-01T00:00:00Z', thumbnailUrl: `https://figma.example/thumb/${f.key}.png`, version: '1', document: { id: '0:0', type: 'DOCUMENT', children: [] } } }
    }))
    .route('GET', '/v1/images/{key}', api((req) => {
      const key = req.path.split('/')[3]!
      if (!files().some((x) => x.key === key)) return { status: 404, body: { status: 404, err: 'Not found' } }
      const format = req.query.get('format') ?? 'png'
      if (!['png', 'jpg', 'svg', 'pdf'].includes(format)) return { status: 400, body: { status: 400, err: 'Invalid format' } }
      const ids = (req.query.get('ids') ?? '').split(',').filter((x) => x !== '')
      return { status: 200, body: { err: null, images: Object.fromEntries(ids.map((id) => [id, id.startsWith('missing') ? null : `${server.origin}/renders/${key}/${encodeURIComponent(id)}.${format}`])) } }
    }))
    .route('GET', '/renders/{key}/{file}', (req) => {
      const [, , key, file] = req.path.split('/')
      const dot = file!.lastIndexOf('.')
      const format = file!.slice(dot + 1)
      return { status: 200, body: render(key!, decodeURIComponent(file!.slice(0, dot)), format), headers: { 'content-type': format === 'svg' ? 'image/svg+xml' : format === 'pdf' ? 'application/pdf' : `image/${format === 'jpg' ? 'jpeg' : format}` } }
    })
  await server.start()
  return { server, oauth, teams, render, tokenRoute: 'POST /v1/oauth/token', refreshRoute: 'POST /v1/oauth/refresh', revokeRoute: null, close: () => server.close() }
}
