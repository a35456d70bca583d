/**
 * The status-based default of how a provider answer is treated; a provider's dialect refines it
 * (connector.ts `ProviderDialect.classify`). Retried: network errors, 408, 429, 5xx. Never
 * retried: any other 4xx (security.md 1.9.6).
 */
import type { Outcome } from '../connector.ts'
import type { HttpResponse } from '../http.ts'

/** Retry-After as milliseconds: delta-seconds (decimals allowed: Shopify sends `2.0`) or an HTTP date. */
export function retryAfterMs (res: Pick<HttpResponse, 'headers'>): number | null {
  const v = res.headers.get('retry-after')
  if (v === null || v.trim() === '') return null
  const seconds = Number(v)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(v)
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now())
}

export function defaultOutcome (res: HttpResponse): Outcome {
  const s = res.status
  if (s >= 200 && s < 300) return { kind: 'ok' }
  if (s === 401) return { kind: 'auth', expired: false, message: 'The provider refused the token' }
  if (s === 429) return { kind: 'throttled', retryAfterMs: retryAfterMs(res) }
  if (s === 408) return { kind: 'error', code: 'NETWORK_ERROR', message: 'The provider timed out the request', retryable: true }
  if (s >= 500) return { kind: 'error', code: 'CONNECTION_FAILED', message: `The provider failed (HTTP ${s})`, retryable: true }
  return { kind: 'error', code: 'API_ERROR', message: `The provider refused the request (HTTP ${s})`, retryable: false }
}

export const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {})
