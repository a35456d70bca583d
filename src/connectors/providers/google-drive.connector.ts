/**
 * Google Drive v3 data API (providers.md §4): Bearer token; folders are files of type
 * `application/vnd.google-apps.folder`; listing pages with `pageToken`/`nextPageToken`;
 * uploads multipart up to 5 MB, resumable sessions above (chunks of a multiple of 256 KiB,
 * `308 Resume Incomplete` between them); quota errors are 403 `userRateLimitExceeded` /
 * `rateLimitExceeded` or 429, retried with backoff.
 */
import { randomBytes } from 'node:crypto'
import type { Connector, ConnectorContext, Folder, Outcome, StorageCapability, StoredFile } from '../connector.ts'
import { collectUpTo, uploadFileOperation } from '../flows.ts'
import type { HttpResponse } from '../http.ts'
import { record, retryAfterMs } from '../outbound/classify.ts'
import { cursorPages } from '../outbound/pagination.ts'

const FOLDER = 'application/vnd.google-apps.folder'
const MB = 1024 * 1024
const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

export function classifyGoogle (res: HttpResponse): Outcome | undefined {
  if (res.status !== 403) return undefined
  const reasons = ((record(record(res.body).error).errors as unknown[]) ?? []).map((e) => record(e).reason)
  if (reasons.includes('userRateLimitExceeded') || reasons.includes('rateLimitExceeded')) return { kind: 'throttled', retryAfterMs: retryAfterMs(res) }
  return undefined
}

const toFile = (b: Record<string, unknown>): StoredFile => ({ id: String(b.id), name: String(b.name), path: null, url: typeof b.webViewLink === 'string' ? b.webViewLink : null, size: Number(b.size ?? 0) })

export function googleDriveStorage (opts: { resumableAbove?: number, chunkBytes?: number } = {}): StorageCapability {
  const resumableAbove = opts.resumableAbove ?? 5 * MB
  const chunkBytes = opts.chunkBytes ?? 8 * MB // a multiple of 256 KiB

  async function multipart (ctx: ConnectorContext, metadata: Record<string, unknown>, bytes: Uint8Array, mimeType: string): Promise<StoredFile> {
    const boundary = 'sb' + randomBytes(12).toString('hex')
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(metadata)}\r\n--${boundary}\r\nContent-Type: ${mimeType}\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${boundary}--`)
    ])
    const res = await ctx.api.call(`${ctx.urls.upload}/files`, { method: 'POST', query: { uploadType: 'multipart', fields: 'id,name,webViewLink,size' }, headers: { 'content-type': `multipart/related; boundary=${boundary}` }, body, operation: 'upload_file' })
    return toFile(record(res.body))
  }

  async function resumable (ctx: ConnectorContext, metadata: Record<string, unknown>, bytes: Uint8Array, mimeType: string): Promise<StoredFile> {
    const start = await ctx.api.call(`${ctx.urls.upload}/files`, { method: 'POST', query: { uploadType: 'resumable', fields: 'id,name,webViewLink,size' }, json: metadata, headers: { 'x-upload-content-type': mimeType, 'x-upload-content-length': String(bytes.byteLength) }, operation: 'upload_file' })
    const session = start.headers.get('location')
    if (session === null) throw new Error('Drive did not return an upload session')
    let res: HttpResponse | undefined
    for (let offset = 0; offset < bytes.byteLength; offset += chunkBytes) {
      const chunk = bytes.subarray(offset, Math.min(offset + chunkBytes, bytes.byteLength))
      res = await ctx.api.call(session, { method: 'PUT', body: chunk, headers: { 'content-type': mimeType, 'content-range': `bytes ${offset}-${offset + chunk.byteLength - 1}/${bytes.byteLength}` }, accept: [308], operation: 'upload_file' })
    }
    return toFile(record(res!.body))
  }

  return {
    async uploadFile (ctx, file, folder) {
      const metadata = { name: file.name, ...(folder !== null && { parents: [folder.id] }) }
      return file.bytes.byteLength > resumableAbove ? resumable(ctx, metadata, file.bytes, file.mimeType) : multipart(ctx, metadata, file.bytes, file.mimeType)
    },

    async createFolder (ctx, name, parent = null) {
      const q = `mimeType='${FOLDER}' and trashed=false and name=${quote(name)}` + (parent === null ? '' : ` and ${quote(parent.id)} in parents`)
      const found = await ctx.api.call(`${ctx.urls.api}/files`, { query: { q, pageSize: 1, fields: 'files(id,name)' }, operation: 'create_folder' })
      const existing = ((record(found.body).files as unknown[]) ?? []).map(record)[0]
      if (existing !== undefined) return { id: String(existing.id), name: String(existing.name), path: null }
      const res = await ctx.api.call(`${ctx.urls.api}/files`, { method: 'POST', query: { fields: 'id,name' }, json: { name, mimeType: FOLDER, ...(parent !== null && { parents: [parent.id] }) }, operation: 'create_folder' })
      const b = record(res.body)
      return { id: String(b.id), name: String(b.name), path: null }
    },

    listFolders (ctx, parent = null) {
      const q = `mimeType='${FOLDER}' and trashed=false` + (parent === null ? '' : ` and ${quote(parent.id)} in parents`)
      return cursorPages(async (pageToken: string | null) => {
        const res = await ctx.api.call(`${ctx.urls.api}/files`, { query: { q, pageSize: 100, fields: 'nextPageToken,files(id,name)', pageToken: pageToken ?? undefined }, operation: 'list_folders' })
        const b = record(res.body)
        return { items: ((b.files as unknown[]) ?? []).map(record).map((f): Folder => ({ id: String(f.id), name: String(f.name), path: null })), next: typeof b.nextPageToken === 'string' ? b.nextPageToken : null }
      })
    }
  }
}

const storage = googleDriveStorage()

export const googleDriveConnector: Connector = {
  dialect: { classify: classifyGoogle, rateLimit: { perSecond: 10, burst: 20 } },
  storage,
  operations: [
    uploadFileOperation(storage, 'Download files from URLs and upload them to Drive, into a folder by name (created when missing); background run'),
    {
      name: 'create_folder',
      description: 'Create a folder (or return the existing one of that name)',
      inputSchema: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 255 }, parentId: { type: 'string', minLength: 1 } }, additionalProperties: false },
      run: async (ctx, input) => ({ folder: await storage.createFolder(ctx, input.name as string, input.parentId === undefined ? null : { id: input.parentId as string, name: '', path: null }) })
    },
    {
      name: 'list_folders',
      description: 'Folders the app can see (follows pageToken up to `max`)',
      inputSchema: { type: 'object', properties: { parentId: { type: 'string', minLength: 1 }, max: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
      run: async (ctx, input) => ({ folders: await collectUpTo(storage.listFolders(ctx, input.parentId === undefined ? null : { id: input.parentId as string, name: '', path: null }), (input.max as number | undefined) ?? 1000) })
    },
    {
      name: 'get_account',
      description: 'User, storage quota and root folder',
      inputSchema: { type: 'object', additionalProperties: false },
      async run (ctx) {
        const about = record((await ctx.api.call(`${ctx.urls.api}/about`, { query: { fields: 'user,storageQuota' }, operation: 'get_account' })).body)
        const root = record((await ctx.api.call(`${ctx.urls.api}/files/root`, { query: { fields: 'id,name' }, operation: 'get_account' })).body)
        return { user: about.user ?? null, storageQuota: about.storageQuota ?? null, rootFolder: { id: root.id ?? null, name: root.name ?? null } }
      }
    }
  ]
}
