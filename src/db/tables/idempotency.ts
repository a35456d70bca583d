/**
 * Idempotency keys of GraphQL mutations (`Idempotency-Key` header): one row per key, team and
 * credential, claimed before the mutation runs and holding its answer afterwards, so a retry gets
 * that answer instead of running the mutation again. Rows stop counting at `expires_at` and are
 * purged by an hourly job (domain/idempotency/idempotency.service.ts).
 */
import { relations } from 'drizzle-orm'
import { index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { teams } from './core.ts'

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

export const idempotencyKeys = pgTable('idempotency_keys', {
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  /**
   * The credential that sent the key, `key:<api key id>` or `user:<sub>`: keys are scoped to it
   * as well as to the team, so one credential never receives an answer (say, a new API key's
   * secret) produced for another.
   */
  principal: text('principal').notNull(),
  /** The client's Idempotency-Key, 1 to 255 characters. */
  key: text('key').notNull(),
  /** Hex SHA-256 of the operation (query text, operation name, variables): a retry must match it. */
  requestHash: text('request_hash').notNull(),
  /** The request that claimed the key: only it may store its answer or release the claim. */
  requestId: text('request_id').notNull(),
  /** in_progress | completed */
  status: text('status').notNull(),
  responseStatus: integer('response_status'),
  responseContentType: text('response_content_type'),
  /** The answer's body, vault-encrypted (it can hold a secret shown once, such as a new API key). */
  responseBody: text('response_body'),
  createdAt: ts('created_at').notNull(),
  /**
   * When the row stops counting: for a claim in progress, the end of its lease (after which its
   * process is presumed dead and a retry may take the key over); once completed, the TTL.
   */
  expiresAt: ts('expires_at').notNull()
}, (t) => [
  primaryKey({ name: 'idempotency_keys_pk', columns: [t.teamId, t.principal, t.key] }),
  // the hourly purge of expired rows
  index('idempotency_keys_expires_at_idx').on(t.expiresAt)
])

export const idempotencyKeysRelations = relations(idempotencyKeys, ({ one }) => ({
  team: one(teams, { fields: [idempotencyKeys.teamId], references: [teams.id] })
}))
