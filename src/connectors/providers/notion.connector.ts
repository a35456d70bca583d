/**
 * Notion data API (providers.md §6): Bearer token plus a pinned `Notion-Version` header (without
 * it: 400 missing_version); `POST /v1/search` pages with `start_cursor`/`next_cursor`/`has_more`
 * (page_size ≤ 100); `POST /v1/pages` under a page or a database. 401 `unauthorized` is ambiguous
 * (expired or revoked): refresh once (Notion rotates the refresh token), then give up.
 * Average budget 3 requests/s per integration.
 */
import type { Connector, ConnectorContext, DocumentRef, DocumentsCapability } from '../connector.ts'
import { collectUpTo } from '../flows.ts'
import { record } from '../outbound/classify.ts'
import { cursorPages } from '../outbound/pagination.ts'

export const NOTION_VERSION = '2022-06-28'

const titleOf = (o: Record<string, unknown>): string | null => {
  for (const p of Object.values(record(o.properties))) {
    const prop = record(p)
    if (prop.type === 'title' && Array.isArray(prop.title)) return prop.title.map((t) => String(record(t).plain_text ?? record(record(t).text).content ?? '')).join('')
  }
  return Array.isArray(o.title) ? o.title.map((t) => String(record(t).plain_text ?? '')).join('') : null
}
const toRef = (o: Record<string, unknown>): DocumentRef => ({ id: String(o.id), object: String(o.object), title: titleOf(o), url: typeof o.url === 'string' ? o.url : null })

function searchPages (ctx: ConnectorContext, query: string, filter?: 'page' | 'database') {
  return cursorPages(async (cursor: string | null) => {
    const res = await ctx.api.call(`${ctx.urls.api}/search`, {
      method: 'POST',
      json: { query, page_size: 100, ...(filter !== undefined && { filter: { property: 'object', value: filter } }), ...(cursor !== null && { start_cursor: cursor }) },
      operation: 'search'
    })
    const b = record(res.body)
    return { items: ((b.results as unknown[]) ?? []).map(record).map(toRef), next: b.has_more === true && typeof b.next_cursor === 'string' ? b.next_cursor : null }
  })
}

export const notionDocuments: DocumentsCapability = {
  search: (ctx, query) => searchPages(ctx, query),

  async createPage (ctx, parent, title, text) {
    const titleProp = [{ type: 'text', text: { content: title } }]
    const body = {
      parent: parent.databaseId !== undefined ? { database_id: parent.databaseId } : { page_id: parent.pageId },
      properties: parent.databaseId !== undefined ? { Name: { title: titleProp } } : { title: { title: titleProp } },
      ...(text !== undefined && text !== '' && { children: [{ object: 'block', type: 'paragraph', paragraph: { rich_text: [{ type: 'text', text: { content: text.slice(0, 2000) } }] } }] })
    }
    const res = await ctx.api.call(`${ctx.urls.api}/pages`, { method: 'POST', json: body, operation: 'create_page' })
    return toRef(record(res.body))
  }
}

export const notionConnector: Connector = {
  dialect: {
    authHeaders: (token) => ({ authorization: `Bearer ${token}`, 'notion-version': NOTION_VERSION }),
    rateLimit: { perSecond: 3, burst: 6 }
  },
  documents: notionDocuments,
  operations: [
    {
      name: 'search',
      description: 'Pages and databases shared with the integration whose title matches (follows next_cursor up to `max`)',
      inputSchema: { type: 'object', properties: { query: { type: 'string', maxLength: 500 }, filter: { type: 'string', enum: ['page', 'database'] }, max: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
      run: async (ctx, input) => ({ results: await collectUpTo(searchPages(ctx, (input.query as string | undefined) ?? '', input.filter as 'page' | undefined), (input.max as number | undefined) ?? 100) })
    },
    {
      name: 'create_page',
      description: 'Create a page with a title and optional text under a page or a database',
      inputSchema: {
        type: 'object',
        required: ['title'],
        properties: { parentPageId: { type: 'string', minLength: 1 }, parentDatabaseId: { type: 'string', minLength: 1 }, title: { type: 'string', minLength: 1, maxLength: 2000 }, text: { type: 'string', maxLength: 2000 } },
        oneOf: [{ required: ['parentPageId'] }, { required: ['parentDatabaseId'] }],
        additionalProperties: false
      },
      run: async (ctx, input) => ({ page: await notionDocuments.createPage(ctx, { ...(typeof input.parentPageId === 'string' && { pageId: input.parentPageId }), ...(typeof input.parentDatabaseId === 'string' && { databaseId: input.parentDatabaseId }) }, input.title as string, input.text as string | undefined) })
    },
    {
      name: 'get_account',
      description: 'Workspace name and bot id',
      inputSchema: { type: 'object', additionalProperties: false },
      async run (ctx) {
        const me = record((await ctx.api.call(`${ctx.urls.api}/users/me`, { operation: 'get_account' })).body)
        const bot = record(me.bot)
        return { botId: me.id ?? null, name: me.name ?? null, workspaceName: bot.workspace_name ?? ctx.integration.accountMetadata.workspaceName ?? null, ownerType: record(bot.owner).type ?? null }
      }
    }
  ]
}
