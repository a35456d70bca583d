/**
 * The standard OAuth dialect (RFC 6749 token responses, RFC 7009 revocation) that providers use
 * unless their definition overrides it. Provider files import these to build their quirks.
 */
import type { OAuthFailure, ProviderCallContext, TokenSet } from './types.ts'

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null)

/** Fields of a token response that are secrets or handled explicitly: never copied into `extra`. */
const HANDLED = new Set(['access_token', 'refresh_token', 'token_type', 'expires_in', 'scope', 'id_token', 'refresh_token_expires_in'])

/** RFC 6749 §5.1 success / §5.2 error. `scopeSeparator` splits the granted `scope`. */
export function parseRfc6749 (status: number, body: unknown, scopeSeparator: ' ' | ',' = ' '): TokenSet | OAuthFailure {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const error = str(b.error)
  if (status >= 400 || error !== null || str(b.access_token) === null) {
    return { error: error ?? (status >= 500 ? 'server_error' : 'invalid_response'), description: str(b.error_description) }
  }
  const scope = str(b.scope)
  const extra: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(b)) if (!HANDLED.has(k) && (typeof v !== 'object' || v === null || !JSON.stringify(v).includes('token'))) extra[k] = v
  return {
    accessToken: str(b.access_token)!,
    refreshToken: str(b.refresh_token),
    tokenType: str(b.token_type) ?? 'Bearer',
    expiresIn: num(b.expires_in),
    scopes: scope === null ? null : scope.split(scopeSeparator === ',' ? /[\s,]+/ : /\s+/).filter((s) => s !== ''),
    extra
  }
}

/** RFC 7009 §2.1: form POST `token` + `token_type_hint`, client authenticated like at the token endpoint. */
export async function revokeRfc7009 (ctx: ProviderCallContext, token: string, hint: string, clientAuth: 'body' | 'basic' | 'none'): Promise<void> {
  const url = ctx.urls.revoke
  if (url === undefined) return
  const form: Record<string, string> = { token, token_type_hint: hint }
  const headers: Record<string, string> = {}
  if (clientAuth === 'basic' && ctx.client.clientSecret !== null) headers.authorization = basicAuth(ctx.client.clientId, ctx.client.clientSecret)
  else {
    form.client_id = ctx.client.clientId
    if (clientAuth === 'body' && ctx.client.clientSecret !== null) form.client_secret = ctx.client.clientSecret
  }
  const res = await ctx.http.request(url, { method: 'POST', form, headers })
  // RFC 7009 §2.2: 200 also for an unknown or already-invalid token.
  if (res.status !== 200) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
}

export class RevokeFailed extends Error {
  readonly status: number
  readonly retryAfter: string | null
  constructor (status: number, retryAfter: string | null = null) {
    super(`revocation answered HTTP ${status}`)
    this.name = 'RevokeFailed'
    this.status = status
    this.retryAfter = retryAfter
  }
}

/** RFC 6749 §2.3.1: client id and secret form-urlencoded, then Basic. */
export const basicAuth = (id: string, secret: string): string =>
  'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')

export const asRecord = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {})
export { str as optString }
