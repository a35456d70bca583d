/**
 * Switchboard as it runs in production (buildApp from src/app.ts), on a benchmark database, with
 * one team and `admin:full` API keys whose own rate limit is far above any load we generate.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import type { Database } from '../../src/db/client.ts'

export const BENCH_JWT_SECRET = 'bench-secret-that-is-at-least-32-characters-long'

export interface SeededSwitchboard {
  app: FastifyInstance
  teamId: string
  /** Plaintext keys, shown once by createForTeam. */
  keys: string[]
}

/**
 * `env` adds to / overrides the production settings below (e.g. REQUEST_LOG_ENABLED,
 * API_KEY_CACHE_TTL_MS). Nothing is read from this process's environment.
 */
/** One vault key per benchmark process: servers sharing a benchmark database must share its key. */
const BENCH_ENCRYPTION_KEYS = `1:${randomBytes(32).toString('base64')}`

export async function seededSwitchboard (database: Database, opts: { env?: Record<string, string>, keys?: number } = {}): Promise<SeededSwitchboard> {
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    JWT_SECRET: BENCH_JWT_SECRET,
    // Token-vault keyring, required in production; nothing is encrypted by these benchmarks.
    ENCRYPTION_KEYS: BENCH_ENCRYPTION_KEYS,
    // Only used for embedded-mode files; the database is passed in, so nothing is written there.
    DATA_DIR: '/tmp/switchboard-bench',
    // The database is passed in (either kind); this only lets production mode load without DATABASE_URL.
    EMBEDDED_IN_PRODUCTION: 'true',
    RATE_LIMIT_REQUESTS: '10000000',
    ...opts.env
  })
  const app = await buildApp(config, { database })
  await app.ready()
  const team = await app.services.teams.create('bench')
  if (!team.ok) throw team.error
  const keys: string[] = []
  for (let i = 0; i < (opts.keys ?? 1); i++) {
    const { secret } = await app.services.apiKeys.createForTeam(team.value.id, {
      name: `bench ${i}`,
      scopes: ['admin:full'],
      rateLimit: { requests: 10_000_000, windowMs: 60_000 }
    }, { type: 'system', id: 'bench' })
    keys.push(secret)
  }
  return { app, teamId: team.value.id, keys }
}
