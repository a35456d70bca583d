/**
 * The closed set of error codes. Every failure a client can see carries one of these in
 * `extensions.code` (GraphQL) or `code` (REST), and is translated to HTTP here and only here.
 */
export const ERROR_CODES = {
  UNAUTHENTICATED: { status: 401, retryable: false, userMessage: 'Authentication required.' },
  FORBIDDEN: { status: 403, retryable: false, userMessage: 'You do not have permission to do this.' },
  BAD_USER_INPUT: { status: 400, retryable: false, userMessage: 'The request is not valid.' },
  NOT_FOUND: { status: 404, retryable: false, userMessage: 'Not found.' },
  // Idempotency-Key (plugins/idempotency.ts): both conflicts are 409; the code says which. The
  // first request with the key is still running (retry shortly), or the key was used for another request.
  IDEMPOTENCY_KEY_IN_USE: { status: 409, retryable: true, userMessage: 'A request with this Idempotency-Key is still running; retry shortly.' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, retryable: false, userMessage: 'This Idempotency-Key was used for a different request.' },
  RATE_LIMITED: { status: 429, retryable: true, userMessage: 'Too many requests; retry later.' },
  SERVICE_UNAVAILABLE: { status: 503, retryable: true, userMessage: 'The service is temporarily unavailable (shutting down, not ready, or its database cannot be reached); retry later.' },
  INTERNAL_SERVER_ERROR: { status: 500, retryable: true, userMessage: 'Something went wrong on our side.' },
  // Integration error types (seed 000), used by connectors and the OAuth flow.
  CONNECTION_FAILED: { status: 502, retryable: true, userMessage: 'Could not connect to the provider.' },
  OAUTH_ERROR: { status: 400, retryable: false, userMessage: 'The provider refused the authorization; please reconnect.' },
  TOKEN_EXPIRED: { status: 401, retryable: true, userMessage: 'The provider token expired; it is being refreshed.' },
  API_ERROR: { status: 502, retryable: false, userMessage: 'The provider returned an error.' },
  SYNC_FAILED: { status: 500, retryable: true, userMessage: 'The sync did not complete.' },
  INVALID_CREDENTIALS: { status: 401, retryable: false, userMessage: 'The provider no longer accepts these credentials; please reconnect.' },
  RATE_LIMIT_EXCEEDED: { status: 429, retryable: true, userMessage: 'The provider is rate limiting us; retry later.' },
  NETWORK_ERROR: { status: 504, retryable: true, userMessage: 'The provider could not be reached.' },
  UPSTREAM_UNAVAILABLE: { status: 503, retryable: true, userMessage: 'The provider is failing; calls are paused briefly.' }
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/**
 * An expected failure crossing the edge. `message` is safe to show to the caller;
 * `details` lands in `extensions` (never put secrets there).
 */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined

  constructor (code: ErrorCode, message?: string, opts: { details?: Record<string, unknown>, headers?: Record<string, string>, cause?: unknown } = {}) {
    super(message ?? ERROR_CODES[code].userMessage, { cause: opts.cause })
    this.name = 'AppError'
    this.code = code
    this.statusCode = ERROR_CODES[code].status
    this.details = opts.details
    this.headers = opts.headers
  }
}

export const badInput = (message: string, details?: Record<string, unknown>): AppError =>
  new AppError('BAD_USER_INPUT', message, details === undefined ? {} : { details })

export const notFound = (what: string): AppError => new AppError('NOT_FOUND', `${what} not found`)

const SEVERITY: ErrorCode[] = ['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE', 'UNAUTHENTICATED', 'RATE_LIMITED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND']

/** Index of the error that decides a response's HTTP status: the most severe client-visible code wins. */
export function mostSevere (codes: readonly ErrorCode[]): number {
  let best = 0
  let bestRank = Infinity
  codes.forEach((code, i) => {
    const rank = SEVERITY.indexOf(code)
    const r = rank === -1 ? SEVERITY.length : rank
    if (r < bestRank) { best = i; bestRank = r }
  })
  return best
}
