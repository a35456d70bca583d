/**
 * The request log: one row per inbound call (every GraphQL operation and REST route, written
 * from an onResponse hook, after the reply has gone out) and per outbound provider call
 * (`app.requestLog.recordOutbound`, for the connector HTTP client). Rows go through the batched
 * writer (domain/request-logs/request-log-writer.ts); metrics are counted whether or not rows
 * are written (REQUEST_LOG_ENABLED). Also wires the read services the GraphQL resolvers use and
 * the daily retention job.
 *
 * Never stored: headers (so no Authorization, keys or cookies), query strings, GraphQL variables.
 */
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import type { Clock } from '../domain/clock.ts'
import { OperationDescriber, type DocumentSource, type OperationInfo } from '../domain/request-logs/graphql-operation.ts'
import type { LogEntry } from '../domain/request-logs/log-entry.ts'
import { logIdAt } from '../domain/request-logs/log-ids.ts'
import { pgliteCopySink, postgresCopySink, type LogSink } from '../domain/request-logs/log-sinks.ts'
import { RequestLogWriter } from '../domain/request-logs/request-log-writer.ts'
import { pathOf, scrubPath, scrubSecrets } from '../domain/request-logs/scrub.ts'
import { AppError, isErrorCode, type ErrorCode } from '../errors.ts'
import { pathOnly } from '../logger.ts'

/** One call a connector made to a provider. `url` may be absolute; only its path is kept. */
export interface OutboundCall {
  teamId: string
  integrationId?: string | null
  provider: string
  /** The connector operation, e.g. `listRepositories`, when there is one. */
  operation?: string | null
  method: string
  url: string
  /** Null when no response came back (network error, timeout). */
  status: number | null
  durationMs: number
  success: boolean
  /** One of the integration error types of errors.ts (NETWORK_ERROR, API_ERROR, …). */
  errorType?: string | null
  /** Scrubbed here before it is stored; still, pass a message, not a response body. */
  errorMessage?: string | null
  /** 1 for the first try. */
  attempt?: number
  /** The inbound request that caused the call (or the job id for background work). */
  requestId: string
  startedAt?: Date
}

export interface RequestLog {
  /** Buffer one outbound call's row (returns at once) and count it in the outbound metrics. */
  recordOutbound(call: OutboundCall): void
  /** Write everything buffered now (tests, shutdown). */
  flush(): Promise<void>
  /** Rows waiting to be written. */
  readonly depth: number
}

declare module 'fastify' {
  interface FastifyInstance { requestLog: RequestLog }
  interface FastifyRequest {
    /** Error codes of this request's response, set by the GraphQL error formatter or onError. */
    errorCodes: ErrorCode[] | undefined
  }
}

/** Probes and the scrape endpoint: high-frequency, no caller, nothing to audit. */
const UNLOGGED_ROUTES = new Set(['/healthz', '/readyz', '/metrics'])
const GRAPHQL_ROUTE = '/graphql'
const MAX_USER_AGENT = 256
export const RETENTION_JOB = 'request-logs.retention'

const STATUS_CODES: Record<number, ErrorCode> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE' }
const codeOfStatus = (status: number): ErrorCode => STATUS_CODES[status] ?? (status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT')

export const requestLogPlugin = fp<{ config: Config, clock: Clock, queryDocuments: DocumentSource }>(async (app, { config, clock, queryDocuments }) => {
  const { database, metrics } = app
  const describer = new OperationDescriber({ documents: queryDocuments })

  const { requestLogs } = app.services

  let writer: RequestLogWriter | undefined
  if (config.requestLog.enabled) {
    const sink: LogSink = database.kind === 'postgres'
      ? await postgresCopySink(database.ownClient!)
      : pgliteCopySink(database.pglite!, config.requestLog.batchSize)
    writer = new RequestLogWriter({
      sink,
      log: app.log,
      flushMs: config.requestLog.flushMs,
      batchSize: config.requestLog.batchSize,
      maxBuffer: config.requestLog.maxBuffer,
      onFlushed: (rows) => metrics.logRowsFlushed.inc(rows),
      onDropped: (rows, reason) => metrics.logRowsDropped.inc({ reason }, rows)
    })
    metrics.setLogQueueDepthSource(() => writer!.depth)
  }

  app.decorate('requestLog', {
    recordOutbound (call: OutboundCall) {
      metrics.outboundRequests.inc({ provider: call.provider, outcome: call.success ? 'success' : (call.errorType ?? 'error') })
      metrics.outboundDuration.observe({ provider: call.provider }, call.durationMs / 1000)
      writer?.push(outboundEntry(call))
    },
    flush: async () => { await writer?.flush() },
    get depth () { return writer?.depth ?? 0 }
  } satisfies RequestLog)

  app.decorateRequest('errorCodes', undefined)
  app.addHook('onError', async (req, reply, error) => {
    req.errorCodes ??= [errorCodeOf(error, reply.statusCode)]
  })

  const recordInbound = (req: FastifyRequest, reply: FastifyReply): void => {
    const route = req.routeOptions.url
    if (route !== undefined && UNLOGGED_ROUTES.has(route)) return
    const call = describeInbound(req, route, describer)
    metrics.observeRequest(call.endpoint, reply.statusCode, reply.elapsedTime / 1000)
    // The row itself is built only when it will be written.
    if (writer !== undefined) writer.push(inboundEntry(req, reply, call))
  }
  // Callback style: an async hook costs a promise and a microtask turn on every request.
  app.addHook('onResponse', (req, reply, done) => {
    try {
      recordInbound(req, reply)
    } catch (err) {
      done(err as Error)
      return
    }
    done()
  })

  await app.jobs.schedule(RETENTION_JOB, '17 3 * * *', async () => {
    const before = new Date(clock.now().getTime() - config.requestLog.retentionDays * 86_400_000)
    const deleted = await requestLogs.purgeOlderThan(before)
    app.log.info({ deleted, before }, 'request-log retention')
  })

  app.addHook('onClose', async () => {
    // Requests have finished by now (onClose runs after the server stopped accepting and drained).
    await writer?.close(Math.max(1000, config.shutdownGraceMs - 1000))
  })
}, { name: 'switchboard-request-log', fastify: '5.x', dependencies: ['switchboard-db', 'switchboard-services', 'switchboard-metrics', 'switchboard-jobs'] })

function errorCodeOf (error: FastifyError | Error, status: number): ErrorCode {
  if (error instanceof AppError) return error.code
  const code = (error as FastifyError).code
  if (isErrorCode(code)) return code
  return codeOfStatus((error as FastifyError).statusCode ?? (status >= 400 ? status : 500))
}

/** What was called: enough for metrics labels; cheap (the operation parse is memoised). */
interface InboundCall { operationType: string, operation: string | null, rootFields: string[], endpoint: string, cost: number | null }

function describeInbound (req: FastifyRequest, route: string | undefined, describer: OperationDescriber): InboundCall {
  if (route !== GRAPHQL_ROUTE) {
    return { operationType: 'rest', operation: route ?? null, rootFields: [], endpoint: `${req.method} ${route ?? '(no route)'}`, cost: null }
  }
  const source = (req.method === 'GET' ? req.query : req.body) as { query?: unknown, operationName?: unknown } | undefined
  // Only authenticated callers' documents are parsed: an anonymous caller gets no parse work.
  const op: OperationInfo = req.principal !== undefined
    ? describer.describe(source?.query, source?.operationName)
    : describer.describe(undefined, source?.operationName)
  return { operationType: op.type ?? 'graphql', operation: op.operation, rootFields: op.rootFields, endpoint: op.endpoint, cost: req.operationShape?.cost ?? null }
}

function inboundEntry (req: FastifyRequest, reply: FastifyReply, call: InboundCall): LogEntry {
  const durationMs = reply.elapsedTime
  const createdAt = new Date(Date.now() - durationMs)
  const status = reply.statusCode
  const p = req.principal
  const errorCodes = req.errorCodes ?? (status >= 400 ? [codeOfStatus(status)] : [])
  const { operationType, operation, rootFields, endpoint, cost } = call
  const userAgent = req.headers['user-agent']
  return {
    id: logIdAt(createdAt),
    createdAt,
    direction: 'inbound',
    teamId: p?.teamId ?? null,
    requestId: req.id,
    principalKind: p?.kind ?? null,
    apiKeyId: p?.apiKeyId ?? null,
    userId: p?.userId ?? null,
    operationType,
    operation,
    rootFields,
    endpoint,
    method: req.method,
    path: pathOnly(req.url),
    status,
    success: status < 400 && errorCodes.length === 0,
    errorCodes,
    errorMessage: null,
    durationMs,
    cost,
    integrationId: null,
    provider: null,
    attempt: null,
    clientIp: req.ip ?? null,
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, MAX_USER_AGENT) : null
  }
}

export function outboundEntry (call: OutboundCall): LogEntry {
  const createdAt = call.startedAt ?? new Date(Date.now() - call.durationMs)
  const method = call.method.toUpperCase()
  const path = scrubPath(pathOf(call.url))
  return {
    id: logIdAt(createdAt),
    createdAt,
    direction: 'outbound',
    teamId: call.teamId,
    requestId: call.requestId,
    principalKind: null,
    apiKeyId: null,
    userId: null,
    operationType: null,
    operation: call.operation ?? null,
    rootFields: [],
    endpoint: `${call.provider} ${method} ${path}`,
    method,
    path,
    status: call.status,
    success: call.success,
    errorCodes: call.errorType != null ? [call.errorType] : [],
    errorMessage: call.errorMessage != null ? scrubSecrets(call.errorMessage) : null,
    durationMs: call.durationMs,
    cost: null,
    integrationId: call.integrationId ?? null,
    provider: call.provider,
    attempt: call.attempt ?? 1,
    clientIp: null,
    userAgent: null
  }
}
