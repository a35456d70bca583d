/**
 * Outbound HTTP for connectors and the OAuth client: a timeout on every call, JSON or form
 * bodies, and a log line with method, host, path and status only (never a query string, a
 * header or a body: they carry codes, tokens and secrets).
 */
import type { Logger } from '../domain/logger.ts'

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'
  headers?: Record<string, string>
  form?: Record<string, string>
  json?: unknown
}

export interface HttpResponse {
  status: number
  headers: Headers
  /** Parsed JSON when the body is JSON, otherwise the text (or a parsed form body). */
  body: unknown
}

export interface HttpClient {
  request(url: string, req?: HttpRequest): Promise<HttpResponse>
}

export class NetworkError extends Error {
  constructor (message: string, opts?: { cause?: unknown }) {
    super(message, opts)
    this.name = 'NetworkError'
  }
}

export function fetchHttpClient (deps: { timeoutMs: number, log?: Logger }): HttpClient {
  return {
    async request (url, req = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...req.headers }
      let body: string | undefined
      if (req.form !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded'
        body = new URLSearchParams(req.form).toString()
      } else if (req.json !== undefined) {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(req.json)
      }
      const u = new URL(url)
      const started = performance.now()
      let res: Response
      try {
        res = await fetch(u, { method: req.method ?? 'GET', headers, body, redirect: 'manual', signal: AbortSignal.timeout(deps.timeoutMs) })
      } catch (err) {
        deps.log?.warn({ method: req.method ?? 'GET', host: u.host, path: u.pathname, error: (err as Error).name }, 'provider call failed')
        throw new NetworkError(`${u.host} could not be reached`, { cause: err })
      }
      const text = await res.text()
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
