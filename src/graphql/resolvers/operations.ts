/** Resolvers for schema/operations.graphql: adapters from GraphQL arguments to OperationService. */
import type { ProviderOperation } from '../../connectors/types.ts'
import type { OperationRunRow } from '../../db/schema.ts'
import type { GraphQLContext } from '../context.ts'
import { unwrap } from '../unwrap.ts'

type Ctx = GraphQLContext
type Id = { integrationId: string }

export const operationResolvers = {
  ProviderOperation: {
    inputSchema: (o: ProviderOperation) => o.inputSchema ?? { type: 'object' },
    requiredScope: () => 'integrations:execute',
    long: (o: ProviderOperation) => o.long === true
  },
  OperationRunStatus: { QUEUED: 'queued', RUNNING: 'running', SUCCEEDED: 'succeeded', FAILED: 'failed' },
  DesignFormat: { PNG: 'png', JPG: 'jpg', SVG: 'svg', PDF: 'pdf' },
  OperationRun: {
    items: async (run: OperationRunRow, args: { first?: number, after?: string }, { services }: Ctx) => unwrap(await services.operations.runItems(run, args))
  },
  Query: {
    operationRun: async (_: unknown, { id }: { id: string }, { principal, services }: Ctx) => unwrap(await services.operations.getRun(principal, id))
  },
  Mutation: {
    runIntegrationOperation: async (_: unknown, a: Id & { operation: string, input?: unknown }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.operations.run(principal, a.integrationId, a.operation, a.input, requestId)),
    importProducts: async (_: unknown, a: Id, { principal, services, requestId }: Ctx) =>
      unwrap(await services.operations.importProducts(principal, a.integrationId, requestId)),
    publishMockup: async (_: unknown, a: Id & { productId: string, mockupUrls: string[] }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.operations.publishMockup(principal, a.integrationId, a.productId, a.mockupUrls, requestId)),
    exportDesign: async (_: unknown, a: Id & { fileKey: string, nodeIds: string[], format: 'png' | 'jpg' | 'svg' | 'pdf', scale?: number }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.operations.exportDesign(principal, a.integrationId, a, requestId)),
    saveToCloudStorage: async (_: unknown, a: Id & { fileUrls: string[], folder?: string | null }, { principal, services, requestId }: Ctx) =>
      unwrap(await services.operations.saveToCloudStorage(principal, a.integrationId, a.fileUrls, a.folder ?? null, requestId))
  }
}
