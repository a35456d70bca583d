/**
 * pino options shared by the server and the CLI. Credential-named fields are redacted, and
 * request URLs are logged without their query string (which could carry a code, a state or a
 * key someone put there by mistake).
 */
import type { FastifyRequest } from 'fastify'
import type { LoggerOptions } from 'pino'
import type { Config } from './config.ts'

const SECRET_KEYS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie', 'set-cookie',
  'token', 'accesstoken', 'access_token', 'refreshtoken', 'refresh_token', 'id_token', 'secret',
  'clientsecret', 'client_secret', 'password', 'apikey', 'api_key', 'code_verifier'])
const MAX_DEPTH = 4

/**
 * Replaces credential-named fields in plain objects and arrays (to a few levels) with
 * "[Redacted]". Done when a line is written — not with pino's wildcard `redact` paths, whose cost
 * is paid again for every request's child logger whether or not anything is logged.
 * Class instances (requests, errors) are left to their serializers.
 */
export function scrubForLog (value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) return value.map((v) => scrubForLog(v, depth + 1))
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let out: Record<string, unknown> | undefined
  for (const [k, v] of Object.entries(value)) {
    const next = SECRET_KEYS.has(k.toLowerCase()) ? '[Redacted]' : scrubForLog(v, depth + 1)
    if (next !== v) {
      out ??= { ...(value as Record<string, unknown>) }
      out[k] = next
    }
  }
  return out ?? value
}

export const pathOnly = (url: string): string => {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export function loggerOptions (config: Pick<Config, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    formatters: { log: (obj) => scrubForLog(obj) as Record<string, unknown> },
    serializers: {
      req (req: FastifyRequest) {
        // Anything that is not a request (an object logged by hand) passes through to redaction.
        if (typeof req.url !== 'string') return req
        return { method: req.method, url: pathOnly(req.url), remoteAddress: req.ip }
      }
    }
  }
}
