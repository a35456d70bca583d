/**
 * Dropbox (providers.md §5): 4 h tokens, non-rotating refresh, revoke = POST /2/auth/token/revoke
 * with Bearer. The data API keeps a file tree in memory: create_folder_v2 (409 path/conflict/folder
 * when it exists), list_folder + list_folder/continue (cursor, has_more, `pageSize` entries a page),
 * upload (Dropbox-API-Arg, octet-stream, autorename) and upload sessions, get_space_usage; 401
 * `expired_access_token` for expired tokens and `invalid_access_token` for revoked ones.
 */
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply, type FakeRequest } from './base.ts'

export interface DropboxEntry { tag: 'file' | 'folder', id: string, name: string, pathDisplay: string, content: Buffer | null }
export interface DropboxFake extends FakeProvider { entries: Map<string, DropboxEntry>, sessions: Map<string, Buffer[]>, pageSize: number }

export async function startDropbox (): Promise<DropboxFake> {
  const oauth = new OAuthCore({
    clientId: 'dropbox-key', clientSecret: 'dropbox-secret', clientAuth: 'body', exchangeGrantType: true, pkce: 'optional', rotate: false, expiresIn: 14400, issuesRefreshToken: true,
    tokenExtras: (kind) => kind === 'exchange' ? { account_id: 'dbid:AAA', uid: '12345', token_type: 'bearer' } : { token_type: 'bearer' }
  })
  const entries = new Map<string, DropboxEntry>()
  const sessions = new Map<string, Buffer[]>()
  let seq = 0
  const fake = { pageSize: 100 }
  const api = (h: (req: FakeRequest) => FakeReply) => (req: FakeRequest): FakeReply => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '')
    const state = oauth.tokenState(token)
    if (state === 'expired') return { status: 401, body: { error_summary: 'expired_access_token/..', error: { '.tag': 'expired_access_token' } } }
    if (state === 'invalid') return { status: 401, body: { error_summary: 'invalid_access_token/..', error: { '.tag': 'invalid_access_token' } } }
    return h(req)
  }
  const meta = (e: DropboxEntry) => ({ '.tag': e.tag, name: e.name, id: e.id, path_lower: e.pathDisplay.toLowerCase(), path_display: e.pathDisplay, ...(e.tag === 'file' && { size: e.content!.length, rev: '015f', content_hash: 'x', client_modified: '2026-01-01T00:00:00Z', server_modified: '2026-01-01T00:00:00Z' }) })
  const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')).toLowerCase()
  const arg = (req: FakeRequest) => JSON.parse(String(req.headers['dropbox-api-arg'] ?? '{}')) as Record<string, any>
  const store = (commit: Record<string, any>, content: Buffer): FakeReply => {
    let path = String(commit.path)
    if (!path.startsWith('/')) return { status: 400, body: 'Error in call to API function "files/upload": bad path' }
    if (!entries.has(parentOf(path)) && parentOf(path) !== '') return { status: 409, body: { error_summary: 'path/not_found/..', error: { '.tag': 'path', reason: { '.tag': 'not_found' } } } }
    for (let n = 1; entries.has(path.toLowerCase()); n++) path = String(commit.path).replace(/(\.[^./]+)?$/, (ext) => ` (${n})${ext}`)
    const e: DropboxEntry = { tag: 'file', id: `id:f${++seq}`, name: path.slice(path.lastIndexOf('/') + 1), pathDisplay: path, content }
    entries.set(path.toLowerCase(), e)
    return { status: 200, body: meta(e) }
  }
  const list = (path: string, offset: number): FakeReply => {
    const all = [...entries.values()].filter((e) => parentOf(e.pathDisplay) === path.toLowerCase())
    const page = all.slice(offset, offset + fake.pageSize)
    const next = offset + page.length
    return { status: 200, body: { entries: page.map(meta), cursor: Buffer.from(JSON.stringify({ path, offset: next })).toString('base64url'), has_more: next < all.length } }
  }

  const server = new FakeServer()
    .route('POST', '/oauth2/token', oauth.token)
    .route('POST', '/2/auth/token/revoke', (req) => {
      if (!oauth.bearerOk(req)) return { status: 401, body: { error_summary: 'invalid_access_token/', error: { '.tag': 'invalid_access_token' } } }
      oauth.revokeToken(String(req.headers.authorization).slice(7))
      return { status: 200, body: 'null' }
    })
    .route('POST', '/2/users/get_current_account', api(() => ({ status: 200, body: { account_id: 'dbid:AAA', name: { display_name: 'Ada Lovelace' }, email: 'ada@example.com', account_type: { '.tag': 'basic' } } })))
    .route('POST', '/2/users/get_space_usage', api(() => ({ status: 200, body: { used: 314, allocation: { '.tag': 'individual', allocated: 2147483648 } } })))
    .route('POST', '/2/files/create_folder_v2', api((req) => {
      const path = String(req.body.path)
      if (entries.has(path.toLowerCase())) return { status: 409, body: { error_summary: 'path/conflict/folder/..', error: { '.tag': 'path', path: { '.tag': 'conflict', conflict: { '.tag': 'folder' } } } } }
      const e: DropboxEntry = { tag: 'folder', id: `id:d${++seq}`, name: path.slice(path.lastIndexOf('/') + 1), pathDisplay: path, content: null }
      entries.set(path.toLowerCase(), e)
      return { status: 200, body: { metadata: { name: e.name, id: e.id, path_lower: path.toLowerCase(), path_display: path } } }
    }))
    .route('POST', '/2/files/list_folder', api((req) => list(String(req.body.path ?? ''), 0)))
    .route('POST', '/2/files/list_folder/continue', api((req) => {
      const c = JSON.parse(Buffer.from(String(req.body.cursor), 'base64url').toString()) as { path: string, offset: number }
      return list(c.path, c.offset)
    }))
    .route('POST', '/2/files/upload', api((req) => {
      if (req.headers['content-type'] !== 'application/octet-stream') return { status: 400, body: 'Bad HTTP "Content-Type" header' }
      return store(arg(req), req.bytes)
    }))
    .route('POST', '/2/files/upload_session/start', api((req) => {
      const id = `sess${++seq}`
      sessions.set(id, [req.bytes])
      return { status: 200, body: { session_id: id } }
    }))
    .route('POST', '/2/files/upload_session/append_v2', api((req) => {
      const a = arg(req)
      const chunks = sessions.get(a.cursor.session_id)
      if (chunks === undefined) return { status: 409, body: { error_summary: 'lookup_failed/not_found/', error: { '.tag': 'not_found' } } }
      if (Buffer.concat(chunks).length !== a.cursor.offset) return { status: 409, body: { error_summary: 'incorrect_offset/', error: { '.tag': 'incorrect_offset' } } }
      chunks.push(req.bytes)
      return { status: 200, body: 'null' }
    }))
    .route('POST', '/2/files/upload_session/finish', api((req) => {
      const a = arg(req)
      const chunks = sessions.get(a.cursor.session_id)
      if (chunks === undefined || Buffer.concat(chunks).length !== a.cursor.offset) return { status: 409, body: { error_summary: 'lookup_failed/incorrect_offset/', error: { '.tag': 'lookup_failed' } } }
      sessions.delete(a.cursor.session_id)
      return store(a.commit, Buffer.concat([...chunks, req.bytes]))
    }))
  await server.start()
  return Object.assign(fake, { server, oauth, entries, sessions, tokenRoute: 'POST /oauth2/token', refreshRoute: 'POST /oauth2/token', revokeRoute: 'POST /2/auth/token/revoke', close: () => server.close() })
}
