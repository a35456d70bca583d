/**
 * Google OAuth + Drive v3 (providers.md §4): secret in body, refresh token not rotated, revoke =
 * POST /revoke token=…; the data API keeps files and folders in memory: `files.list` with `q`
 * (folder mimeType, name, parent), pageSize/pageToken, folder creation, multipart uploads and
 * resumable sessions (308 between chunks), `about`, `files/root`; 401 UNAUTHENTICATED for
 * expired and revoked tokens alike; `quota(n)` answers n calls with 403 userRateLimitExceeded.
 */
import { randomBytes } from 'node:crypto'
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply, type FakeRequest } from './base.ts'

export interface DriveFile { id: string, name: string, mimeType: string, parents: string[], size: number, content: Buffer | null }
export interface DriveFake extends FakeProvider { files: Map<string, DriveFile>, sessions: Map<string, { meta: Record<string, any>, total: number, chunks: Buffer[], type: string }>, quota(times: number): void }

const FOLDER = 'application/vnd.google-apps.folder'
const UNAUTHENTICATED: FakeReply = { status: 401, body: { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.', errors: [{ domain: 'global', reason: 'authError', message: 'Invalid Credentials', locationType: 'header', location: 'Authorization' }], status: 'UNAUTHENTICATED' } } }
const RATE: FakeReply = { status: 403, body: { error: { code: 403, message: 'User Rate Limit Exceeded', errors: [{ domain: 'usageLimits', reason: 'userRateLimitExceeded', message: 'User Rate Limit Exceeded' }] } } }

export async function startGoogleDrive (): Promise<DriveFake> {
  const oauth = new OAuthCore({ clientId: 'google-client', clientSecret: 'google-secret', clientAuth: 'body', exchangeGrantType: true, pkce: 'optional', rotate: false, expiresIn: 3599, issuesRefreshToken: true })
  const files = new Map<string, DriveFile>()
  const sessions: DriveFake['sessions'] = new Map()
  let quota = 0
  const newId = () => randomBytes(9).toString('base64url')
  const asFile = (f: DriveFile) => ({ kind: 'drive#file', id: f.id, name: f.name, mimeType: f.mimeType, size: String(f.size), webViewLink: `https://drive.google.example/file/d/${f.id}/view` })
  /** Auth and quota in front of every data route. */
  const api = (h: (req: FakeRequest) => FakeReply) => (req: FakeRequest): FakeReply => {
    if (!oauth.bearerOk(req)) return UNAUTHENTICATED
    if (quota > 0) { quota--; return RATE }
    return h(req)
  }
  const store = (meta: Record<string, any>, content: Buffer, type: string): DriveFile => {
    const f: DriveFile = { id: newId(), name: String(meta.name ?? 'Untitled'), mimeType: type, parents: meta.parents ?? ['root-id'], size: content.length, content }
    files.set(f.id, f)
    return f
  }

  const server: FakeServer = new FakeServer()
    .route('POST', '/token', oauth.token)
    .route('POST', '/revoke', (req) => {
      const t = req.body.token ?? req.query.get('token') ?? ''
      if (!oauth.accessTokens.has(t) && oauth.refreshTokens.get(t) !== 'valid') return { status: 400, body: { error: 'invalid_token' } }
      oauth.revokeToken(t)
      return { status: 200, body: {} }
    })
    .route('GET', '/drive/v3/about', api(() => ({ status: 200, body: { user: { displayName: 'Ada', emailAddress: 'ada@example.com', permissionId: '0123' }, storageQuota: { limit: '100', usage: '1' } } })))
    .route('GET', '/drive/v3/files/root', api(() => ({ status: 200, body: { id: 'root-id', name: 'My Drive' } })))
    .route('GET', '/drive/v3/files', api((req) => {
      const q = req.query.get('q') ?? ''
      const name = /name='((?:[^'\\]|\\.)*)'/.exec(q)?.[1]?.replace(/\\(.)/g, '$1')
      const parent = /'([^']+)' in parents/.exec(q)?.[1]
      const all = [...files.values()].filter((f) => (!q.includes(FOLDER) || f.mimeType === FOLDER) && (name === undefined || f.name === name) && (parent === undefined || f.parents.includes(parent)))
      const size = Math.min(Number(req.query.get('pageSize') ?? 100), 1000)
      const start = Number(req.query.get('pageToken') ?? 0)
      const page = all.slice(start, start + size)
      return { status: 200, body: { files: page.map((f) => ({ id: f.id, name: f.name })), ...(start + size < all.length && { nextPageToken: String(start + size) }) } }
    }))
    .route('POST', '/drive/v3/files', api((req) => {
      const meta = req.body as Record<string, any>
      const f: DriveFile = { id: newId(), name: meta.name, mimeType: meta.mimeType ?? 'application/octet-stream', parents: meta.parents ?? ['root-id'], size: 0, content: null }
      files.set(f.id, f)
      return { status: 200, body: asFile(f) }
    }))
    .route('POST', '/upload/drive/v3/files', api((req) => {
      const type = String(req.headers['content-type'] ?? '')
      if (req.query.get('uploadType') === 'multipart') {
        const boundary = /boundary=(\S+)/.exec(type)?.[1]
        if (!type.startsWith('multipart/related') || boundary === undefined) return { status: 400, body: { error: { code: 400, message: 'Bad multipart' } } }
        const parts = splitMultipart(req.bytes, boundary)
        if (parts.length !== 2 || !parts[0]!.headers.includes('application/json')) return { status: 400, body: { error: { code: 400, message: 'Expected metadata and media parts' } } }
        const mediaType = /content-type:\s*([^\r\n]+)/i.exec(parts[1]!.headers)?.[1] ?? 'application/octet-stream'
        return { status: 200, body: asFile(store(JSON.parse(parts[0]!.body.toString('utf8')), parts[1]!.body, mediaType)) }
      }
      if (req.query.get('uploadType') === 'resumable') {
        const id = randomBytes(8).toString('hex')
        sessions.set(id, { meta: req.body, total: Number(req.headers['x-upload-content-length']), chunks: [], type: String(req.headers['x-upload-content-type'] ?? 'application/octet-stream') })
        return { status: 200, body: '', headers: { location: `${server.origin}/upload/drive/v3/files?uploadType=resumable&upload_id=${id}` } }
      }
      return { status: 400, body: { error: { code: 400, message: 'uploadType required' } } }
    }))
    .route('PUT', '/upload/drive/v3/files', (req) => {
      const s = sessions.get(req.query.get('upload_id') ?? '')
      if (s === undefined) return { status: 404, body: { error: { code: 404, message: 'No such upload session' } } }
      const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''))
      const received = s.chunks.reduce((n, c) => n + c.length, 0)
      if (range === null || Number(range[1]) !== received || Number(range[2]) - Number(range[1]) + 1 !== req.bytes.length) return { status: 400, body: { error: { code: 400, message: 'Bad Content-Range' } } }
      s.chunks.push(req.bytes)
      if (received + req.bytes.length < s.total) return { status: 308, body: '', headers: { range: `bytes=0-${received + req.bytes.length - 1}` } }
      sessions.delete(req.query.get('upload_id')!)
      return { status: 200, body: asFile(store(s.meta, Buffer.concat(s.chunks), s.type)) }
    })
  await server.start()
  return {
    server, oauth, files, sessions,
    quota (times) { quota = times },
    tokenRoute: 'POST /token', refreshRoute: 'POST /token', revokeRoute: 'POST /revoke', close: () => server.close()
  }
}

function splitMultipart (raw: Buffer, boundary: string): Array<{ headers: string, body: Buffer }> {
  const parts: Array<{ headers: string, body: Buffer }> = []
  const delim = Buffer.from(`--${boundary}`)
  let pos = raw.indexOf(delim)
  while (pos !== -1) {
    const start = pos + delim.length
    if (raw.subarray(start, start + 2).toString() === '--') break
    const next = raw.indexOf(delim, start)
    if (next === -1) break
    const part = raw.subarray(start + 2, next - 2) // skip CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n')
    parts.push({ headers: part.subarray(0, split).toString('utf8'), body: part.subarray(split + 4) })
    pos = next
  }
  return parts
}
