/**
 * Resolves who is calling before GraphQL runs and puts it on `request.principal`.
 * Credentials come from `Authorization: Bearer …` or `x-api-key`; a credential in the query
 * string is refused (it would end up in logs and browser history). Every failure gets the same
 * 401 body; an IP that keeps failing gets 429 before any database lookup (and a malformed key
 * never reaches the database at all).
 */
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import type { AuthOutcome } from '../domain/auth/authenticator.ts'
import type { Principal } from '../domain/auth/principal.ts'
import { AppError } from '../errors.ts'
import { rateLimited } from './rate-limit.ts'

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | undefined }
  interface FastifyInstance { authenticate: onRequestHookHandler }
}

const QUERY_CREDENTIALS = ['api_key', 'apikey', 'key', 'access_token', 'token']
const UNAUTHENTICATED = 'Authentication required: send a valid API key or token in the Authorization header'

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** `Bearer <token>`: the common exact form without the regex, anything else through it. */
function bearerToken (header: string): string | undefined {
  if (header.startsWith('Bearer ') && header.length > 7) {
    let plain = true
    for (let i = 7; i < header.length; i++) if (header.charCodeAt(i) <= 32) { plain = false; break }
    if (plain) return header.slice(7)
  }
  return BEARER.exec(header)?.[1]
}

function presentedCredential (req: FastifyRequest): string | undefined {
  const header = req.headers.authorization
  if (typeof header === 'string') return bearerToken(header)
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

  const { authenticator, keyVerifier } = app.services
  // A key revoked, disabled or narrowed on any instance stops working here as its change commits
  // (LISTEN/NOTIFY). Without the listener, the key cache's TTL still bounds the delay.
  try {
    const unfollow = await keyVerifier.follow((...args) => app.database.listen(...args))
    app.addHook('onClose', async () => { await unfollow() })
  } catch (err) {
    app.log.warn({ err: { message: (err as Error).message } }, 'key-change listener unavailable: changes made on other instances apply here after API_KEY_CACHE_TTL_MS')
  }
  const unauthenticated = (req: FastifyRequest, done: HookHandlerDoneFunction): void => {
    app.authFailures.record(req).then(() => { done(new AppError('UNAUTHENTICATED', UNAUTHENTICATED)) }, done)
  }
  const settle = (req: FastifyRequest, outcome: AuthOutcome, done: HookHandlerDoneFunction): void => {
    if (!outcome.ok) { unauthenticated(req, done); return }
    req.principal = outcome.principal
    done()
  }

  // Callback style, not async: on a cached key the whole hook runs without a promise.
  app.decorate('authenticate', function authenticate (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const credential = hasQueryCredential(req) ? undefined : presentedCredential(req)
    if (credential === undefined) { done(new AppError('UNAUTHENTICATED', UNAUTHENTICATED)); return }
    // Checked only when authenticating would reach the database (a cache hit needs no guard).
    const guard = async (): Promise<void> => {
      const wait = await app.authFailures.blockedFor(req)
      if (wait > 0) throw rateLimited(wait)
    }
    let outcome: AuthOutcome | Promise<AuthOutcome>
    try {
      outcome = authenticator.authenticate(credential, guard)
    } catch (err) {
      done(err as Error)
      return
    }
    if (outcome instanceof Promise) outcome.then((o) => { settle(req, o, done) }, done)
    else settle(req, outcome, done)
  })
}, { name: 'switchboard-auth', fastify: '5.x', dependencies: ['switchboard-services', 'switchboard-rate-limit'] })
