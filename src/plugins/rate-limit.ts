/**
 * Two limiters on one store (memory, or Redis when REDIS_URL is set so instances share counts):
 * - `principalRateLimit`: per API key (its own limit, else the default), per user, else per IP;
 * - `authFailures`: failed authentications per IP, checked before any database lookup.
 * Both answer 429 RATE_LIMITED with Retry-After.
 */
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
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
    principalRateLimit: onRequestAsyncHookHandler
    authFailures: AuthFailureLimiter
    /** Count `n` more operations against the request's principal; seconds to wait when over, else 0. */
    chargeOperations(req: FastifyRequest, n: number): Promise<number>
    /** Requests left in a key's current window, without counting one. */
    rateLimitRemaining(principal: Principal): Promise<number | null>
  }
}

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
  await app.register(rateLimit, {
    global: false,
    ...(redis !== undefined && { redis }),
    nameSpace: 'sb-rl:',
    // Fail open when Redis is unreachable: the gateway keeps serving; the error is logged above.
    skipOnError: true,
    keyGenerator: (req) => {
      const p = req.principal
      if (p?.apiKeyId !== undefined) return `key:${p.apiKeyId}`
      if (p?.userId !== undefined) return `user:${p.teamId}:${p.userId}`
      return `ip:${req.ip}`
    },
    // Plain functions, not async ones: the limiter awaits whatever they return, and an async
    // function would add a promise per call on every request.
    max: (req) => req.principal?.rateLimit?.requests ?? config.rateLimit.defaultRequests,
    timeWindow: (req) => req.principal?.rateLimit?.windowMs ?? config.rateLimit.defaultWindowMs,
    errorResponseBuilder: (_req, ctx) => rateLimited(Math.ceil(ctx.ttl / 1000))
  })
  app.decorate('principalRateLimit', app.rateLimit() as onRequestAsyncHookHandler)

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
