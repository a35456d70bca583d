/**
 * Dropbox API v2 data side (providers.md §5): every call a POST with Bearer; RPC endpoints on
 * the api host take JSON, content endpoints take raw bytes with the arguments in the
 * `Dropbox-API-Arg` header (HTTP-header-safe JSON); uploads up to 150 MB in one call, upload
 * sessions above; `create_folder_v2` answers 409 `path/conflict/folder` when the folder exists
 * (then it is reused); listing follows `cursor` while `has_more`; 429 carries `retry_after`.
 */
import { AppError } from '../../errors.ts'
import type { Connector, ConnectorContext, Folder, Outcome, StorageCapability, StoredFile } from '../connector.ts'
import { collectUpTo, uploadFileOperation } from '../flows.ts'
import type { HttpResponse } from '../http.ts'
import { record, retryAfterMs } from '../outbound/classify.ts'
import { cursorPages } from '../outbound/pagination.ts'

const MB = 1024 * 1024

/** JSON with every non-ASCII character escaped, as Dropbox-API-Arg requires. */
export const headerSafeJson = (v: unknown): string => JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))

export function classifyDropbox (res: HttpResponse): Outcome | undefined {
  const b = record(res.body)
  const tag = record(b.error)['.tag']
  if (res.status === 401) return { kind: 'auth', expired: tag === 'expired_access_token', message: typeof b.error_summary === 'string' ? b.error_summary.slice(0, 100) : 'invalid token' }
  if (res.status === 429) {
    const seconds = Number(record(b.error).retry_after ?? b.retry_after)
    return { kind: 'throttled', retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : retryAfterMs(res) }
  }
  if (res.status === 409) return { kind: 'error', code: 'API_ERROR', message: `Dropbox refused: ${String(b.error_summary ?? 'conflict').slice(0, 100)}`, retryable: false }
  return undefined
}

const join = (folder: Folder | null, name: string): string => `${folder?.path ?? ''}/${name}`.replace(/\/+/g, '/')
const toFile = (b: Record<string, unknown>): StoredFile => ({ id: String(b.id), name: String(b.name), path: typeof b.path_display === 'string' ? b.path_display : null, url: null, size: Number(b.size ?? 0) })

export function dropboxStorage (opts: { sessionAbove?: number, chunkBytes?: number } = {}): StorageCapability {
  const sessionAbove = opts.sessionAbove ?? 150 * MB
  const chunkBytes = opts.chunkBytes ?? 8 * MB
  const content = (ctx: ConnectorContext, endpoint: string, arg: unknown, body: Uint8Array) =>
    ctx.api.call(`${ctx.urls.content}/${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'dropbox-api-arg': headerSafeJson(arg) }, body, operation: 'upload_file' })

  return {
    async uploadFile (ctx, file, folder) {
      const commit = { path: join(folder, file.name), mode: 'add', autorename: true, mute: false }
      if (file.bytes.byteLength <= sessionAbove) return toFile(record((await content(ctx, 'files/upload', commit, file.bytes)).body))
      const first = file.bytes.subarray(0, chunkBytes)
      const sessionId = String(record((await content(ctx, 'files/upload_session/start', { close: false }, first)).body).session_id)
      let offset = first.byteLength
      while (file.bytes.byteLength - offset > chunkBytes) {
        await content(ctx, 'files/upload_session/append_v2', { cursor: { session_id: sessionId, offset }, close: false }, file.bytes.subarray(offset, offset + chunkBytes))
        offset += chunkBytes
      }
      const done = await content(ctx, 'files/upload_session/finish', { cursor: { session_id: sessionId, offset }, commit }, file.bytes.subarray(offset))
      return toFile(record(done.body))
    },

    async createFolder (ctx, name, parent = null) {
      const path = join(parent, name)
      const res = await ctx.api.call(`${ctx.urls.api}/files/create_folder_v2`, { method: 'POST', json: { path, autorename: false }, accept: [409], operation: 'create_folder' })
      if (res.status === 409) {
        const summary = String(record(res.body).error_summary ?? '')
        if (!summary.startsWith('path/conflict/folder')) throw new AppError('API_ERROR', `Dropbox refused the folder: ${summary.slice(0, 100)}`, { details: { platform: 'dropbox' } })
        return { id: path.toLowerCase(), name, path }
      }
      const m = record(record(res.body).metadata)
      return { id: String(m.id), name: String(m.name), path: String(m.path_display ?? path) }
    },

    listFolders (ctx, parent = null) {
      return cursorPages(async (cursor: string | null) => {
        const res = cursor === null
          ? await ctx.api.call(`${ctx.urls.api}/files/list_folder`, { method: 'POST', json: { path: parent?.path ?? '', limit: 100 }, operation: 'list_folders' })
          : await ctx.api.call(`${ctx.urls.api}/files/list_folder/continue`, { method: 'POST', json: { cursor }, operation: 'list_folders' })
        const b = record(res.body)
        const folders = ((b.entries as unknown[]) ?? []).map(record).filter((e) => e['.tag'] === 'folder').map((e): Folder => ({ id: String(e.id), name: String(e.name), path: String(e.path_display) }))
        return { items: folders, next: b.has_more === true && typeof b.cursor === 'string' ? b.cursor : null }
      })
    }
  }
}

const storage = dropboxStorage()
const folderOf = (path: unknown): Folder | null => typeof path === 'string' && path !== '' ? { id: path, name: path.split('/').at(-1)!, path } : null

export const dropboxConnector: Connector = {
  dialect: { classify: classifyDropbox, rateLimit: { perSecond: 10, burst: 20 } },
  storage,
  operations: [
    uploadFileOperation(storage, 'Download files from URLs and upload them to Dropbox under /<folder> (created when missing); background run'),
    {
      name: 'create_folder',
      description: 'Create a folder at a path (an existing folder is returned as is)',
      inputSchema: { type: 'object', required: ['path'], properties: { path: { type: 'string', pattern: '^/.+' } }, additionalProperties: false },
      run: async (ctx, input) => {
        const path = input.path as string
        const parent = folderOf(path.slice(0, path.lastIndexOf('/')))
        return { folder: await storage.createFolder(ctx, path.slice(path.lastIndexOf('/') + 1), parent) }
      }
    },
    {
      name: 'list_folders',
      description: 'Folders under a path (root by default), following the cursor up to `max`',
      inputSchema: { type: 'object', properties: { path: { type: 'string' }, max: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
      run: async (ctx, input) => ({ folders: await collectUpTo(storage.listFolders(ctx, folderOf(input.path)), (input.max as number | undefined) ?? 1000) })
    },
    {
      name: 'get_account',
      description: 'Account name, email and space usage',
      inputSchema: { type: 'object', additionalProperties: false },
      async run (ctx) {
        const account = record((await ctx.api.call(`${ctx.urls.api}/users/get_current_account`, { method: 'POST', operation: 'get_account' })).body)
        const space = record((await ctx.api.call(`${ctx.urls.api}/users/get_space_usage`, { method: 'POST', operation: 'get_account' })).body)
        return { accountId: account.account_id ?? null, name: record(account.name).display_name ?? null, email: account.email ?? null, used: space.used ?? null, allocated: record(space.allocation).allocated ?? null }
      }
    }
  ]
}
