/** Resolvers for schema/oauth.graphql: the connect flow, refresh, disconnect and token import. */
import type { ImportTokenInput } from '../../domain/oauth/token.service.ts'
import type { StartOAuthInput } from '../../domain/oauth/oauth-flow.service.ts'
import type { GraphQLContext } from '../context.ts'
import { unwrap } from '../unwrap.ts'

type Ctx = GraphQLContext

export const oauthResolvers = {
  Mutation: {
    startOAuth: async (_: unknown, { input }: { input: StartOAuthInput }, { principal, services }: Ctx) =>
      unwrap(await services.oauthFlow.start(principal, input)),
    refreshIntegrationToken: async (_: unknown, { id }: { id: string }, { principal, services }: Ctx) =>
      unwrap(await services.tokens.refreshNow(principal, id)),
    disconnectIntegration: async (_: unknown, { id }: { id: string }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.integrations.disconnect(principal, id, requestId)),
    importOAuthToken: async (_: unknown, { input }: { input: ImportTokenInput }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.tokens.importToken(principal, input, requestId))
  }
}
