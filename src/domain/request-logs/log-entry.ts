/** One request-log row as the writer buffers it; column names are those of `request_logs`. */
export interface LogEntry {
  id: string
  createdAt: Date
  direction: 'inbound' | 'outbound'
  teamId: string | null
  requestId: string
  principalKind: 'api_key' | 'user' | null
  apiKeyId: string | null
  userId: string | null
  operationType: string | null
  operation: string | null
  rootFields: string[]
  endpoint: string
  method: string
  path: string
  status: number | null
  success: boolean
  errorCodes: string[]
  errorMessage: string | null
  durationMs: number
  cost: number | null
  integrationId: string | null
  provider: string | null
  attempt: number | null
  clientIp: string | null
  userAgent: string | null
}

/** Column order shared by the COPY and INSERT sinks. */
export const LOG_COLUMNS = [
  ['id', 'id'], ['createdAt', 'created_at'], ['direction', 'direction'], ['teamId', 'team_id'],
  ['requestId', 'request_id'], ['principalKind', 'principal_kind'], ['apiKeyId', 'api_key_id'],
  ['userId', 'user_id'], ['operationType', 'operation_type'], ['operation', 'operation'],
  ['rootFields', 'root_fields'], ['endpoint', 'endpoint'], ['method', 'method'], ['path', 'path'],
  ['status', 'status'], ['success', 'success'], ['errorCodes', 'error_codes'],
  ['errorMessage', 'error_message'], ['durationMs', 'duration_ms'], ['cost', 'cost'],
  ['integrationId', 'integration_id'], ['provider', 'provider'], ['attempt', 'attempt'],
  ['clientIp', 'client_ip'], ['userAgent', 'user_agent']
] as const satisfies ReadonlyArray<readonly [keyof LogEntry, string]>
