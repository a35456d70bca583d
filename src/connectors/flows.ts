/**
 * Cross-provider flows written once against the capability interfaces (connector.ts): the
 * typed GraphQL mutations and the providers' own operations both use them, and none of them
 * knows which provider it is talking to.
 */
import { AppError } from '../errors.ts'
import type { CommerceCapability, ConnectorContext, ConnectorOperation, Folder, StorageCapability, StoredFile } from './connector.ts'

/** Streams every product page into `ctx.emit` (bounded memory), reporting `{pages, records}`. */
export async function importProducts (ctx: ConnectorContext, commerce: CommerceCapability, pageSize?: number): Promise<{ pages: number, records: number }> {
  let pages = 0; let records = 0
  for await (const page of commerce.listProducts(ctx, { ...(pageSize !== undefined && { pageSize }) })) {
    await ctx.emit(page)
    pages++; records += page.length
    ctx.progress({ pages, records })
  }
  return { pages, records }
}

/** Downloads each file URL and uploads it into `folder` (created when missing), one at a time. */
export async function saveFiles (ctx: ConnectorContext, storage: StorageCapability, fileUrls: string[], folder: string | null): Promise<{ folder: Folder | null, files: StoredFile[] }> {
  const target = folder === null || folder.trim() === '' ? null : await storage.createFolder(ctx, folder.trim())
  const files: StoredFile[] = []
  ctx.progress({ done: 0, total: fileUrls.length })
  for (const url of fileUrls) {
    const file = await ctx.files.fetch(url)
    files.push(await storage.uploadFile(ctx, file, target))
    ctx.progress({ done: files.length, total: fileUrls.length })
  }
  return { folder: target, files }
}

/** The `upload_file` operation every storage connector offers: the same input, `saveFiles` behind it. */
export function uploadFileOperation (storage: StorageCapability, description: string): ConnectorOperation {
  return {
    name: 'upload_file',
    description,
    long: true,
    inputSchema: {
      type: 'object',
      required: ['fileUrls'],
      properties: {
        fileUrls: { type: 'array', items: { type: 'string', format: 'uri' }, minItems: 1, maxItems: 100 },
        folder: { type: 'string', minLength: 1, maxLength: 255 }
      },
      additionalProperties: false
    },
    run: (ctx, input) => saveFiles(ctx, storage, input.fileUrls as string[], (input.folder as string | undefined) ?? null)
  }
}

/** The capability a flow needs, or BAD_USER_INPUT naming what the provider lacks. */
export function need<T> (capability: T | undefined, what: string, provider: string): T {
  if (capability === undefined) throw new AppError('BAD_USER_INPUT', `${provider} does not support ${what}`, { details: { field: 'integrationId' } })
  return capability
}

/** At most `max` items from a stream of pages (stops fetching once it has them). */
export async function collectUpTo<T> (pages: AsyncIterable<T[]>, max: number): Promise<T[]> {
  const out: T[] = []
  for await (const page of pages) {
    for (const item of page) { out.push(item); if (out.length >= max) return out }
  }
  return out
}
