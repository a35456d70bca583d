/**
 * Long provider operations (imports over many pages, uploads of many files) run as pg-boss jobs
 * and tracked here so `operationRun(id)` can report them; the records an import produces are
 * written page by page to `operation_run_items`, so neither the job nor a reader ever holds all
 * of them in memory.
 */
import { relations, sql } from 'drizzle-orm'
import { bigint, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { teams } from './core.ts'
import { integrations } from './integrations.ts'

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

export const operationRuns = pgTable('operation_runs', {
  id: uuid('id').primaryKey(),
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  /** Set null when the integration is deleted: the run's record stays readable. */
  integrationId: uuid('integration_id').references(() => integrations.id, { onDelete: 'set null' }),
  provider: text('provider').notNull(),
  /** Connector operation name (`import_products`, `upload_file`…). */
  operation: text('operation').notNull(),
  /** queued | running | succeeded | failed */
  status: text('status').notNull(),
  /** Validated operation input (file URLs, folder names: no secrets). */
  input: jsonb('input').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  /** Operation-defined counters (`{pages, records}`, `{done, total}`), updated as the job goes. */
  progress: jsonb('progress').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  result: jsonb('result').$type<unknown>(),
  /** `{code, message, retryable, platform}` of a failed run; never a provider body. */
  error: jsonb('error').$type<Record<string, unknown>>(),
  /** Items written to operation_run_items. */
  itemCount: integer('item_count').notNull().default(0),
  /** pg-boss job id: also the request id of the run's outbound request-log rows. */
  jobId: text('job_id'),
  /** `user:<id>` or `key:<id>`. */
  createdBy: text('created_by').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  startedAt: ts('started_at'),
  finishedAt: ts('finished_at')
}, (t) => [
  // a team's runs, newest first
  index('operation_runs_team_id_id_idx').on(t.teamId, t.id.desc())
])

export const operationRunItems = pgTable('operation_run_items', {
  runId: uuid('run_id').notNull().references(() => operationRuns.id, { onDelete: 'cascade' }),
  /** 0-based position in the order the provider returned the records. */
  seq: bigint('seq', { mode: 'number' }).notNull(),
  item: jsonb('item').$type<unknown>().notNull()
}, (t) => [primaryKey({ name: 'operation_run_items_pk', columns: [t.runId, t.seq] })])

export const operationRunsRelations = relations(operationRuns, ({ one, many }) => ({
  team: one(teams, { fields: [operationRuns.teamId], references: [teams.id] }),
  integration: one(integrations, { fields: [operationRuns.integrationId], references: [integrations.id] }),
  items: many(operationRunItems)
}))

export const operationRunItemsRelations = relations(operationRunItems, ({ one }) => ({
  run: one(operationRuns, { fields: [operationRunItems.runId], references: [operationRuns.id] })
}))

export type OperationRunRow = typeof operationRuns.$inferSelect
