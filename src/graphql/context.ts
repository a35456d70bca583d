import type { FastifyBaseLogger } from 'fastify'
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
