/**
 * The one place that decides whether a database error means "PostgreSQL cannot be reached right
 * now" (stopped, restarting, a dropped connection, no connection slot) rather than "this query is
 * wrong". Both API edges turn such an error into 503 SERVICE_UNAVAILABLE with Retry-After
 * (`asServiceUnavailable`); the client in client.ts retries once the ones that a retry can cure.
 * Drizzle wraps driver errors (DrizzleQueryError), so the `cause` chain is followed.
 */
import { AppError } from '../errors.ts'

/** Seconds a client should wait before retrying: about the time the outage probe takes to see recovery. */
export const DATABASE_RETRY_AFTER_SECONDS = 1

/** Raised without asking the driver while the database is known to be down, or when a health query times out. */
export class DatabaseUnavailableError extends Error {
  readonly code = 'DATABASE_UNAVAILABLE'
  constructor (message = 'the database is unavailable', opts?: { cause?: unknown }) {
    super(message, opts)
    this.name = 'DatabaseUnavailableError'
  }
}

/** Connecting failed: the server is not there (or not answering); no statement was sent. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'])
/** The session ended under a statement: it may or may not have run (postgres.js codes and socket errors). */
const SESSION_LOST = new Set(['CONNECTION_CLOSED', 'ECONNRESET', 'EPIPE'])
const PGLITE_CLOSED = /^PGlite is clos(ed|ing)$/
/** The pool is being closed (shutdown): unavailable, not an internal error. */
const POOL_CLOSED = new Set(['CONNECTION_ENDED', 'CONNECTION_DESTROYED'])
/**
 * SQLSTATEs the server sends when it will not serve this session: 57P01 admin_shutdown,
 * 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or shutting down), 53300
 * too_many_connections; and class 08, connection exceptions.
 */
const SERVER_REFUSED = new Set(['57P01', '57P02', '57P03', '53300'])

/** The codes along an error's cause chain (driver codes, SQLSTATEs), outermost first. */
export function errorCodes (err: unknown): string[] {
  const out: string[] = []
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DatabaseUnavailableError) out.push(e.code)
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') out.push(code)
    // PGlite gives no code: a closed or closing embedded database (shutdown) says so in its message.
    else if (PGLITE_CLOSED.test(e.message)) out.push('CONNECTION_ENDED')
  }
  return out
}

const isServerRefusal = (code: string): boolean => SERVER_REFUSED.has(code) || /^08[0-9A-Z]{3}$/.test(code)

/** True when `err` (or its cause) says the database cannot be reached, as opposed to a failed query. */
export function isDatabaseUnavailable (err: unknown): boolean {
  return errorCodes(err).some((c) => c === 'DATABASE_UNAVAILABLE' || CONNECT_FAILURES.has(c) || SESSION_LOST.has(c) || POOL_CLOSED.has(c) || isServerRefusal(c))
}

/**
 * Whether running the statement once more is both safe and useful. A server refusal (57P0x, 08xxx)
 * reaches a postgres.js query only before it was sent: during the connection's start-up, or as
 * the stale error of a socket killed under an earlier query, which postgres.js replays to the
 * first query on the reconnected socket (up to seconds after recovery). A lost session under a
 * read is safe to retry; under a write it is not (it may have committed). A failed connect is not
 * retried: the server is not there, and a retry only doubles the wait before the 503.
 */
export function worthOneRetry (err: unknown, readOnly: boolean): boolean {
  const c = errorCodes(err)
  if (c.includes('DATABASE_UNAVAILABLE') || c.some((x) => CONNECT_FAILURES.has(x) || POOL_CLOSED.has(x))) return false
  return c.some(isServerRefusal) || (readOnly && c.some((x) => SESSION_LOST.has(x)))
}

/** The 503 a client sees for a database outage, or undefined when `err` is something else. */
export function asServiceUnavailable (err: unknown): AppError | undefined {
  if (err instanceof AppError || !isDatabaseUnavailable(err)) return undefined
  return new AppError('SERVICE_UNAVAILABLE', undefined, {
    details: { retryable: true, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
    headers: { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) },
    cause: err
  })
}
