/**
 * Figma REST data API (providers.md §3): Bearer token; files are listed per team
 * (`/v1/teams/{team}/projects` → `/v1/projects/{id}/files`; no endpoint lists a user's teams, so
 * the team id comes from the input or the integration's `config.teamId`); nodes are rendered by
 * `/v1/images/{key}` (format png|jpg|svg|pdf, scale 0.01–4) into expiring URLs. An invalid or
 * expired token is a 403 `{status, err}` (not 401); 429 carries Retry-After.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../../errors.ts'
import type { Connector, ConnectorContext, DesignCapability, DesignFile, Outcome } from '../connector.ts'
import { collectUpTo } from '../flows.ts'
import type { HttpResponse } from '../http.ts'
import { record } from '../outbound/classify.ts'
import { nestedPages } from '../outbound/pagination.ts'

export function classifyFigma (res: HttpResponse): Outcome | undefined {
  const b = record(res.body)
  const err = String(b.err ?? b.message ?? '')
  if (res.status === 403 && /token/i.test(err)) return { kind: 'auth', expired: /expired/i.test(err), message: err.slice(0, 100) }
  if (res.status === 404) return { kind: 'error', code: 'API_ERROR', message: `Figma: ${err.slice(0, 100) || 'not found'}`, retryable: false }
  return undefined
}

async function get (ctx: ConnectorContext, path: string, query: Record<string, string | number | undefined>, operation: string): Promise<Record<string, unknown>> {
  return record((await ctx.api.call(`${ctx.urls.api}${path}`, { query, operation })).body)
}

async function * once<T> (items: T[]): AsyncGenerator<T[]> { yield items }

export const figmaDesign: DesignCapability = {
  listFiles (ctx, teamId) {
    const projects = (async function * () {
      const b = await get(ctx, `/v1/teams/${encodeURIComponent(teamId)}/projects`, {}, 'list_files')
      yield ((b.projects as unknown[]) ?? []).map(record)
    })()
    return nestedPages(projects, (p) => (async function * () {
      const b = await get(ctx, `/v1/projects/${encodeURIComponent(String(p.id))}/files`, {}, 'list_files')
      yield * once(((b.files as unknown[]) ?? []).map(record).map((f): DesignFile => ({
        key: String(f.key), name: String(f.name), thumbnailUrl: typeof f.thumbnail_url === 'string' ? f.thumbnail_url : null, lastModified: typeof f.last_modified === 'string' ? f.last_modified : null, projectId: String(p.id)
      })))
    })())
  },

  async exportImages (ctx, fileKey, nodeIds, format, scale) {
    const b = await get(ctx, `/v1/images/${encodeURIComponent(fileKey)}`, { ids: nodeIds.join(','), format, scale }, 'export_design')
    if (b.err != null) throw new AppError('API_ERROR', `Figma could not render: ${String(b.err).slice(0, 100)}`, { details: { platform: 'figma' } })
    const images = record(b.images)
    return Object.fromEntries(nodeIds.map((id) => [id, typeof images[id] === 'string' ? images[id] as string : null]))
  }
}

const format = { type: 'string', enum: ['png', 'jpg', 'svg', 'pdf'] }
const nodeIds = { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 100 }
const teamOf = (ctx: ConnectorContext, input: Record<string, unknown>): string => {
  const team = input.teamId ?? ctx.integration.config.teamId
  if (typeof team !== 'string' || team === '') throw new AppError('BAD_USER_INPUT', 'teamId is required (Figma has no API listing a user\'s teams)', { details: { field: 'input.teamId' } })
  return team
}

export const figmaConnector: Connector = {
  // Files and images are Tier 1 (10–20 a minute on paid seats): the provider's 429 + Retry-After is the real limit.
  dialect: { classify: classifyFigma, rateLimit: { perSecond: 1, burst: 15 } },
  design: figmaDesign,
  operations: [
    {
      name: 'list_files',
      description: 'Files of every project of a team (team id from the input or the integration config)',
      scopes: ['projects:read'],
      inputSchema: { type: 'object', properties: { teamId: { type: 'string', minLength: 1 }, max: { type: 'integer', minimum: 1, maximum: 5000 } }, additionalProperties: false },
      run: async (ctx, input) => ({ files: await collectUpTo(figmaDesign.listFiles(ctx, teamOf(ctx, input)), (input.max as number | undefined) ?? 5000) })
    },
    {
      name: 'export_design',
      description: 'Render nodes of a file as images; returns the (expiring) image URLs',
      scopes: ['file_content:read'],
      inputSchema: { type: 'object', required: ['fileKey', 'nodeIds'], properties: { fileKey: { type: 'string', minLength: 1 }, nodeIds, format, scale: { type: 'number', minimum: 0.01, maximum: 4 } }, additionalProperties: false },
      async run (ctx, input) {
        const images = await figmaDesign.exportImages(ctx, input.fileKey as string, input.nodeIds as string[], (input.format as 'png' | undefined) ?? 'png', input.scale as number | undefined)
        return { images, imageUrl: Object.values(images)[0] ?? null }
      }
    },
    {
      name: 'import_design',
      description: 'Export nodes and download the rendered images (checks they are retrievable; returns size, type and SHA-256 with the URLs)',
      scopes: ['file_content:read'],
      inputSchema: { type: 'object', required: ['fileKey', 'nodeIds'], properties: { fileKey: { type: 'string', minLength: 1 }, nodeIds, format, scale: { type: 'number', minimum: 0.01, maximum: 4 } }, additionalProperties: false },
      async run (ctx, input) {
        const fileKey = input.fileKey as string
        const file = await get(ctx, `/v1/files/${encodeURIComponent(fileKey)}`, { depth: 1 }, 'import_design')
        const images = await figmaDesign.exportImages(ctx, fileKey, input.nodeIds as string[], (input.format as 'png' | undefined) ?? 'png', input.scale as number | undefined)
        const out = []
        for (const [nodeId, url] of Object.entries(images)) {
          if (url === null) { out.push({ nodeId, url: null }); continue }
          const f = await ctx.files.fetch(url)
          out.push({ nodeId, url, mimeType: f.mimeType, size: f.bytes.byteLength, sha256: createHash('sha256').update(f.bytes).digest('hex') })
        }
        return { fileKey, name: file.name ?? null, lastModified: file.lastModified ?? null, thumbnailUrl: file.thumbnailUrl ?? null, images: out }
      }
    },
    {
      name: 'get_account',
      description: 'The connected Figma user',
      scopes: ['current_user:read'],
      inputSchema: { type: 'object', additionalProperties: false },
      async run (ctx) {
        const me = await get(ctx, '/v1/me', {}, 'get_account')
        return { id: me.id ?? null, email: me.email ?? null, handle: me.handle ?? null, imgUrl: me.img_url ?? null }
      }
    }
  ]
}
