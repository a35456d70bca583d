/**
 * Owns the database connection: opens it (or adopts one a test passed in), migrates when the
 * configuration says so, and closes it last on shutdown.
 */
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { openDatabase, type Database } from '../db/client.ts'

declare module 'fastify' {
  interface FastifyInstance { database: Database }
}

export interface DbPluginOptions { config: Config, database?: Database | undefined }

export const dbPlugin = fp<DbPluginOptions>(async (app, { config, database }) => {
  const owned = database === undefined
  const db = database ?? await openDatabase(config.database, { log: app.log })
  if (owned && config.database.migrateOnStart) await db.migrate()
  app.decorate('database', db)
  app.addHook('onClose', async () => { if (owned) await db.close() })
}, { name: 'switchboard-db', fastify: '5.x' })
