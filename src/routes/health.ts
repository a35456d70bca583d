/**
 * Liveness and readiness for orchestrators; no authentication, no secrets. Readiness never hangs:
 * the database check is bounded by the connect timeout, and answers at once while the database is
 * known to be down (db/availability.ts).
 */
import type { FastifyPluginAsync } from 'fastify'
import { DATABASE_RETRY_AFTER_SECONDS } from '../db/errors.ts'

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_req, reply) => {
    let database = 'ok'
    let migrations = 'unknown'
    try {
      await app.database.ping()
      migrations = (await app.database.migrationsCurrent()) ? 'current' : 'pending'
    } catch {
      database = 'unreachable'
    }
    const ready = database === 'ok' && migrations === 'current'
    if (database !== 'ok') reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS))
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', database, migrations })
  })
}
