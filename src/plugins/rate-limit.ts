/**
 * Two limiters on one store (memory, or Redis when REDIS_URL is set so instances share counts):
 * - `principalRateLimit`: per API key (its own limit, else the default), per user, else per IP;
 * - `authFailures`: failed authentications per IP, checked before any database lookup.
 * Both answer 429 RATE_LIMITED with Retry-After.
 *
 * Fail open: when Redis refuses, errs or does not answer within REDIS_COMMAND_TIMEOUT_MS (a hung
 * server keeps its connection open, so only a command timeout notices), the check is skipped and
 * the request goes on. After such a failure no check is tried for `PAUSE_AFTER_FAILURE_MS`: a
 * hung Redis then costs one timeout per pause, not one per check (a query with ten root fields
 * makes eleven), and commands stop piling up on a socket nobody reads.
 */
import fp from 'fastify-plugin'
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
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

/** Principals tracked by the memory store (least recently seen dropped first), as the library's default. */
const LOCAL_STORE_ENTRIES = 5000
/** After a failed check, how long checks are skipped (fail open) before Redis is tried again. */
export const PAUSE_AFTER_FAILURE_MS = 1000

const rateLimited = (seconds: number): AppError =>
  new AppError('RATE_LIMITED', `Rate limit exceeded, retry in ${seconds} seconds`, { details: { retryAfterSeconds: seconds } })

/** Runs limiter checks, answering `fallback` (no limit) while the store fails and for a pause after. */
class FailOpen {
  #pausedUntil = 0
  readonly #log: FastifyBaseLogger
  constructor (log: FastifyBaseLogger) { this.#log = log }

  async run<T> (check: () => Promise<T>, fallback: T): Promise<T> {
    if (this.#pausedUntil !== 0) {
      if (Date.now() < this.#pausedUntil) return fallback
      this.#pausedUntil = 0
    }
    try {
      return await check()
    } catch (err) {
      if (this.#pausedUntil === 0) {
        this.#pausedUntil = Date.now() + PAUSE_AFTER_FAILURE_MS
        this.#log.warn({ err: { message: (err as Error).message }, pauseMs: PAUSE_AFTER_FAILURE_MS }, 'rate-limit store failed: limits are not enforced for the pause')
      }
      return fallback
    }
  }
}

function redisClient (app: { log: FastifyBaseLogger }, config: Config): Redis | undefined {
  if (config.redisUrl === undefined) return undefined
  const redis = new Redis(config.redisUrl, {
    connectTimeout: 500,
    // A stopped (not crashed) Redis keeps the connection open and never answers: without this
    // every check would wait for it.
    commandTimeout: config.redisCommandTimeoutMs,
    maxRetriesPerRequest: 1,
    // No offline queue: while Redis is unreachable, checks fail at once instead of queueing.
    enableOfflineQueue: false,
    lazyConnect: true
  })
  redis.on('error', (err) => app.log.warn({ err: { message: err.message } }, 'rate-limit redis error'))
  return redis
}

export const rateLimitPlugin = fp<{ config: Config }>(async (app, { config }) => {
  const redis = redisClient(app, config)
  if (redis !== undefined) {
    app.addHook('onClose', async () => { redis.disconnect() })
    try {
      await redis.connect()
    } catch (err) {
      app.log.warn({ err: { message: (err as Error).message } }, 'Redis unreachable at start: rate limits are not enforced until it connects')
    }
  }
  const keyOf = (req: FastifyRequest): string => {
    const p = req.principal
    if (p === undefined || (p.apiKeyId === undefined && p.userId === undefined)) return `ip:${req.ip}`
    return p.apiKeyId !== undefined ? `key:${p.apiKeyId}` : `user:${p.teamId}:${p.userId}`
  }
  const maxOf = (req: FastifyRequest): number => req.principal?.rateLimit?.requests ?? config.rateLimit.defaultRequests
  const windowOf = (req: FastifyRequest): number => req.principal?.rateLimit?.windowMs ?? config.rateLimit.defaultWindowMs

  // The library's own store (its memory LRU, or its Redis script), shared by every limiter made
  // with `createRateLimit()`: the per-request check, operation charges and peeks count together.
  await app.register(rateLimit, {
    global: false,
    ...(redis !== undefined ? { redis, nameSpace: 'sb-rl:' } : { cache: LOCAL_STORE_ENTRIES }),
    // Errors reach FailOpen, which skips the check and pauses further ones.
    skipOnError: false,
    keyGenerator: keyOf,
    max: maxOf,
    timeWindow: windowOf,
    errorResponseBuilder: (_req, ctx) => rateLimited(Math.ceil(ctx.ttl / 1000))
  } satisfies RateLimitPluginOptions)
  const failOpen = new FailOpen(app.log)
  type Check = Awaited<ReturnType<ReturnType<typeof app.createRateLimit>>>
  const unchecked = { isAllowed: true } as Check

  const count = app.createRateLimit()
  const headersAlways = config.rateLimit.headers === 'always'
  app.decorate('principalRateLimit', async function principalRateLimit (req: FastifyRequest, reply: FastifyReply) {
    const s = await failOpen.run(() => count(req), unchecked)
    if (s.isAllowed) return
    const reset = Math.max(0, s.ttlInSeconds)
    if (s.isExceeded) {
      reply.header('retry-after', Math.max(1, reset))
      reply.header('x-ratelimit-limit', s.max).header('x-ratelimit-remaining', 0).header('x-ratelimit-reset', reset)
      throw rateLimited(Math.max(1, reset))
    }
    if (headersAlways) reply.header('x-ratelimit-limit', s.max).header('x-ratelimit-remaining', s.remaining).header('x-ratelimit-reset', reset)
  } satisfies onRequestHookHandler)

  app.decorate('chargeOperations', async (req: FastifyRequest, n: number) => {
    let wait = 0
    for (let i = 0; i < n; i++) {
      const s = await failOpen.run(() => count(req), unchecked)
      if (!s.isAllowed && s.isExceeded) wait = Math.max(1, s.ttlInSeconds)
    }
    return wait
  })

  app.decorate('rateLimitRemaining', async (principal: Principal) => {
    // The limiter only reads these fields of a request: the principal (key, max, window) and the route config.
    const s = await failOpen.run(() => count({ principal, ip: '', routeOptions: { config: {} } } as unknown as FastifyRequest, { increment: false }), unchecked)
    return s.isAllowed ? null : s.remaining
  })

  const failures = app.createRateLimit({
    keyGenerator: (req) => `authfail:${req.ip}`,
    max: config.rateLimit.authFailuresPerMinute,
    timeWindow: 60_000
  })
  app.decorate('authFailures', {
    async blockedFor (req) {
      const s = await failOpen.run(() => failures(req, { increment: false }), unchecked)
      return !s.isAllowed && s.remaining === 0 && (s.ttl ?? 0) > 0 ? Math.max(1, s.ttlInSeconds) : 0
    },
    async record (req) { await failOpen.run(() => failures(req), unchecked) }
  })
}, { name: 'switchboard-rate-limit', fastify: '5.x' })

export { rateLimited }
