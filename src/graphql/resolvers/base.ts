/** Resolvers for schema/base.graphql: who am I, which scopes exist, my team's limits. */
import { SCOPES } from '../../domain/auth/scopes.ts'
import { notFound } from '../../errors.ts'
import type { GraphQLContext } from '../context.ts'
import { unwrap } from '../unwrap.ts'

export const baseResolvers = {
  Query: {
    viewer: async (_: unknown, __: unknown, { principal, services }: GraphQLContext) => {
      const team = await services.teams.get(principal.teamId)
      if (team === undefined) throw notFound('Team')
      return {
        team,
        principal: { kind: principal.kind === 'user' ? 'USER' : 'API_KEY', userId: principal.userId ?? null, apiKeyId: principal.apiKeyId ?? null },
        scopes: principal.scopes
      }
    },
    scopes: () => Object.entries(SCOPES).map(([name, description]) => ({ name, description })),
    graphqlPolicy: async (_: unknown, __: unknown, { principal, services }: GraphQLContext) =>
      withMaxima(await services.policies.effective(principal.teamId), services),
  },
  Mutation: {
    updateGraphQLPolicy: async (_: unknown, { input }: { input: { depthLimit?: number, costLimit?: number, introspection?: boolean } }, { principal, services, requestId }: GraphQLContext) =>
      withMaxima(unwrap(await services.policies.update(principal, input, requestId)), services)
  }
}

function withMaxima<T extends object> (policy: T, services: GraphQLContext['services']): T & { maxDepthLimit: number, maxCostLimit: number } {
  const { maxDepth, maxCost } = services.policies.maxima
  return { ...policy, maxDepthLimit: maxDepth, maxCostLimit: maxCost }
}
