/**
 * pino options shared by the server and the CLI. Credential-named fields are redacted, and
 * request URLs are logged without their query string (which could carry a code, a state or a
 * key someone put there by mistake).
 */
import type { FastifyRequest } from 'fastify'
import { stdSerializers, type LoggerOptions } from 'pino'
import type { Config } from './config.ts'

const SECRET_KEYS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie', 'set-cookie',
  'token', 'accesstoken', 'access_token', 'refreshtoken', 'refresh_token', 'id_token', 'secret',
  'clientsecret', 'client_secret', 'password', 'apikey', 'api_key', 'code_verifier'])
const MAX_DEPTH = 4

/**
 * Replaces credential-named fields in plain objects and arrays (to a few levels) with
 * "[Redacted]". Done when a line is written — not with pino's wildcard `redact` paths, whose cost
 * is paid again for every request's child logger whether or not anything is logged.
 * Class instances (requests, errors) are left to their serializers.
 */
export function scrubForLog (value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) return value.map((v) => scrubForLog(v, depth + 1))
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let out: Record<string, unknown> | undefined
  for (const [k, v] of Object.entries(value)) {
    const next = SECRET_KEYS.has(k.toLowerCase()) ? '[Redacted]' : scrubForLog(v, depth + 1)
    if (next !== v) {
      out ??= { ...(value as Record<string, unknown>) }
      out[k] = next
    }
  }
  return out ?? value
}

/**
 * Fields of database errors that carry the values a statement was run with: postgres.js
 * (`parameters`, `args`, `types`), Drizzle's DrizzleQueryError (`params`), and the server's own
 * `detail` and `where`, which can quote a row's values ("Key (name)=(…) already exists").
 */
const QUERY_VALUE_FIELDS = ['params', 'parameters', 'args', 'types', 'detail', 'where']
/** Shorter parameter values are left alone: redacting "1" or "t" everywhere would blank the line. */
const MIN_REDACTED_VALUE_LENGTH = 6

/**
 * pino's error serializer, minus the values a failed SQL statement was run with (config values,
 * ciphertexts, whatever the caller sent). The statement itself stays, to debug with. Drizzle puts
 * its parameters in the error's message ("Failed query: …\nparams: …"), and so in the stack and in
 * the message of any error that wraps it; each such parameter line, and any longer parameter value
 * a cause's message quotes, is replaced wherever it appears.
 */
export function serializeError (err: unknown): unknown {
  const out = stdSerializers.err(err as Error) as unknown
  if (out === null || typeof out !== 'object') return out
  const needles: string[] = []
  for (let e: unknown = err, hops = 0; e !== null && typeof e === 'object' && hops < 10; e = (e as { cause?: unknown }).cause, hops++) {
    const params = (e as { params?: unknown }).params ?? (e as { parameters?: unknown }).parameters
    if (!Array.isArray(params)) continue
    needles.push(`\nparams: ${String(params)}`)
    for (const p of params) {
      const text = typeof p === 'string' ? p : p instanceof Uint8Array ? undefined : JSON.stringify(p)
      if (text !== undefined && text.length >= MIN_REDACTED_VALUE_LENGTH) needles.push(text)
    }
  }
  // Longest first, so a whole "params:" line goes before the values inside it.
  needles.sort((a, b) => b.length - a.length)
  return withoutQueryValues(out as Record<string, unknown>, needles, 0, true)
}

/** `err` without the value-carrying fields and needles; the serializer's own object is edited in place, nested errors copied. */
function withoutQueryValues (err: Record<string, unknown>, needles: readonly string[], depth: number, own: boolean): Record<string, unknown> {
  const out = own ? err : { ...err }
  for (const field of QUERY_VALUE_FIELDS) delete out[field]
  for (const [key, v] of Object.entries(out)) {
    if (typeof v === 'string') {
      out[key] = needles.reduce((text, needle) => text.split(needle).join(needle.startsWith('\nparams: ') ? '\nparams: [Redacted]' : '[Redacted]'), v)
    } else if (v !== null && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string' && depth < 3) {
      // A nested error (AggregateError members, an error held in a field) is serialized too.
      out[key] = withoutQueryValues(v as Record<string, unknown>, needles, depth + 1, false)
    }
  }
  return out
}

export const pathOnly = (url: string): string => {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export function loggerOptions (config: Pick<Config, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    formatters: { log: (obj) => scrubForLog(obj) as Record<string, unknown> },
    hooks: {
      // An error logged on its own (`log.error(err)`) gets its own message as the line's `msg`,
      // which the serializer never sees: the scrubbed message is passed instead.
      logMethod (args, method) {
        if (args.length === 1 && args[0] instanceof Error) {
          const { message } = serializeError(args[0]) as { message: string }
          method.apply(this, [args[0], message]); return
        }
        method.apply(this, args)
      }
    },
    serializers: {
      err: serializeError,
      req (req: FastifyRequest) {
        // Anything that is not a request (an object logged by hand) passes through to redaction.
        if (typeof req.url !== 'string') return req
        return { method: req.method, url: pathOnly(req.url), remoteAddress: req.ip }
      }
    }
  }
}

type BaseLogger = import('fastify').FastifyBaseLogger
type LogFn = BaseLogger['info']
type ChildFn = (this: BaseLogger, bindings: Record<string, unknown>, options?: Record<string, unknown>) => BaseLogger

/**
 * A logger that becomes a real pino child (with its bindings, such as the request id) only when
 * something is logged through it. Fastify makes a child logger for every request, about 1 µs of
 * pino work; most requests log nothing (Fastify's own per-request lines are off unless
 * LOG_REQUESTS=true), so most never pay it. What is written is the same as from the child.
 */
export class LazyChildLogger implements BaseLogger {
  readonly #parent: BaseLogger
  readonly #bindings: Record<string, unknown>
  readonly #options: Record<string, unknown> | undefined
  readonly #makeChild: ChildFn
  #child: BaseLogger | undefined

  constructor (parent: BaseLogger, bindings: Record<string, unknown>, options: Record<string, unknown> | undefined, makeChild: ChildFn) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    this.#makeChild = makeChild
  }

  get #log (): BaseLogger {
    return (this.#child ??= this.#makeChild.call(this.#parent, this.#bindings, this.#options))
  }

  get level (): string { return this.#child?.level ?? (this.#options?.level as string | undefined) ?? this.#parent.level }
  set level (level: string) { this.#log.level = level }

  fatal (...args: Parameters<LogFn>): void { this.#log.fatal(...args) }
  error (...args: Parameters<LogFn>): void { this.#log.error(...args) }
  warn (...args: Parameters<LogFn>): void { this.#log.warn(...args) }
  info (...args: Parameters<LogFn>): void { this.#log.info(...args) }
  debug (...args: Parameters<LogFn>): void { this.#log.debug(...args) }
  trace (...args: Parameters<LogFn>): void { this.#log.trace(...args) }
  silent (): void {}
  child (bindings: Record<string, unknown>, options?: Record<string, unknown>): BaseLogger { return this.#log.child(bindings, options) }
}

/**
 * Makes `logger.child()` (and so every request's logger, which Fastify makes with it) return a
 * LazyChildLogger. Done on the app's root logger instead of through Fastify's
 * `childLoggerFactory` option, because Fastify re-validates a custom factory's logger on every
 * request (seven keyed method lookups, which cost about as much again as the laziness saves).
 * Real children inherit the lazy `child` from their parent.
 */
export function makeChildLoggersLazy (logger: BaseLogger): void {
  const makeChild = logger.child as ChildFn
  logger.child = function lazyChild (this: BaseLogger, bindings: Record<string, unknown>, options?: Record<string, unknown>) {
    return new LazyChildLogger(this, bindings, options, makeChild)
  } as BaseLogger['child']
}
