/**
 * GET /metrics in Prometheus text format. Served only when METRICS_TOKEN is set, and only to a
 * scraper presenting it as `Authorization: Bearer <token>` (constant-time comparison).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { AppError } from '../errors.ts'

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

export const metricsRoutes: FastifyPluginAsync<{ token: string | undefined }> = async (app, { token }) => {
  if (token === undefined) return
  const expected = digest(token)
  app.get('/metrics', async (req, reply) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
    if (match === null || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new AppError('UNAUTHENTICATED', 'A valid metrics token is required')
    }
    const { registry } = app.metrics
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}
