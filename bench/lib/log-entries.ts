import type { LogEntry } from '../../src/domain/request-logs/log-entry.ts'
import { logIdAt } from '../../src/domain/request-logs/log-ids.ts'

/** `n` request-log rows of one team as the gateway makes them for a query of `operation`, one in 20 failed. */
export function logEntries (n: number, teamId: string, operation: string): LogEntry[] {
  const now = Date.now()
  return Array.from({ length: n }, (_, i) => {
    const createdAt = new Date(now - n + i)
    return {
      id: logIdAt(createdAt), createdAt, direction: 'inbound', teamId, requestId: `bench-${i}`, principalKind: 'api_key',
      apiKeyId: '00000000-0000-7000-8000-000000000001', userId: null, operationType: 'query', operation, rootFields: [operation],
      endpoint: `query ${operation}`, method: 'POST', path: '/graphql', status: 200, success: i % 20 !== 0, errorCodes: i % 20 === 0 ? ['BAD_USER_INPUT'] : [],
      errorMessage: null, durationMs: 1 + (i % 50) / 7, cost: 3, integrationId: null, provider: null, attempt: null, clientIp: '127.0.0.1', userAgent: 'bench/1.0'
    }
  })
}
