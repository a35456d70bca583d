/**
 * The GraphQL endpoint, in its own encapsulated scope so its hooks and error handler apply to
 * /graphql only. Request pipeline, in order:
 *   onRequest: authenticate (plugins/auth.ts) → per-principal rate limit (plugins/rate-limit.ts)
 *   body limit (256 KiB) → parse (token limit) → validate (graphql-depth-limit at the server max,
 *   introspection rule in production) → preExecution: team policy limits (limits-hook.ts)
 *   → @auth scope check per field (mercurius-auth) → resolvers → error formatter.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import mercurius from 'mercurius'
import mercuriusAuthModule from 'mercurius-auth'
import depthLimit from 'graphql-depth-limit'
import { NoSchemaIntrospectionCustomRule, type ConstDirectiveNode, type ValidationRule } from 'graphql'
import type { Config } from '../config.ts'
import { hasScope } from '../domain/auth/scopes.ts'
import { AppError } from '../errors.ts'
import type { GraphQLContext } from '../graphql/context.ts'
import { formatErrors } from '../graphql/error-formatter.ts'
import { limitsHook } from '../graphql/limits/limits-hook.ts'
import { buildSchema } from '../graphql/schema.ts'
import { authPlugin } from './auth.ts'
import { rateLimited, rateLimitPlugin } from './rate-limit.ts'

// mercurius-auth is CommonJS (`module.exports = plugin`) but its types declare a default export.
const mercuriusAuth = mercuriusAuthModule as unknown as typeof mercuriusAuthModule.default

/** `@auth(requires: "x")` → "x", parsed once per directive node. */
const requiredScopes = new WeakMap<object, string>()
function requiredScope (node: ConstDirectiveNode): string {
  let scope = requiredScopes.get(node)
  if (scope === undefined) {
    const arg = node.arguments?.find((a) => a.name.value === 'requires')?.value
    scope = arg?.kind === 'StringValue' ? arg.value : '\u0000' // malformed directive: nothing satisfies it
    requiredScopes.set(node, scope)
  }
  return scope
}

export async function graphqlPlugin (app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  await app.register(rateLimitPlugin, { config })
  await app.register(authPlugin)

  app.decorateRequest('operationShape', undefined)
  app.addHook('onRoute', (route) => {
    if (route.url !== '/graphql') return
    route.bodyLimit = config.graphql.bodyLimit
    route.onRequest = [app.authenticate, app.principalRateLimit]
  })

  const validationRules: ValidationRule[] = [depthLimit(config.graphql.maxDepth) as ValidationRule]
  if (!config.graphql.introspection) validationRules.push(NoSchemaIntrospectionCustomRule)

  await app.register(mercurius, {
    schema: buildSchema(),
    jit: 1,
    graphiql: config.graphql.graphiql,
    allowBatchedQueries: false,
    validationRules,
    graphql: { parseOptions: { maxTokens: config.graphql.maxTokens } },
    context: (request): Omit<GraphQLContext, 'principal'> & { principal: GraphQLContext['principal'] | undefined } => ({
      principal: request.principal,
      requestId: request.id,
      services: app.services,
      log: request.log,
      rateLimitRemaining: app.rateLimitRemaining
    }),
    errorFormatter: formatErrors as never
  })

  await app.register(mercuriusAuth, {
    authDirective: 'auth',
    applyPolicy: async (directive: ConstDirectiveNode, _parent: unknown, _args: unknown, context: GraphQLContext) => {
      const scope = requiredScope(directive)
      if (hasScope(context.principal.scopes, scope)) return true
      throw new AppError('FORBIDDEN', `Missing scope: ${scope}`, { details: { requiredScope: scope } })
    }
  } as never)

  // One preExecution hook (each hook is an extra async step on every request): the team's
  // limits, then each root selection beyond the first (aliases included) is charged to the rate
  // limit — the request itself paid for the first in onRequest — before anything runs. Not an
  // async function: with the team's policy cached and one root selection it returns nothing.
  const enforceLimits = limitsHook(config.graphql, app.services.policies)
  const chargeExtra = async (ctx: GraphQLContext & { reply: { request: FastifyRequest } }, extra: number): Promise<void> => {
    const wait = await app.chargeOperations(ctx.reply.request, extra)
    if (wait > 0) throw rateLimited(wait)
  }
  const afterLimits = (ctx: GraphQLContext & { reply: { request: FastifyRequest } }): void | Promise<void> => {
    const extra = (ctx.operationShape?.operations ?? 1) - 1
    return extra > 0 ? chargeExtra(ctx, extra) : undefined
  }
  app.graphql.addHook('preExecution', (schema, document, context, variables) => {
    const ctx = context as unknown as GraphQLContext & { reply: { request: FastifyRequest } }
    const pending = enforceLimits(schema, document, ctx, variables as Record<string, unknown> | undefined)
    return (pending === undefined ? afterLimits(ctx) : pending.then(() => afterLimits(ctx))) as Promise<void>
  })
}
