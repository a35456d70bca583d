/**
 * The GraphQL endpoint, in its own encapsulated scope so its hooks and error handler apply to
 * /graphql only. Request pipeline, in order:
 *   onRequest: authenticate (plugins/auth.ts) → per-principal rate limit (plugins/rate-limit.ts)
 *   → body limit (256 KiB) → preValidation: the request envelope's types (request-envelope.ts)
 *   → preHandler: parse (token limit; a syntax error ends here), NUL bytes in inputs, team policy
 *   limits and extra root-selection charges (limits-hook.ts) → Mercurius: parse → validate (spec
 *   rules, depth at the server max, introspection rule in production) → @auth scope check per field
 *   (graphql/auth-directive.ts) → resolvers → error formatter.
 */
import type { FastifyInstance } from 'fastify'
import mercurius from 'mercurius'
import { NoSchemaIntrospectionCustomRule, type ValidationRule } from 'graphql'
import type { Config } from '../config.ts'
import { enforceAuthDirective } from '../graphql/auth-directive.ts'
import { withGraphQLContext } from '../graphql/context.ts'
import { formatErrors } from '../graphql/error-formatter.ts'
import { maxDepthRule } from '../graphql/limits/depth-rule.ts'
import { limitsHook } from '../graphql/limits/limits-hook.ts'
import { checkEnvelope } from '../graphql/limits/request-envelope.ts'
import type { QueryDocuments } from '../graphql/query-documents.ts'
import { buildSchema } from '../graphql/schema.ts'
import { authPlugin } from './auth.ts'
import { rateLimited, rateLimitPlugin } from './rate-limit.ts'

export async function graphqlPlugin (app: FastifyInstance, { config, queryDocuments }: { config: Config, queryDocuments: QueryDocuments }): Promise<void> {
  await app.register(rateLimitPlugin, { config })
  await app.register(authPlugin)

  // The team's limits, and the rate-limit charge for each root selection beyond the first (aliases
  // included; the request itself paid for the first in onRequest), before Mercurius runs anything.
  // Resolvers get their GraphQLContext from Mercurius's own { reply, app } (graphql/context.ts): no
  // context function, so no await and no copy per request before execution starts.
  const schema = enforceAuthDirective(withGraphQLContext(buildSchema()))
  const enforceLimits = limitsHook(config.graphql, app.services.policies, schema, queryDocuments, async (req, extra) => {
    const wait = await app.chargeOperations(req, extra)
    if (wait > 0) throw rateLimited(wait)
  })

  app.decorateRequest('operationShape', undefined)
  app.addHook('onRoute', (route) => {
    if (route.url !== '/graphql') return
    route.bodyLimit = config.graphql.bodyLimit
    route.onRequest = [app.authenticate, app.principalRateLimit]
    route.preValidation = [checkEnvelope]
    route.preHandler = [enforceLimits]
  })

  const validationRules: ValidationRule[] = [maxDepthRule(config.graphql.maxDepth)]
  if (!config.graphql.introspection) validationRules.push(NoSchemaIntrospectionCustomRule)

  await app.register(mercurius, {
    schema,
    jit: 1,
    graphiql: config.graphql.graphiql,
    allowBatchedQueries: false,
    validationRules,
    graphql: { parseOptions: { maxTokens: config.graphql.maxTokens } },
    errorFormatter: formatErrors as never
  })

}
