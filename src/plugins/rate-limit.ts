/**
 * Two limiters on one store (memory, or Redis when REDIS_URL is set so instances share counts):
 * - `principalRateLimit`: per API key (its own limit, else the default), per user, else per IP;
 * - `authFailures`: failed authentications per IP, checked before any database lookup.
 * Both answer 429 RATE_LIMITED with Retry-After.
 */
import { createRequire } from 'node:module'
import fp from 'fastify-plugin'
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import { Redis } from 'ioredis'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Principal } from '../domain/auth/principal.ts'

export interface AuthFailureLimiter {
  /** Seconds to wait when this IP has failed too often, else 0. Does not count. */
  blockedFor(req: FastifyRequest): Promise<number>
  record(req: FastifyRequest): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    principalRateLimit: onRequestHookHandler
    authFailures: AuthFailureLimiter
    /** Count `n` more operations against the request's principal; seconds to wait when over, else 0. */
    chargeOperations(req: FastifyRequest, n: number): Promise<number>
    /** Requests left in a key's current window, without counting one. */
    rateLimitRemaining(principal: Principal): Promise<number | null>
  }
}

/** The library's stores (CommonJS files without type declarations): the counting algorithms we rely on. */
interface RateLimitStore {
  incr(key: string, cb: (err: Error | null, state?: { current: number, ttl: number }) => void, timeWindow: number, max: number): void
  child(params: unknown): RateLimitStore
}
type StoreClass<A extends unknown[]> = new (continueExceeding: boolean, exponentialBackoff: boolean, ...rest: A) => RateLimitStore
const require = createRequire(import.meta.url)
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as StoreClass<[cache: number]>
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreClass<[redis: Redis, namespace: string]>
/** Principals tracked by the memory store (least recently seen dropped first), as the library's default. */
const LOCAL_STORE_ENTRIES = 5000

const rateLimited = (seconds: number): AppError =>
  new AppError('RATE_LIMITED', `Rate limit exceeded, retry in ${seconds} seconds`, { details: { retryAfterSeconds: seconds } })

export const rateLimitPlugin = fp<{ config: Config }>(async (app, { config }) => {
  const redis = config.redisUrl === undefined
    ? undefined
    // No offline queue: while Redis is unreachable, limiter calls fail fast and are skipped.
    : new Redis(config.redisUrl, { connectTimeout: 500, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true })
  if (redis !== undefined) {
    redis.on('error', (err) => app.log.warn({ err: { message: err.message } }, 'rate-limit redis error'))
    app.addHook('onClose', async () => { redis.disconnect() })
    try {
      await redis.connect()
    } catch (err) {
      app.log.warn({ err: { message: (err as Error).message } }, 'Redis unreachable at start: rate limits are not enforced until it connects')
    }
  }
  // One store (the library's own memory LRU or Redis script) shared by the per-request hook
  // below and every limiter the library builds (operation charges, peeks, auth failures).
  const store: RateLimitStore = redis !== undefined
    ? new RedisStore(false, false, redis, 'sb-rl:')
    : new LocalStore(false, false, LOCAL_STORE_ENTRIES)
  // A cached API key's principal is one frozen object reused across its requests: its counter key
  // is built once, and the store's Map lookups then reuse the string's cached hash.
  const principalKeys = new WeakMap<Principal, string>()
  const keyOf = (req: FastifyRequest): string => {
    const p = req.principal
    if (p === undefined || (p.apiKeyId === undefined && p.userId === undefined)) return `ip:${req.ip}`
    let key = principalKeys.get(p)
    if (key === undefined) {
      key = p.apiKeyId !== undefined ? `key:${p.apiKeyId}` : `user:${p.teamId}:${p.userId}`
      principalKeys.set(p, key)
    }
    return key
  }
  const maxOf = (req: FastifyRequest): number => req.principal?.rateLimit?.requests ?? config.rateLimit.defaultRequests
  const windowOf = (req: FastifyRequest): number => req.principal?.rateLimit?.windowMs ?? config.rateLimit.defaultWindowMs

  await app.register(rateLimit, {
    global: false,
    store: function sharedStore () { return store } as unknown as NonNullable<RateLimitPluginOptions['store']>,
    // Fail open when Redis is unreachable: the gateway keeps serving; the error is logged above.
    skipOnError: true,
    keyGenerator: keyOf,
    max: maxOf,
    timeWindow: windowOf,
    errorResponseBuilder: (_req, ctx) => rateLimited(Math.ceil(ctx.ttl / 1000))
  })

  // The per-request limit: the library's store and counting, in a callback-style hook. (The
  // library's own hook awaits the key, the limit, the window and the store on every request;
  // with the memory store this one runs without a promise.)
  const headersAlways = config.rateLimit.headers === 'always'
  app.decorate('principalRateLimit', function principalRateLimit (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const max = maxOf(req)
    store.incr(keyOf(req), (err, state) => {
      if (err !== null || state === undefined) { done(); return } // skipOnError, as above
      const reset = Math.max(0, Math.ceil(state.ttl / 1000))
      if (state.current > max) {
        reply.header('retry-after', Math.max(1, reset))
        reply.header('x-ratelimit-limit', max).header('x-ratelimit-remaining', 0).header('x-ratelimit-reset', reset)
        done(rateLimited(Math.max(1, reset)))
        return
      }
      if (headersAlways) reply.header('x-ratelimit-limit', max).header('x-ratelimit-remaining', max - state.current).header('x-ratelimit-reset', reset)
      done()
    }, windowOf(req), max)
  } satisfies onRequestHookHandler)

  const charge = app.createRateLimit()
  app.decorate('chargeOperations', async (req: FastifyRequest, n: number) => {
    let wait = 0
    for (let i = 0; i < n; i++) {
      const s = await charge(req)
      if (!s.isAllowed && s.isExceeded) wait = Math.max(1, s.ttlInSeconds)
    }
    return wait
  })

  const peek = app.createRateLimit()
  app.decorate('rateLimitRemaining', async (principal: Principal) => {
    // The limiter only reads these fields of a request: the principal (key, max, window) and the route config.
    const s = await peek({ principal, ip: '', routeOptions: { config: {} } } as unknown as FastifyRequest, { increment: false })
    return s.isAllowed ? null : s.remaining
  })

  const failures = app.createRateLimit({
    keyGenerator: (req) => `authfail:${req.ip}`,
    max: config.rateLimit.authFailuresPerMinute,
    timeWindow: 60_000
  })
  app.decorate('authFailures', {
    async blockedFor (req) {
      const s = await failures(req, { increment: false })
      return !s.isAllowed && s.remaining === 0 && (s.ttl ?? 0) > 0 ? Math.max(1, s.ttlInSeconds) : 0
    },
    async record (req) { await failures(req) }
  })
}, { name: 'switchboard-rate-limit', fastify: '5.x' })

export { rateLimited }
