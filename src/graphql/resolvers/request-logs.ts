/** Resolvers for schema/request-logs.graphql: adapters to RequestLogService and AuditEventService. */
import type { RequestLogRow } from '../../db/schema.ts'
import type { RequestLogFilter } from '../../domain/request-logs/request-log.service.ts'
import type { AuditEventFilter } from '../../domain/request-logs/audit-event.service.ts'
import type { GraphQLContext } from '../context.ts'
import { unwrap } from '../unwrap.ts'

type Ctx = GraphQLContext
type Page = { first?: number | null, after?: string | null }
type LogFilterArg = Omit<RequestLogFilter, 'direction'> & { direction?: 'INBOUND' | 'OUTBOUND' | null }

const toFilter = (f: LogFilterArg | null | undefined): RequestLogFilter | undefined =>
  f == null ? undefined : { ...f, direction: f.direction == null ? null : f.direction === 'INBOUND' ? 'inbound' : 'outbound' }

export const requestLogResolvers = {
  Query: {
    requestLogs: async (_: unknown, { filter, ...page }: Page & { filter?: LogFilterArg | null }, { principal, services }: Ctx) =>
      unwrap(await services.requestLogs.list(principal, toFilter(filter), page)),
    requestLog: async (_: unknown, { id }: { id: string }, { principal, services }: Ctx) =>
      unwrap(await services.requestLogs.get(principal, id)),
    requestLogStats: async (_: unknown, { filter, bucket }: { filter?: LogFilterArg | null, bucket: 'HOUR' | 'DAY' }, { principal, services }: Ctx) =>
      unwrap(await services.requestLogs.stats(principal, toFilter(filter), bucket === 'DAY' ? 'day' : 'hour')),
    auditEvents: async (_: unknown, { filter, ...page }: Page & { filter?: AuditEventFilter | null }, { principal, services }: Ctx) =>
      unwrap(await services.auditEvents.list(principal, filter, page))
  },
  RequestLog: {
    direction: (row: RequestLogRow) => row.direction.toUpperCase(),
    time: (row: RequestLogRow) => row.createdAt,
    principalKind: (row: RequestLogRow) => (row.principalKind === null ? null : row.principalKind === 'user' ? 'USER' : 'API_KEY')
  }
}
