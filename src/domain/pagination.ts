/**
 * Cursor connections with keyset pagination over time-ordered UUIDv7 ids (newest first).
 * Cursors are opaque base64url strings; a malformed one is BAD_USER_INPUT, never a 500.
 */
import { badInput } from '../errors.ts'
import { fail, ok, type Result } from './result.ts'
import { isUuid } from './ids.ts'

export interface PageLimits { defaultPageSize: number, maxPageSize: number }
export interface PageRequest { limit: number, afterId: string | undefined }
export interface Connection<T> { nodes: T[], pageInfo: { hasNextPage: boolean, endCursor: string | null }, totalCount: number }

export function parsePage (args: { first?: number | null, after?: string | null }, limits: PageLimits): Result<PageRequest> {
  const limit = args.first ?? limits.defaultPageSize
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.maxPageSize) {
    return fail(badInput(`first must be between 1 and ${limits.maxPageSize}`, { field: 'first' }))
  }
  if (args.after == null) return ok({ limit, afterId: undefined })
  const afterId = decodeCursor(args.after)
  if (afterId === undefined) return fail(badInput('after is not a valid cursor', { field: 'after' }))
  return ok({ limit, afterId })
}

export const encodeCursor = (id: string): string => Buffer.from(id).toString('base64url')

function decodeCursor (cursor: string): string | undefined {
  const id = Buffer.from(cursor, 'base64url').toString('utf8')
  return isUuid(id) ? id : undefined
}

/** Rows fetched with `limit + 1` become a page: the extra row only tells that there is a next page. */
export function toConnection<T extends { id: string }> (rows: T[], limit: number, totalCount: number): Connection<T> {
  const nodes = rows.slice(0, limit)
  const last = nodes.at(-1)
  return {
    nodes,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: last === undefined ? null : encodeCursor(last.id) },
    totalCount
  }
}
