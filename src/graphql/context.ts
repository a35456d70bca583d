/**
 * What resolvers receive as their third argument, and how it is made.
 *
 * Mercurius is given no `context` function: with one, every request pays an `await` of its result
 * and an `Object.assign` onto it before anything executes, whether or not a resolver reads the
 * context. Without one, Mercurius passes its own `{ reply, app }`. `withGraphQLContext` wraps each
 * resolver that declares a context parameter so that it receives a GraphQLContext instead, made
 * from `{ reply, app }` on the first such call of the request and reused by the rest. Resolvers
 * that take no context (such as `scopes`, or `ApiKey.rateLimit`) run as they are.
 */
import { isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify'
import type { Principal } from '../domain/auth/principal.ts'
import type { Services } from '../plugins/services.ts'

/** What every resolver receives. The principal is resolved before GraphQL runs. */
export interface GraphQLContext {
  principal: Principal
  requestId: string
  services: Services
  log: FastifyBaseLogger
  /** Requests left in a principal's current rate-limit window (null when not limited). */
  rateLimitRemaining(principal: Principal): Promise<number | null>
}

/** The context Mercurius itself passes to resolvers and to the error formatter. */
export interface MercuriusContext { reply: FastifyReply, app: FastifyInstance }

const MADE = Symbol('switchboard.graphqlContext')
type Carrier = MercuriusContext & { [MADE]?: GraphQLContext }

/** The caller of this GraphQL request (set by the onRequest authentication hook). */
export function principalOf (context: MercuriusContext): Principal | undefined {
  return context.reply.request.principal
}

/** The request's GraphQLContext, made on first use and kept on Mercurius's context object. */
export function graphqlContextOf (context: MercuriusContext): GraphQLContext {
  const carrier = context as Carrier
  let made = carrier[MADE]
  if (made === undefined) {
    const { request } = context.reply
    const { app } = context
    made = {
      principal: request.principal!,
      requestId: request.id,
      services: app.services,
      log: request.log,
      rateLimitRemaining: app.rateLimitRemaining
    }
    carrier[MADE] = made
  }
  return made
}

/** Wraps, in place, every resolver that declares a context parameter. Returns the schema. */
export function withGraphQLContext (schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve as GraphQLFieldResolver<unknown, GraphQLContext> | undefined
      // (parent, args, context, info): a resolver with fewer parameters never reads the context.
      if (resolve === undefined || resolve.length < 3) continue
      field.resolve = function withContext (parent, args, context: MercuriusContext, info) {
        return resolve(parent, args, graphqlContextOf(context), info)
      }
    }
  }
  return schema
}
