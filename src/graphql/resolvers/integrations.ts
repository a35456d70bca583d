/** Resolvers for schema/integrations.graphql: adapters from GraphQL arguments to IntegrationService. */
import type { ProviderDefinition } from '../../connectors/types.ts'
import type { CreateIntegrationInput, IntegrationFilter, IntegrationView, ProviderView, UpdateIntegrationInput } from '../../domain/integrations/integration.service.ts'
import type { GraphQLContext } from '../context.ts'
import { unwrap } from '../unwrap.ts'

type Ctx = GraphQLContext

/** GraphQL enum value ↔ catalog value (`DESIGN_TOOLS` ↔ `design-tools`). */
const enumMap = (values: string[]) => Object.fromEntries(values.map((v) => [v.toUpperCase().replace(/-/g, '_'), v]))

const providerFields = (def: ProviderDefinition, isConnected: boolean) => ({
  ...def,
  isConnected,
  defaultScopes: def.oauth?.defaultScopes ?? [],
  pkce: def.oauth !== undefined && def.oauth.pkce !== 'none',
  operations: def.operations.map((o) => ({ scopes: [], ...o }))
})

export const integrationResolvers = {
  ProviderCategory: enumMap(['design-tools', 'ecommerce', 'marketing', 'storage', 'productivity', 'crm', 'communication', 'automation']),
  ProviderStatus: enumMap(['active', 'coming_soon']),
  AuthMode: enumMap(['oauth2', 'api_key', 'basic', 'webhook']),
  IntegrationStatus: enumMap(['pending', 'connected', 'needs_reauth', 'error', 'disconnected']),
  Query: {
    providers: async (_: unknown, args: { search?: string, category?: string, status?: string }, { principal, services }: Ctx) =>
      (await services.integrations.providers(principal, args)).map((p: ProviderView) => providerFields(p.def, p.isConnected)),
    integrations: async (_: unknown, args: { filter?: IntegrationFilter, first?: number, after?: string }, { principal, services }: Ctx) =>
      unwrap(await services.integrations.list(principal, args)),
    integration: async (_: unknown, { id }: { id: string }, { principal, services }: Ctx) =>
      unwrap(await services.integrations.get(principal, id))
  },
  Mutation: {
    createIntegration: async (_: unknown, { input }: { input: CreateIntegrationInput }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.integrations.create(principal, input, requestId)),
    updateIntegration: async (_: unknown, { id, input }: { id: string, input: UpdateIntegrationInput }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.integrations.update(principal, id, input, requestId)),
    deleteIntegration: async (_: unknown, { id }: { id: string }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.integrations.delete(principal, id, requestId)),
    testIntegration: async (_: unknown, { id }: { id: string }, { principal, services }: Ctx) =>
      unwrap(await services.integrations.test(principal, id))
  },
  Integration: {
    provider: (i: IntegrationView, _: unknown, { services }: Ctx) => {
      const def = services.catalog.get(i.provider)!
      return providerFields(def, i.status === 'connected')
    },
    credential: (i: IntegrationView, _: unknown, { principal, services }: Ctx) => services.tokens.credential(principal.teamId, i),
    status: (i: IntegrationView) => i.status
  }
}
