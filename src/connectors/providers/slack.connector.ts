/**
 * Slack Web API data side (providers.md §7): Bearer bot token; failures are HTTP 200 with
 * `{ok: false, error}` (`token_expired` → refresh; `invalid_auth`, `token_revoked`,
 * `account_inactive`, `not_authed` → auth failure; `ratelimited` → throttled; anything else is
 * an API error, not retried); 429 + Retry-After per method tier; `conversations.list` pages with
 * `cursor` / `response_metadata.next_cursor` ("" at the end).
 */
import type { Channel, Connector, MessagingCapability, Outcome } from '../connector.ts'
import { collectUpTo } from '../flows.ts'
import type { HttpResponse } from '../http.ts'
import { record } from '../outbound/classify.ts'
import { cursorPages } from '../outbound/pagination.ts'

const AUTH_ERRORS = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'account_inactive', 'token_expired'])

export function classifySlack (res: HttpResponse): Outcome | undefined {
  const b = record(res.body)
  if (res.status !== 200 || b.ok !== false) return undefined
  const error = String(b.error ?? 'unknown_error')
  if (AUTH_ERRORS.has(error)) return { kind: 'auth', expired: error === 'token_expired', message: error }
  if (error === 'ratelimited') return { kind: 'throttled', retryAfterMs: null }
  return { kind: 'error', code: 'API_ERROR', message: `Slack: ${error}`, retryable: false }
}

export const slackMessaging: MessagingCapability = {
  async postMessage (ctx, channel, text) {
    const res = await ctx.api.call(`${ctx.urls.api}/chat.postMessage`, { method: 'POST', json: { channel, text }, headers: { 'content-type': 'application/json; charset=utf-8' }, operation: 'post_message' })
    const b = record(res.body)
    return { channel: String(b.channel), ts: String(b.ts) }
  },

  listChannels (ctx) {
    return cursorPages(async (cursor: string | null) => {
      const res = await ctx.api.call(`${ctx.urls.api}/conversations.list`, { query: { types: 'public_channel', exclude_archived: true, limit: 200, cursor: cursor ?? undefined }, operation: 'list_channels' })
      const b = record(res.body)
      const next = record(b.response_metadata).next_cursor
      return { items: ((b.channels as unknown[]) ?? []).map(record).map((c): Channel => ({ id: String(c.id), name: String(c.name), isPrivate: c.is_private === true })), next: typeof next === 'string' && next !== '' ? next : null }
    })
  }
}

export const slackConnector: Connector = {
  // Tier 2–3 methods allow 20–50+ a minute; chat.postMessage about one a second per channel.
  dialect: { classify: classifySlack, rateLimit: { perSecond: 1, burst: 20 } },
  messaging: slackMessaging,
  operations: [
    {
      name: 'post_message',
      description: 'Post a text message to a channel the bot is in',
      scopes: ['chat:write'],
      inputSchema: { type: 'object', required: ['channel', 'text'], properties: { channel: { type: 'string', minLength: 1 }, text: { type: 'string', minLength: 1, maxLength: 40000 } }, additionalProperties: false },
      run: (ctx, input) => slackMessaging.postMessage(ctx, input.channel as string, input.text as string)
    },
    {
      name: 'list_channels',
      description: 'Public channels (follows next_cursor up to `max`)',
      scopes: ['channels:read'],
      inputSchema: { type: 'object', properties: { max: { type: 'integer', minimum: 1, maximum: 5000 } }, additionalProperties: false },
      run: async (ctx, input) => ({ channels: await collectUpTo(slackMessaging.listChannels(ctx), (input.max as number | undefined) ?? 1000) })
    },
    {
      name: 'get_account',
      description: 'Workspace (team) name and id, bot user',
      inputSchema: { type: 'object', additionalProperties: false },
      async run (ctx) {
        const b = record((await ctx.api.call(`${ctx.urls.api}/auth.test`, { method: 'POST', operation: 'get_account' })).body)
        return { teamId: b.team_id ?? null, teamName: b.team ?? null, url: b.url ?? null, botUserId: b.user_id ?? null }
      }
    }
  ]
}
