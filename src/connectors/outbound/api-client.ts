/**
 * The shared outbound client every connector calls through, bound to one integration:
 *
 *   token (refreshed through the token service when expiring) → governor slot (queues) →
 *   circuit breaker → transport with timeout → classify (status + provider dialect) →
 *   request-log row for the attempt → retry with backoff (network, 408, 429, 5xx; Retry-After
 *   and provider signals honoured) or one refresh-and-retry after an auth failure.
 *
 * Failures leave as AppErrors carrying `platform` (the connector boundary turns them into
 * Result values): INVALID_CREDENTIALS (after a failed refresh; the integration is marked
 * needs_reauth), RATE_LIMIT_EXCEEDED, NETWORK_ERROR, CONNECTION_FAILED, API_ERROR,
 * UPSTREAM_UNAVAILABLE (circuit open).
 */
import { BrokenCircuitError, CircuitState, ExponentialBackoff, type IBackoff } from 'cockatiel'
import { AppError, type ErrorCode } from '../../errors.ts'
import type { OutboundCall } from '../../plugins/request-log.ts'
import type { Outcome, ProviderDialect } from '../connector.ts'
import { NetworkError, type HttpClient, type HttpRequest, type HttpResponse } from '../http.ts'
import { UpstreamFailure, type Breakers } from './breakers.ts'
import { defaultOutcome } from './classify.ts'
import { sleep, type RateGovernor } from './governor.ts'

/** An integration's access token as the token service hands it out. */
export interface TokenSource {
  /** A usable token (refreshed first when it expires within the margin). */
  current(): Promise<string>
  /** After the provider refused `used`: a refreshed token, or throws INVALID_CREDENTIALS (integration marked needs_reauth). */
  refreshAfterRejection(used: string): Promise<string>
  /** The provider still refuses a fresh token: mark the integration needs_reauth. */
  markInvalid(reason: string): Promise<void>
}

export interface ApiRequest extends Omit<HttpRequest, 'timeoutMs'> {
  /** Query parameters (undefined values skipped). */
  query?: Record<string, string | number | boolean | undefined>
  /** Non-2xx statuses the connector handles itself (Dropbox 409 folder conflict). */
  accept?: number[]
  /** Operation name for the request log. */
  operation?: string
}

export interface ApiClient {
  call(url: string, req?: ApiRequest): Promise<HttpResponse>
}

export interface OutboundSettings {
  maxAttempts: number
  backoffInitialMs: number
  backoffMaxMs: number
  timeoutMs: number
}

export interface OutboundDeps {
  http: HttpClient
  breakers: Breakers
  governor: RateGovernor
  settings: OutboundSettings
  recordOutbound(call: OutboundCall): void
}

export interface Binding {
  provider: string
  teamId: string
  integrationId: string
  /** Inbound request id, or the job id for background work. */
  requestId: string
  dialect: ProviderDialect
  tokens: TokenSource
}

const CODES_BY_OUTCOME: Record<Outcome['kind'], ErrorCode> = { ok: 'API_ERROR', auth: 'INVALID_CREDENTIALS', throttled: 'RATE_LIMIT_EXCEEDED', error: 'API_ERROR' }

export function apiClient (deps: OutboundDeps, b: Binding): ApiClient {
  const key = `${b.provider}:${b.integrationId}`
  const fail = (code: ErrorCode, message?: string, details: Record<string, unknown> = {}) => new AppError(code, message, { details: { platform: b.provider, ...details } })

  return {
    async call (url, req = {}) {
      const target = withQuery(url, req.query)
      const method = req.method ?? 'GET'
      let token = await b.tokens.current()
      let authRetried = false
      let backoff: IBackoff<unknown> | undefined
      const nextDelay = (): number => {
        backoff = backoff === undefined ? new ExponentialBackoff({ initialDelay: deps.settings.backoffInitialMs, maxDelay: deps.settings.backoffMaxMs }).next() : backoff.next(undefined)
        return backoff.duration
      }
      for (let attempt = 1, logged = 1; ; attempt++, logged++) {
        // An open circuit fails at once, without queueing for a rate slot first.
        const breaker = deps.breakers.for(key)
        if (breaker.state !== CircuitState.Open) await deps.governor.acquire(key, b.dialect.rateLimit, b.provider)
        const started = performance.now()
        const startedAt = new Date()
        const log = (status: number | null, outcome: Outcome | null, error?: { code: ErrorCode, message: string }) => deps.recordOutbound({
          teamId: b.teamId, integrationId: b.integrationId, provider: b.provider, operation: req.operation ?? null, method, url: target,
          status, durationMs: Math.round(performance.now() - started), success: outcome?.kind === 'ok', attempt: logged, requestId: b.requestId, startedAt,
          errorType: error?.code ?? null, errorMessage: error?.message ?? null
        })
        let res: HttpResponse
        try {
          res = await breaker.execute(async () => {
            const r = await deps.http.request(target, { ...req, method, headers: { ...(b.dialect.authHeaders?.(token) ?? { authorization: `Bearer ${token}` }), ...req.headers }, timeoutMs: deps.settings.timeoutMs })
            if (r.status >= 500) throw new UpstreamFailure(r)
            return r
          })
        } catch (err) {
          if (err instanceof BrokenCircuitError) {
            log(null, null, { code: 'UPSTREAM_UNAVAILABLE', message: 'circuit open' })
            throw fail('UPSTREAM_UNAVAILABLE')
          }
          if (err instanceof UpstreamFailure) res = err.res
          else if (err instanceof NetworkError) {
            const code: ErrorCode = 'NETWORK_ERROR'
            log(null, null, { code, message: err.message })
            // A timeout is not retried: the caller's resolver must finish near the timeout (security.md 1.9.5).
            if (err.timedOut || attempt >= deps.settings.maxAttempts) throw fail(code, err.timedOut ? 'The provider did not answer in time.' : undefined)
            await sleep(nextDelay())
            continue
          } else throw err
        }
        const outcome: Outcome = req.accept?.includes(res.status) === true ? { kind: 'ok' } : b.dialect.classify?.(res) ?? defaultOutcome(res)
        log(res.status, outcome, outcome.kind === 'ok' ? undefined : { code: outcome.kind === 'error' ? outcome.code : CODES_BY_OUTCOME[outcome.kind], message: outcome.kind === 'throttled' ? 'throttled' : outcome.message })
        if (outcome.kind === 'ok') {
          const pause = b.dialect.pacing?.(res)
          if (pause != null && pause > 0) deps.governor.pause(key, pause)
          return res
        }
        if (outcome.kind === 'auth') {
          if (authRetried) {
            await b.tokens.markInvalid(outcome.message)
            throw fail('INVALID_CREDENTIALS')
          }
          authRetried = true
          token = await b.tokens.refreshAfterRejection(token)
          attempt-- // the refresh-and-retry is not one of the backoff attempts
          continue
        }
        if (outcome.kind === 'throttled') {
          const wait = outcome.retryAfterMs ?? nextDelay()
          deps.governor.pause(key, wait)
          if (attempt >= deps.settings.maxAttempts) throw fail('RATE_LIMIT_EXCEEDED', undefined, { retryAfterSeconds: Math.ceil(wait / 1000) })
          continue // the governor holds this and every other call of the integration until the pause ends
        }
        if (!outcome.retryable || attempt >= deps.settings.maxAttempts) throw fail(outcome.code, outcome.message)
        await sleep(nextDelay())
      }
    }
  }
}

function withQuery (url: string, query: ApiRequest['query']): string {
  if (query === undefined) return url
  const u = new URL(url)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v))
  return u.toString()
}
