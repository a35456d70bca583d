/**
 * The raw transport under the OAuth client and the connectors' outbound client
 * (outbound/api-client.ts adds retries, breaker, governor, tokens and request-log rows on top):
 * every call goes through the outbound guard (outbound/guard.ts: destinations a team supplied are
 * checked on the address connected to, header names allow-listed, redirects never followed),
 * a timeout on every call, JSON, form or byte bodies, and a log line with
 * method, host, path and status only (never a query string, a header or a body: they carry
 * codes, tokens and secrets).
 */
import type { Logger } from '../domain/logger.ts'
import { OutboundRefused, type OutboundGuard } from './outbound/guard.ts'

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'
  headers?: Record<string, string>
  form?: Record<string, string>
  json?: unknown
  /** Raw body (uploads); set `content-type` in `headers`. */
  body?: Uint8Array | string
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number
}

export interface HttpResponse {
  status: number
  /** Response headers (undici's or the global Headers: only `get` is relied on). */
  headers: Pick<Headers, 'get'>
  /** Parsed JSON when the body is JSON, otherwise the text (or a parsed form body). */
  body: unknown
}

export interface HttpClient {
  request(url: string, req?: HttpRequest): Promise<HttpResponse>
}

export class NetworkError extends Error {
  /** The call was aborted by its timeout (rather than refused or reset). */
  readonly timedOut: boolean
  constructor (message: string, opts?: { cause?: unknown, timedOut?: boolean }) {
    super(message, opts)
    this.name = 'NetworkError'
    this.timedOut = opts?.timedOut ?? false
  }
}

export function fetchHttpClient (deps: { timeoutMs: number, guard: OutboundGuard, log?: Logger }): HttpClient {
  return {
    async request (url, req = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...req.headers }
      let body: string | Uint8Array | undefined = req.body
      if (req.form !== undefined) {
        headers['content-type'] ??= 'application/x-www-form-urlencoded'
        body = new URLSearchParams(req.form).toString()
      } else if (req.json !== undefined) {
        headers['content-type'] ??= 'application/json'
        body = JSON.stringify(req.json)
      }
      const u = new URL(url)
      const started = performance.now()
      let res: Awaited<ReturnType<OutboundGuard['fetch']>>
      try {
        res = await deps.guard.fetch(u, { method: req.method ?? 'GET', headers, body, signal: AbortSignal.timeout(req.timeoutMs ?? deps.timeoutMs) })
      } catch (err) {
        if (err instanceof OutboundRefused) {
          deps.log?.warn({ method: req.method ?? 'GET', host: u.host, path: u.pathname, reason: err.message }, 'provider call refused by the outbound guard')
          throw err
        }
        const timedOut = (err as Error).name === 'TimeoutError'
        deps.log?.warn({ method: req.method ?? 'GET', host: u.host, path: u.pathname, error: (err as Error).name }, 'provider call failed')
        throw new NetworkError(timedOut ? `${u.host} did not answer in time` : `${u.host} could not be reached`, { cause: err, timedOut })
      }
      let text: string
      try {
        text = await res.text()
      } catch (err) {
        const timedOut = (err as Error).name === 'TimeoutError'
        throw new NetworkError(timedOut ? `${u.host} did not answer in time` : `${u.host} closed the connection`, { cause: err, timedOut })
      }
      deps.log?.info({ method: req.method ?? 'GET', host: u.host, path: u.pathname, status: res.status, ms: Math.round(performance.now() - started) }, 'provider call')
      const type = res.headers.get('content-type') ?? ''
      let parsed: unknown = text
      if (type.includes('json') || /^\s*[[{]/.test(text)) {
        try { parsed = JSON.parse(text) } catch { parsed = text }
      } else if (type.includes('application/x-www-form-urlencoded')) {
        parsed = Object.fromEntries(new URLSearchParams(text))
      }
      return { status: res.status, headers: res.headers, body: parsed }
    }
  }
}
