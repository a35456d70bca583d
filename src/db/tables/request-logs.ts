/**
 * Request logs: one row per call into the gateway (inbound: every GraphQL operation and REST
 * route) and per call a connector makes to a provider (outbound). Rows are written in batches
 * by the request-log writer (COPY on postgres.js, multi-row INSERT on PGlite), never inside a
 * request, and deleted by the daily retention job after REQUEST_LOG_RETENTION_DAYS.
 *
 * - `id` is a UUIDv7 made from `created_at` (see `logIdAt`), so the id order is the time order:
 *   "newest first", keyset pages and time ranges (`from`/`to` become id bounds) all use the
 *   btree indexes below, and retention deletes by primary-key range.
 * - No foreign key to teams: a log row is history, not state. An FK check per row would slow
 *   COPY, and deleting a team must not cascade through millions of log rows; retention removes
 *   them. `team_id` is null for calls that never authenticated (401s, scanners).
 * - Nothing secret is stored: no headers, no GraphQL variables, paths without query strings,
 *   outbound error messages scrubbed before they reach the writer.
 */
import { sql } from 'drizzle-orm'
import { boolean, doublePrecision, index, integer, pgTable, smallint, text, timestamp, uuid } from 'drizzle-orm/pg-core'

export const requestLogs = pgTable('request_logs', {
  id: uuid('id').primaryKey(),
  /** When the call started. */
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
  /** `inbound` (a call to the gateway) or `outbound` (a connector's call to a provider). */
  direction: text('direction').notNull(),
  teamId: uuid('team_id'),
  /** Our request id (x-request-id): links an inbound call to every outbound call it caused. */
  requestId: text('request_id').notNull(),
  /** `api_key` or `user` when the caller authenticated. */
  principalKind: text('principal_kind'),
  apiKeyId: uuid('api_key_id'),
  userId: text('user_id'),
  /** GraphQL: `query` | `mutation` | `subscription`; REST: `rest`; outbound: null. */
  operationType: text('operation_type'),
  /** GraphQL: the operation name, else its root fields joined by ","; REST: the route pattern; outbound: the connector's operation, if given. */
  operation: text('operation'),
  rootFields: text('root_fields').array().notNull().default(sql`'{}'::text[]`),
  /** What statistics group by: `query viewer`, `GET /healthz`, `github GET /user/repos`. */
  endpoint: text('endpoint').notNull(),
  method: text('method').notNull(),
  /** Path only, never the query string. */
  path: text('path').notNull(),
  /** HTTP status; null when an outbound call got no response (network error, timeout). */
  status: smallint('status'),
  success: boolean('success').notNull(),
  /** Inbound: the codes of errors.ts in the response; outbound: the integration error type. */
  errorCodes: text('error_codes').array().notNull().default(sql`'{}'::text[]`),
  /** Outbound only, scrubbed of anything that looks like a credential. */
  errorMessage: text('error_message'),
  durationMs: doublePrecision('duration_ms').notNull(),
  /** GraphQL query cost as the limits hook computed it. */
  cost: integer('cost'),
  integrationId: uuid('integration_id'),
  provider: text('provider'),
  /** Outbound retry attempt, from 1. */
  attempt: smallint('attempt'),
  clientIp: text('client_ip'),
  userAgent: text('user_agent')
}, (t) => [
  // requestLogs(filter, first, after) and requestLogStats: a team's rows newest first; `from`/`to`
  // are id bounds, so a page or a time window is one range scan whatever the table size
  index('request_logs_team_id_id_idx').on(t.teamId, t.id.desc()),
  // requestLogs(filter: { requestId }): one inbound call and every provider call it caused
  index('request_logs_request_id_idx').on(t.requestId),
  // requestLogs(filter: { apiKeyId }): one key's calls, newest first (partial: outbound rows have none)
  index('request_logs_team_api_key_id_idx').on(t.teamId, t.apiKeyId, t.id.desc()).where(sql`${t.apiKeyId} IS NOT NULL`),
  // requestLogs(filter: { integrationId }): one integration's provider calls, newest first
  index('request_logs_team_integration_id_idx').on(t.teamId, t.integrationId, t.id.desc()).where(sql`${t.integrationId} IS NOT NULL`),
  // requestLogs(filter: { success: false }): failures are few, so browsing them must not scan successes
  index('request_logs_team_failures_idx').on(t.teamId, t.id.desc()).where(sql`NOT ${t.success}`)
])

export type RequestLogRow = typeof requestLogs.$inferSelect
export type NewRequestLogRow = typeof requestLogs.$inferInsert
