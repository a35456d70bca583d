/**
 * The GraphQL endpoint, in its own encapsulated scope so its hooks and error handler apply to
 * /graphql only. Request pipeline, in order:
 *   onRequest: authenticate (plugins/auth.ts) → per-principal rate limit (plugins/rate-limit.ts)
 *   body limit (256 KiB) → parse (token limit) → validate (graphql-depth-limit at the server max,
 *   introspection rule in production) → preExecution: team policy limits (limits-hook.ts)
 *   → @auth scope check per field (graphql/auth-directive.ts) → resolvers → error formatter.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import mercurius from 'mercurius'
import depthLimit from 'graphql-depth-limit'
import { NoSchemaIntrospectionCustomRule, type ValidationRule } from 'graphql'
import type { Config } from '../config.ts'
import { enforceAuthDirective } from '../graphql/auth-directive.ts'
import type { GraphQLContext } from '../graphql/context.ts'
import { formatErrors } from '../graphql/error-formatter.ts'
import { limitsHook } from '../graphql/limits/limits-hook.ts'
import { buildSchema } from '../graphql/schema.ts'
import { authPlugin } from './auth.ts'
import { rateLimited, rateLimitPlugin } from './rate-limit.ts'

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
    schema: enforceAuthDirective(buildSchema()),
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
