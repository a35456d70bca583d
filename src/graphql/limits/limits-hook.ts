/**
 * The caller's team policy (never above the server maxima): depth, cost, aliases, directives and
 * introspection, plus the rate-limit charge for each root selection beyond the first. A
 * route-level preHandler on /graphql: it runs after authentication and body parsing and before
 * Mercurius parses, validates or executes anything, so a rejected operation has no effect.
 *
 * Why not a Mercurius preExecution hook (where this lived before): Mercurius runs those through
 * an async runner and copies its hook lists onto every request's context, a promise and several
 * allocations on every request even when nothing is rejected. Here, with the team's policy
 * cached and one root selection, the hook completes synchronously.
 *
 * The operation is measured from the shared parse of its query text (query-documents.ts);
 * documents without variables are measured once per operation name. A text that does not parse is
 * answered here with its syntax error (Mercurius would read it as a JSON syntax tree, past the
 * token limit and these limits), and a NUL byte in a string literal or a variable is refused here
 * (nul-bytes.ts), before anything executes.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify'
import { GraphQLError, type DocumentNode, type GraphQLSchema } from 'graphql'
import type { Config } from '../../config.ts'
import { hasScope } from '../../domain/auth/scopes.ts'
import type { GraphqlPolicy, GraphqlPolicyService } from '../../domain/graphql-policy/graphql-policy.service.ts'
import { AppError, badInput } from '../../errors.ts'
import type { QueryDocuments } from '../query-documents.ts'
import { analyzeOperation, findOperation, type OperationShape } from './analyze-operation.ts'
import { documentHasNul, NUL_MESSAGE, valueHasNul } from './nul-bytes.ts'

export const MAX_DIRECTIVES = 50

declare module 'fastify' {
  /** Set before execution; read after the response by the request log (cost, root fields). */
  interface FastifyRequest { operationShape: OperationShape | undefined }
}

interface GraphQLSource { query?: unknown, operationName?: unknown, variables?: unknown }

export function limitsHook (
  limits: Config['graphql'], policies: GraphqlPolicyService, schema: GraphQLSchema, documents: QueryDocuments,
  chargeExtra: (req: FastifyRequest, extra: number) => Promise<void>
): preHandlerHookHandler {
  const shapes = new WeakMap<DocumentNode, Map<string, OperationShape>>()

  function shapeOf (req: FastifyRequest): OperationShape | undefined {
    const source = (req.method === 'GET' ? req.query : req.body) as GraphQLSource | undefined
    if (typeof source?.query !== 'string') return undefined // no query: Mercurius answers 400
    if (source.query.length > limits.maxQueryLength) throw badInput(`The query is longer than ${limits.maxQueryLength} characters`)
    const document = documents.parse(source.query)
    if (document instanceof GraphQLError) throw badInput(document.message)
    const variables = variablesOf(source.variables)
    if (documentHasNul(document, source.query) || valueHasNul(variables)) throw badInput(NUL_MESSAGE)
    const operationName = typeof source.operationName === 'string' ? source.operationName : undefined
    const operation = findOperation(document, operationName)
    if (operation === undefined) return undefined // graphql-js reports the missing or ambiguous operation
    const key = operation.name?.value ?? ''
    let shape = shapes.get(document)?.get(key)
    if (shape === undefined) {
      shape = analyzeOperation(schema, document, operation, variables, limits.defaultPageSize)
      if ((operation.variableDefinitions?.length ?? 0) === 0) {
        const byName = shapes.get(document) ?? new Map<string, OperationShape>()
        byName.set(key, shape)
        shapes.set(document, byName)
      }
    }
    return shape
  }

  const enforce = (req: FastifyRequest, shape: OperationShape, policy: GraphqlPolicy): void | Promise<void> => {
    check(shape, policy, req.principal?.scopes ?? [])
    return shape.operations > 1 ? chargeExtra(req, shape.operations - 1) : undefined
  }

  // Callback style: with the policy cached and one root selection, no promise is made.
  return function enforceLimits (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    let pending: void | Promise<void>
    try {
      const shape = shapeOf(req)
      const teamId = req.principal?.teamId
      if (shape === undefined || teamId === undefined) { done(); return }
      req.operationShape = shape
      const policy = policies.cached(teamId)
      pending = policy !== undefined ? enforce(req, shape, policy) : policies.effective(teamId).then((p) => enforce(req, shape, p))
    } catch (err) {
      done(err as Error)
      return
    }
    if (pending === undefined) done()
    else pending.then(() => { done() }, done)
  }

  function check (shape: OperationShape, policy: GraphqlPolicy, scopes: readonly string[]): void {
    // What the server-wide validation rules refuse (depth beyond GRAPHQL_MAX_DEPTH, introspection
    // when it is off) is left to them, so it answers as the validation error it is; everything
    // else is still checked here.
    if (shape.introspection && limits.introspection && !(policy.introspection && hasScope(scopes, 'admin:full'))) {
      throw new AppError('FORBIDDEN', 'Introspection is not allowed for this caller')
    }
    if (shape.aliases > limits.maxAliases) throw badInput(`Too many aliases: ${shape.aliases} (limit ${limits.maxAliases})`, { limit: 'aliases' })
    if (shape.directives > MAX_DIRECTIVES) throw badInput(`Too many directives: ${shape.directives} (limit ${MAX_DIRECTIVES})`, { limit: 'directives' })
    if (shape.depth > policy.depthLimit && shape.depth <= limits.maxDepth) throw badInput(`Query depth ${shape.depth} exceeds the limit of ${policy.depthLimit}`, { limit: 'depth' })
    if (shape.cost > policy.costLimit) throw badInput(`Query cost ${shape.cost} exceeds the limit of ${policy.costLimit}`, { limit: 'cost', cost: shape.cost })
  }
}

function variablesOf (variables: unknown): Record<string, unknown> | undefined {
  if (typeof variables === 'string') { // GET ?variables=<JSON>
    try { variables = JSON.parse(variables) } catch { return undefined }
  }
  return variables !== null && typeof variables === 'object' ? variables as Record<string, unknown> : undefined
}
