/**
 * pino options shared by the server and the CLI. Credentials are redacted by path, and
 * request URLs are logged without their query string (which could carry a code, a state or a
 * key someone put there by mistake).
 */
import type { FastifyRequest } from 'fastify'
import type { LoggerOptions } from 'pino'
import type { Config } from './config.ts'

const SECRET_HEADERS = ['authorization', 'x-api-key', 'cookie', 'set-cookie', 'proxy-authorization']
const SECRET_FIELDS = ['token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token', 'secret',
  'clientSecret', 'client_secret', 'password', 'apiKey', 'api_key', 'authorization', 'x-api-key']

export const REDACT_PATHS = [
  ...SECRET_HEADERS.map((f) => `req.headers["${f}"]`),
  ...SECRET_HEADERS.map((f) => `res.headers["${f}"]`),
  ...SECRET_FIELDS.filter((f) => /^\w+$/.test(f)),
  ...SECRET_FIELDS.map((f) => `*["${f}"]`),
  ...SECRET_FIELDS.map((f) => `*.*["${f}"]`)
]

export const pathOnly = (url: string): string => {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export function loggerOptions (config: Pick<Config, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: {
      req (req: FastifyRequest) {
        // Anything that is not a request (an object logged by hand) passes through to redaction.
        if (typeof req.url !== 'string') return req
        return { method: req.method, url: pathOnly(req.url), remoteAddress: req.ip }
      }
    }
  }
}
