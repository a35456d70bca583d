/**
 * buildApp(config): the one composition root. The server process and every test build the
 * same app; only the shell around it differs.
 */
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify'
import type { Config } from './config.ts'
import type { Database } from './db/client.ts'
import { systemClock, type Clock } from './domain/clock.ts'
import { AppError, ERROR_CODES, isErrorCode } from './errors.ts'
import { asServiceUnavailable } from './db/errors.ts'
import { loggerOptions, makeChildLoggersLazy } from './logger.ts'
import { uuidV7 } from './domain/request-logs/log-ids.ts'
import { dbPlugin } from './plugins/db.ts'
import { corsPlugin } from './plugins/cors.ts'
import { QueryDocuments } from './graphql/query-documents.ts'
import { graphqlPlugin } from './plugins/graphql.ts'
import { idempotencyPlugin } from './plugins/idempotency.ts'
import { jobsPlugin } from './plugins/jobs.ts'
import { operationsPlugin } from './plugins/operations.ts'
import { metricsPlugin } from './plugins/metrics.ts'
import { requestLogPlugin } from './plugins/request-log.ts'
import { servicesPlugin } from './plugins/services.ts'
import { healthRoutes } from './routes/health.ts'
import { oauthCallbackRoutes } from './routes/oauth-callback.ts'
import { oauthStartRoutes } from './routes/oauth-start.ts'
import { metricsRoutes } from './routes/metrics.ts'

export interface BuildOptions {
  /** An already-open database (tests share one per file); otherwise opened from config. */
  database?: Database
  clock?: Clock
  /** Override the pino logger (tests capture log lines with a stream). */
  loggerInstance?: import('fastify').FastifyBaseLogger
}

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.loggerInstance !== undefined ? { loggerInstance: opts.loggerInstance } : { logger: loggerOptions(config) }),
    // Request ids are ours: a client-sent x-request-id is not trusted (it could forge log links).
    genReqId: () => uuidV7(),
    requestIdHeader: false,
    // Two JSON lines per request on stdout would repeat what request_logs already holds, at a
    // cost on every call; LOG_REQUESTS=true brings them back.
    logController: new LogController({ disableRequestLogging: !config.logRequests }),
    trustProxy: config.trustProxy,
    bodyLimit: 1024 * 1024,
    requestTimeout: config.requestTimeoutMs,
    // Node checks request deadlines every 30 s by default, so a client dribbling a request in
    // (slowloris) held its socket up to 30 s past REQUEST_TIMEOUT_MS; check every second.
    http: { connectionsCheckingInterval: 1000 },
    keepAliveTimeout: 72_000,
    // Our own 503 while closing (below): Fastify's is a bare body with no request id or log row.
    return503OnClosing: false
  }) as unknown as FastifyInstance
  // A request's pino child is made only if something is logged through it (most requests log nothing).
  makeChildLoggersLazy(app.log)

  // Callback style: an async hook costs a promise and a microtask turn on every request.
  app.addHook('onRequest', (req, reply, done) => { reply.header('x-request-id', req.id); done() })
  // Each connection's peer address is read once, as it is accepted. Node caches it on the socket
  // (`_peername`) at the first read of `remoteAddress`; when that first read came mid-life (an
  // API-key cache miss reading `req.ip` for the failure limiter, every few seconds), the socket
  // changed shape and V8 discarded its optimised code across the HTTP and stream internals, then
  // spent CPU recompiling it. Read here, every socket has one shape for its whole life.
  app.server.on('connection', (socket: Socket) => { void socket.remoteAddress })

  // CORS before anything that answers early (the 503 while closing, auth), so a browser can read those answers too.
  await app.register(corsPlugin, { origins: config.corsOrigins })

  // Graceful shutdown: server.close() only reaps connections idle at that moment, so a
  // keep-alive connection whose request is in flight would hold the process open until its
  // keep-alive timeout. While closing, connections are reaped as soon as they go idle; a
  // request already queued on one is still answered: 503 SERVICE_UNAVAILABLE in the one error
  // shape, with its request id, Retry-After and a request-log row (onResponse runs as for any
  // answer), before any hook that would do work for it (Fastify adds Connection: close).
  let reaper: NodeJS.Timeout | undefined
  let closing = false
  app.addHook('onRequest', (req, reply, done) => {
    if (!closing) { done(); return }
    reply.code(503).header('retry-after', '1').send({ error: { code: 'SERVICE_UNAVAILABLE', message: 'The server is shutting down; retry the request.', requestId: req.id } })
  })
  app.addHook('preClose', async () => {
    closing = true
    reaper = setInterval(() => { app.server.closeIdleConnections() }, 100)
    reaper.unref()
  })
  app.addHook('onClose', async () => { clearInterval(reaper) })

  // REST routes outside /graphql answer errors in one shape with a code from errors.ts.
  app.setErrorHandler(async (thrown: FastifyError | AppError, req, reply) => {
    // A database outage answers 503 SERVICE_UNAVAILABLE with Retry-After (db/errors.ts), not 500.
    const outage = asServiceUnavailable(thrown)
    const error = outage ?? thrown
    if (outage !== undefined) { reply.headers(outage.headers ?? {}); req.errorCodes = [outage.code] }
    const code = error instanceof AppError ? error.code : isErrorCode((error as FastifyError).code) ? (error as FastifyError).code as keyof typeof ERROR_CODES : undefined
    const status = error instanceof AppError ? error.statusCode : (error.statusCode ?? 500)
    if (status >= 500) req.log[outage === undefined ? 'error' : 'warn']({ err: thrown }, outage === undefined ? 'unexpected error' : 'database unavailable')
    return reply.code(status).send({
      error: {
        code: code ?? (status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT'),
        message: status >= 500 ? ERROR_CODES[outage?.code ?? 'INTERNAL_SERVER_ERROR'].userMessage : error.message,
        requestId: req.id
      }
    })
  })
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `Route ${req.method} ${req.url.split('?')[0]} not found`, requestId: req.id } }))

  await app.register(dbPlugin, { config, database: opts.database })
  await app.register(servicesPlugin, { config, clock: opts.clock ?? systemClock })
  await app.register(metricsPlugin)
  await app.register(jobsPlugin, { config })
  await app.register(operationsPlugin)
  // Before any route: its onResponse hook logs every call
  // One parse per distinct query text, shared by the limits hook and the request log.
  const queryDocuments = new QueryDocuments({ maxTokens: config.graphql.maxTokens })
  await app.register(requestLogPlugin, { config, clock: opts.clock ?? systemClock, queryDocuments })
  await app.register(healthRoutes)
  await app.register(metricsRoutes, { token: config.metrics.token })
  await app.register(oauthStartRoutes)
  await app.register(oauthCallbackRoutes)
  // Its hooks run before /graphql's own (team limits, Mercurius): a replayed mutation runs nothing.
  await app.register(idempotencyPlugin, { config, clock: opts.clock ?? systemClock, queryDocuments })
  await app.register(graphqlPlugin, { config, queryDocuments })
  return app
}
