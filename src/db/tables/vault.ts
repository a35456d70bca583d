/**
 * The vault's record of which encryption keys this database was written with. Keys live outside
 * the database (ENCRYPTION_KEYS); this table keeps only a check value per key version, so a start
 * with another key under a known version (a mistyped variable, a lost development key file that
 * was silently generated again) is refused before anything is encrypted with the wrong key.
 */
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

export const vaultKeys = pgTable('vault_keys', {
  /** The key's version in ENCRYPTION_KEYS (`<version>:<base64 key>`). */
  version: integer('version').primaryKey(),
  /**
   * base64url HMAC-SHA256 of a fixed label under the key: proves a configured key is the one
   * recorded, and cannot be turned back into the key.
   */
  check: text('check').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
})
