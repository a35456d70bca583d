/** Resolvers for schema/api-keys.graphql: adapters from GraphQL arguments to ApiKeyService. */
import type { ApiKeyView, CreateKeyInput, UpdateKeyInput } from '../../domain/api-keys/api-key.service.ts'
import type { GraphQLContext } from '../context.ts'
import { unwrap } from '../unwrap.ts'

type Ctx = GraphQLContext

export const apiKeyResolvers = {
  Query: {
    apiKeys: async (_: unknown, args: { first?: number, after?: string }, { principal, services }: Ctx) =>
      unwrap(await services.apiKeys.list(principal, args)),
    apiKey: async (_: unknown, { id }: { id: string }, { principal, services }: Ctx) =>
      unwrap(await services.apiKeys.get(principal, id))
  },
  Mutation: {
    createApiKey: async (_: unknown, { input }: { input: CreateKeyInput }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.apiKeys.create(principal, input, requestId)),
    updateApiKey: async (_: unknown, { id, input }: { id: string, input: UpdateKeyInput }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.apiKeys.update(principal, id, input, requestId)),
    rotateApiKey: async (_: unknown, { id, gracePeriodSeconds }: { id: string, gracePeriodSeconds: number }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.apiKeys.rotate(principal, id, gracePeriodSeconds, requestId)),
    revokeApiKey: async (_: unknown, { id }: { id: string }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.apiKeys.revoke(principal, id, requestId)),
    verifyApiKey: async (_: unknown, { key }: { key: string }, { principal, services, rateLimitRemaining }: Ctx) => {
      const { rateLimit, ...check } = await services.apiKeys.check(principal, key)
      const remaining = check.valid && check.keyId !== null
        ? await rateLimitRemaining({ kind: 'api_key', teamId: principal.teamId, apiKeyId: check.keyId, scopes: check.scopes, rateLimit })
        : null
      return { ...check, remaining }
    }
  },
  ApiKey: {
    rateLimit: (key: ApiKeyView) => key.rateLimitRequests === null || key.rateLimitWindowMs === null
      ? null
      : { requests: key.rateLimitRequests, windowMs: key.rateLimitWindowMs }
  }
}
