/**
 * The GraphQL-over-HTTP request envelope — `query`, `operationName`, `variables`, `extensions` —
 * checked as it arrived, in a preValidation hook on /graphql: before Fastify's schema validation,
 * which coerces types (`{"query": 12}` became "12", which Mercurius then read as a JSON syntax
 * tree and crashed on: a 500), and before anything parses or executes.
 *
 * Each member may be absent or null (null means absent, GraphQL over HTTP); otherwise `query` and
 * `operationName` are strings, `variables` and `extensions` are JSON objects (over GET: the JSON
 * text of one). Anything else is BAD_USER_INPUT, answered like every other 400 from /graphql.
 * A null `extensions` is removed here, as Mercurius's body schema admits only an object.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { badInput } from '../../errors.ts'
import { hasNul, NUL_MESSAGE } from './nul-bytes.ts'

type Envelope = Record<string, unknown>

const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Absent, null, or an object (over GET: the JSON text of an object or of null). */
function objectProblem (name: string, value: unknown, overGet: boolean): string | undefined {
  if (value == null) return undefined
  if (!overGet) return isObject(value) ? undefined : `\`${name}\` must be an object`
  if (typeof value === 'string') {
    try {
      const parsed: unknown = JSON.parse(value)
      if (parsed === null || isObject(parsed)) return undefined
    } catch {}
  }
  return `\`${name}\` must be the JSON text of an object`
}

function envelopeProblem (envelope: Envelope, overGet: boolean): string | undefined {
  const { query, operationName } = envelope
  if (query != null && typeof query !== 'string') return '`query` must be a string'
  if (operationName != null && typeof operationName !== 'string') return '`operationName` must be a string'
  if (typeof operationName === 'string' && hasNul(operationName)) return NUL_MESSAGE
  return objectProblem('variables', envelope.variables, overGet) ?? objectProblem('extensions', envelope.extensions, overGet)
}

export function checkEnvelope (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const overGet = req.method === 'GET'
  const envelope = overGet ? req.query : req.body
  // A batch (an array) or a missing body is left to Mercurius's own schema check, also a 400.
  if (!isObject(envelope)) { done(); return }
  const problem = envelopeProblem(envelope as Envelope, overGet)
  if (problem !== undefined) { done(badInput(`Invalid request: ${problem}`)); return }
  if (!overGet && (envelope as Envelope).extensions === null) delete (envelope as Envelope).extensions
  done()
}
