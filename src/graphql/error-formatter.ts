/**
 * Every GraphQL response's errors pass through here: each gets `extensions.code` from the
 * closed set in errors.ts and `extensions.requestId`; unexpected errors are logged and masked
 * (no stack, no SQL); validation messages lose graphql-js's "Did you mean …" suggestions.
 * The HTTP status follows the codes when no root field produced data.
 */
import { GraphQLError, type ExecutionResult } from 'graphql'
import { asServiceUnavailable } from '../db/errors.ts'
import { AppError, ERROR_CODES, mostSevere, type ErrorCode } from '../errors.ts'

interface FormatterContext {
  reply?: { request: { id: string, log: { error(o: object, m?: string): void }, errorCodes?: ErrorCode[] | undefined }, header(k: string, v: string): unknown }
}

interface FormattedError {
  message: string
  locations?: readonly { line: number, column: number }[] | undefined
  path?: readonly (string | number)[] | undefined
  extensions: { code: ErrorCode, requestId: string | undefined, [k: string]: unknown }
}

/** Fastify/Mercurius errors that are the client's fault, by their code. */
const CLIENT_ERROR_STATUS: Record<string, number> = {
  MER_ERR_GQL_VALIDATION: 400,
  MER_ERR_METHOD_NOT_ALLOWED: 405,
  MER_ERR_INVALID_METHOD: 405,
  MER_ERR_GQL_PERSISTED_QUERY_NOT_FOUND: 400,
  MER_ERR_GQL_QUERY_DEPTH: 400
}

/** Seed 000's integration error types: their extensions also carry `userMessage`, `retryable` and `platform`. */
const INTEGRATION_CODES = new Set<ErrorCode>(['CONNECTION_FAILED', 'OAUTH_ERROR', 'TOKEN_EXPIRED', 'API_ERROR', 'SYNC_FAILED', 'INVALID_CREDENTIALS', 'RATE_LIMIT_EXCEEDED', 'NETWORK_ERROR', 'UPSTREAM_UNAVAILABLE'])
const integrationDetails = (e: AppError): Record<string, unknown> =>
  ({ userMessage: ERROR_CODES[e.code].userMessage, retryable: ERROR_CODES[e.code].retryable, platform: null, ...e.details })

const stripSuggestions = (message: string): string => message.replace(/\s*Did you mean .*\?$/s, '')

function classify (error: GraphQLError): Array<{ message: string, code: ErrorCode, status: number, details?: Record<string, unknown> | undefined, unexpected?: Error }> {
  // A database outage is not an internal error: 503 SERVICE_UNAVAILABLE with Retry-After.
  const original = (asServiceUnavailable(error.originalError) ?? error.originalError) as (Error & { code?: string, statusCode?: number, errors?: Error[] }) | undefined
  if (original instanceof AppError) {
    return [{ message: original.message, code: original.code, status: original.statusCode, details: INTEGRATION_CODES.has(original.code) ? integrationDetails(original) : original.details }]
  }
  if (original !== undefined && Array.isArray(original.errors)) {
    const status = CLIENT_ERROR_STATUS[original.code ?? ''] ?? 400
    return original.errors.map((e) => ({ message: stripSuggestions(e.message), code: 'BAD_USER_INPUT' as const, status }))
  }
  if (original === undefined || original === error) {
    // A GraphQLError raised by graphql-js itself: parse, validation or variable coercion.
    return [{ message: stripSuggestions(error.message), code: 'BAD_USER_INPUT', status: 400 }]
  }
  const status = original.statusCode ?? CLIENT_ERROR_STATUS[original.code ?? '']
  if (status !== undefined && status >= 400 && status < 500) {
    return [{ message: stripSuggestions(original.message), code: status === 429 ? 'RATE_LIMITED' : 'BAD_USER_INPUT', status }]
  }
  return [{ message: ERROR_CODES.INTERNAL_SERVER_ERROR.userMessage, code: 'INTERNAL_SERVER_ERROR', status: 500, unexpected: original }]
}

export function formatErrors (execution: ExecutionResult & { statusCode?: number }, context: FormatterContext): { statusCode: number, response: ExecutionResult } {
  const reply = context.reply
  const requestId = reply?.request.id
  const statuses: number[] = []
  const codes: ErrorCode[] = []
  const errors: FormattedError[] = []
  for (const error of execution.errors ?? []) {
    const gqlError = error instanceof GraphQLError ? error : new GraphQLError((error as Error).message, { originalError: error as Error })
    for (const c of classify(gqlError)) {
      if (c.unexpected !== undefined) reply?.request.log.error({ err: c.unexpected, path: gqlError.path }, 'unexpected error in GraphQL request')
      const retryAfter = c.details?.retryAfterSeconds
      if (typeof retryAfter === 'number') reply?.header('retry-after', String(retryAfter))
      statuses.push(c.status)
      codes.push(c.code)
      errors.push({
        message: c.message,
        ...(gqlError.locations !== undefined && { locations: gqlError.locations }),
        ...(gqlError.path !== undefined && { path: gqlError.path }),
        extensions: { ...c.details, code: c.code, requestId }
      })
    }
  }
  // For the request log (plugins/request-log.ts): the codes this response carries.
  if (reply !== undefined) reply.request.errorCodes = codes
  const data = execution.data
  const noData = data == null || Object.values(data).every((v) => v === null)
  // With data, GraphQL-over-HTTP says 200; without, the most severe error's own status.
  const statusCode = noData && errors.length > 0 ? statuses[mostSevere(codes)]! : 200
  return { statusCode, response: { data: data ?? null, errors: errors as unknown as GraphQLError[] } }
}
