/**
 * CORS for browser clients (CORS_ORIGINS), with @fastify/cors. Off by default: no origin is
 * named, so no Access-Control-* header is sent and preflights go unanswered (404).
 * - An allow-list: an origin that matches exactly is echoed back, with credentials allowed;
 *   any other origin gets no Access-Control-* header at all (only Vary: Origin, so caches keep
 *   the two answers apart).
 * - `*`: any origin, never with credentials (browsers refuse the pair, and it would let every
 *   site send a user's cookies).
 * Preflights allow what a GraphQL client sends (Authorization, Content-Type, Idempotency-Key)
 * and are cached for ten minutes; the request id and the rate-limit headers are readable.
 */
import cors from '@fastify/cors'
import fp from 'fastify-plugin'

const ALLOWED_HEADERS = ['authorization', 'content-type', 'idempotency-key']
const EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']
const PREFLIGHT_MAX_AGE_S = 600

export const corsPlugin = fp<{ origins: string[] }>(async (app, { origins }) => {
  if (origins.length === 0) return
  const anyOrigin = origins.includes('*')
  const allowed = new Set(origins)
  await app.register(cors, {
    // A function, not the list: @fastify/cors still sends credentials and preflight headers to
    // an unlisted origin when given a list; `false` here turns CORS off for that request.
    origin: anyOrigin ? '*' : (origin, done) => { done(null, origin !== undefined && allowed.has(origin) ? origin : false) },
    credentials: !anyOrigin,
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_S
  })
}, { name: 'switchboard-cors', fastify: '5.x' })
