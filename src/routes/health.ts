/** Liveness and readiness for orchestrators; no authentication, no secrets. */
import { sql } from 'drizzle-orm'
import type { FastifyPluginAsync } from 'fastify'

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_req, reply) => {
    let database = 'ok'
    let migrations = 'unknown'
    try {
      await app.database.rows(sql`select 1`)
      migrations = (await app.database.migrationsCurrent()) ? 'current' : 'pending'
    } catch {
      database = 'unreachable'
    }
    const ready = database === 'ok' && migrations === 'current'
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', database, migrations })
  })
}
