/**
 * Resolves who is calling before GraphQL runs and puts it on `request.principal`.
 * Credentials come from `Authorization: Bearer …` or `x-api-key`; a credential in the query
 * string is refused (it would end up in logs and browser history). Every failure gets the same
 * 401 body; an IP that keeps failing gets 429 before any database lookup (and a malformed key
 * never reaches the database at all).
 */
import fp from 'fastify-plugin'
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import type { Principal } from '../domain/auth/principal.ts'
import { AppError } from '../errors.ts'
import { rateLimited } from './rate-limit.ts'

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | undefined }
  interface FastifyInstance { authenticate: onRequestAsyncHookHandler }
}

const QUERY_CREDENTIALS = ['api_key', 'apikey', 'key', 'access_token', 'token']
const UNAUTHENTICATED = 'Authentication required: send a valid API key or token in the Authorization header'

function presentedCredential (req: FastifyRequest): string | undefined {
  const header = req.headers.authorization
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    return match?.[1]
  }
  const key = req.headers['x-api-key']
  return typeof key === 'string' && key.length > 0 ? key : undefined
}

function hasQueryCredential (req: FastifyRequest): boolean {
  const q = req.url.indexOf('?')
  if (q === -1) return false
  const params = new URLSearchParams(req.url.slice(q + 1))
  return QUERY_CREDENTIALS.some((name) => params.has(name))
}

export const authPlugin = fp(async (app) => {
  app.decorateRequest('principal', undefined)

  app.decorate('authenticate', async function authenticate (req: FastifyRequest) {
    const credential = hasQueryCredential(req) ? undefined : presentedCredential(req)
    if (credential === undefined) throw new AppError('UNAUTHENTICATED', UNAUTHENTICATED)
    // Checked only when authenticating would reach the database (a cache hit needs no guard).
    const guard = async (): Promise<void> => {
      const wait = await app.authFailures.blockedFor(req)
      if (wait > 0) throw rateLimited(wait)
    }
    const outcome = await app.services.authenticator.authenticate(credential, guard)
    if (!outcome.ok) {
      await app.authFailures.record(req)
      throw new AppError('UNAUTHENTICATED', UNAUTHENTICATED)
    }
    req.principal = outcome.principal
  })
}, { name: 'switchboard-auth', fastify: '5.x', dependencies: ['switchboard-services', 'switchboard-rate-limit'] })
