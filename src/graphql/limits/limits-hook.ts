/**
 * preExecution hook enforcing the caller's team policy (never above the server maxima):
 * depth, cost, aliases, directives and introspection. Runs after parse + validation (where the
 * static graphql-depth-limit rule already capped depth at the server maximum) and before any
 * resolver, so a rejected operation has no effect.
 */
import type { FastifyRequest } from 'fastify'
import type { DocumentNode, GraphQLSchema } from 'graphql'
import type { Config } from '../../config.ts'
import { hasScope } from '../../domain/auth/scopes.ts'
import type { GraphqlPolicy, GraphqlPolicyService } from '../../domain/graphql-policy/graphql-policy.service.ts'
import { AppError, badInput } from '../../errors.ts'
import type { GraphQLContext } from '../context.ts'
import { analyzeOperation, findOperation, type OperationShape } from './analyze-operation.ts'

export const MAX_DIRECTIVES = 50

declare module '../context.ts' {
  interface GraphQLContext { operationShape?: OperationShape }
}

declare module 'fastify' {
  /** Set before execution; read after the response by the request log (cost, root fields). */
  interface FastifyRequest { operationShape: OperationShape | undefined }
}

export function limitsHook (limits: Config['graphql'], policies: GraphqlPolicyService) {
  // Operations without variables have a fixed shape: measure each parsed document once.
  const memo = new WeakMap<DocumentNode, Map<string, OperationShape>>()

  /** Synchronous when the team's policy is cached (the hot path); a promise otherwise. */
  return function enforceLimits (schema: GraphQLSchema, document: DocumentNode, context: GraphQLContext & { reply: { request: FastifyRequest } }, variables?: Record<string, unknown>): void | Promise<void> {
    const body = context.reply.request.body as { operationName?: string | null } | undefined
    const operation = findOperation(document, body?.operationName)
    if (operation === undefined) return // graphql-js reports the missing or ambiguous operation
    const key = operation.name?.value ?? ''
    let shape = memo.get(document)?.get(key)
    if (shape === undefined) {
      shape = analyzeOperation(schema, document, operation, variables, limits.defaultPageSize)
      if ((operation.variableDefinitions?.length ?? 0) === 0) {
        const byName = memo.get(document) ?? new Map<string, OperationShape>()
        byName.set(key, shape)
        memo.set(document, byName)
      }
    }
    context.operationShape = shape
    context.reply.request.operationShape = shape
    const { principal } = context
    const policy = policies.cached(principal.teamId)
    if (policy !== undefined) { check(shape, policy, principal.scopes); return }
    const measured = shape
    return policies.effective(principal.teamId).then((p) => { check(measured, p, principal.scopes) })
  }

  function check (shape: OperationShape, policy: GraphqlPolicy, scopes: readonly string[]): void {
    if (shape.introspection && !(policy.introspection && hasScope(scopes, 'admin:full'))) {
      throw new AppError('FORBIDDEN', 'Introspection is not allowed for this caller')
    }
    if (shape.aliases > limits.maxAliases) throw badInput(`Too many aliases: ${shape.aliases} (limit ${limits.maxAliases})`, { limit: 'aliases' })
    if (shape.directives > MAX_DIRECTIVES) throw badInput(`Too many directives: ${shape.directives} (limit ${MAX_DIRECTIVES})`, { limit: 'directives' })
    if (shape.depth > policy.depthLimit) throw badInput(`Query depth ${shape.depth} exceeds the limit of ${policy.depthLimit}`, { limit: 'depth' })
    if (shape.cost > policy.costLimit) throw badInput(`Query cost ${shape.cost} exceeds the limit of ${policy.costLimit}`, { limit: 'cost', cost: shape.cost })
  }
}
