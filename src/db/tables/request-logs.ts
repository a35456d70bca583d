/**
 * Request logs: one row per call into the gateway (inbound: every GraphQL operation and REST
 * route) and per call a connector makes to a provider (outbound). Rows are written in batches
 * by the request-log writer (COPY on postgres.js, COPY from a blob on PGlite), never inside a
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
import { bigint, boolean, doublePrecision, index, integer, pgTable, primaryKey, smallint, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core'

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
  // Ascending on `id` (Postgres scans them backwards for "newest first"): ids only grow, and a
  // descending btree fed growing keys splits its leftmost page 50/50 and stays half empty
  // (measured: 23 MB against 16 MB for 200,000 rows, and a slower COPY).
  // requestLogs(filter, first, after) and requestLogStats: a team's rows newest first; `from`/`to`
  // are id bounds, so a page or a time window is one range scan whatever the table size
  index('request_logs_team_id_id_idx').on(t.teamId, t.id),
  // requestLogs(filter: { requestId }): one inbound call and every provider call it caused.
  // Hash, not btree: request ids are random, equality is the only use, and the hash index is
  // smaller (4-byte codes) and cheaper to insert into (COPY of 200,000 rows: −20 % with it)
  index('request_logs_request_id_idx').using('hash', t.requestId),
  // requestLogs(filter: { apiKeyId }): one key's calls, newest first (partial: outbound rows have none)
  index('request_logs_team_api_key_id_idx').on(t.teamId, t.apiKeyId, t.id).where(sql`${t.apiKeyId} IS NOT NULL`),
  // requestLogs(filter: { integrationId }): one integration's provider calls, newest first
  index('request_logs_team_integration_id_idx').on(t.teamId, t.integrationId, t.id).where(sql`${t.integrationId} IS NOT NULL`),
  // requestLogs(filter: { success: false }): failures are few, so browsing them must not scan successes
  index('request_logs_team_failures_idx').on(t.teamId, t.id).where(sql`NOT ${t.success}`)
])

/**
 * Hourly rollup of `request_logs`, what requestLogStats reads for the whole hours of its window
 * (raw rows only for the partial hours at its edges). One row per team, hour and combination of
 * the columns stats can filter on; written by the request-log writer in the same transaction as
 * the rows it summarises (so it never disagrees with them), deleted by retention.
 *
 * - Counts, sums, min and max are exact. Durations are kept as a log-scale histogram
 *   (log-rollup.ts): bucket i > 0 holds durations in (1 µs·γ^(i-1), 1 µs·γ^i], γ = 2^(1/16);
 *   percentiles read from it are within (γ−1)/(γ+1) ≈ 2.2 % of the exact percentile_cont.
 * - `histogram` is sparse: each element is `bucket << 32 | count`, sorted by bucket.
 * - The key allows nulls (NULLS NOT DISTINCT, Postgres 15+) so one upsert target covers
 *   inbound rows (no provider/integration) and outbound rows (no api key) alike.
 * - Rows without a team (unauthenticated calls) are not rolled up: no team can read them.
 */
export const requestLogRollup = pgTable('request_log_rollup', {
  teamId: uuid('team_id').notNull(),
  /** Start of the UTC hour. */
  hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
  direction: text('direction').notNull(),
  endpoint: text('endpoint').notNull(),
  operation: text('operation'),
  provider: text('provider'),
  integrationId: uuid('integration_id'),
  apiKeyId: uuid('api_key_id'),
  status: smallint('status'),
  success: boolean('success').notNull(),
  errorCodes: text('error_codes').array().notNull(),
  calls: integer('calls').notNull(),
  durationSum: doublePrecision('duration_sum').notNull(),
  durationMin: doublePrecision('duration_min').notNull(),
  durationMax: doublePrecision('duration_max').notNull(),
  /** Sparse log-scale histogram of duration_ms: `bucket << 32 | count` per occupied bucket. */
  histogram: bigint('histogram', { mode: 'number' }).array().notNull()
}, (t) => [
  // the upsert target, and requestLogStats' range scan: a team's hours in a window
  unique('request_log_rollup_key').on(t.teamId, t.hour, t.direction, t.endpoint, t.operation, t.provider, t.integrationId, t.apiKeyId, t.status, t.success, t.errorCodes).nullsNotDistinct()
])

/**
 * Hours from `covered_from` on are complete in `request_log_rollup`: the first writer to start
 * sets it to the next hour (rows written before, e.g. before this table existed, were never
 * rolled up), and `RequestLogService.rollUpHistory` backfills older hours and moves it back.
 * requestLogStats reads raw rows for hours before it. One row.
 */
export const requestLogRollupState = pgTable('request_log_rollup_state', {
  singleton: boolean('singleton').notNull().default(true),
  coveredFrom: timestamp('covered_from', { withTimezone: true, mode: 'date' }).notNull()
}, (t) => [primaryKey({ name: 'request_log_rollup_state_pkey', columns: [t.singleton] })])

export type RequestLogRow = typeof requestLogs.$inferSelect
export type NewRequestLogRow = typeof requestLogs.$inferInsert
