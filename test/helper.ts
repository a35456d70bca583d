/**
 * Shared test set-up. Each test file gets its own real database:
 * - PGlite in memory by default;
 * - with DATABASE_URL set, a fresh PostgreSQL database created for the file (and dropped after),
 *   so files can run in parallel against one server.
 * `build(t)` returns the same app the server runs (buildApp), plus helpers to call it.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import { openDatabase, type Database } from '../src/db/client.ts'
import type { Clock } from '../src/domain/clock.ts'

export const JWT_SECRET = 'test-secret-that-is-at-least-32-characters-long'
/**
 * One vault key for every app a test builds: apps sharing a database must share its key (the
 * keyring check refuses another key), as the instances of one deployment do.
 */
export const TEST_ENCRYPTION_KEYS = `1:${Buffer.alloc(32, 42).toString('base64')}`

// Only this file reads the test process's environment, to pick the database under test.
const POSTGRES_URL = process.env.DATABASE_URL

export const dbKind = POSTGRES_URL === undefined ? 'pglite' : 'postgres'

interface Tap {
  teardown(fn: () => unknown): void
}

export function testConfig (env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-test-')),
    ...(POSTGRES_URL !== undefined && { DATABASE_URL: POSTGRES_URL }),
    ...env
  })
}

/** A migrated, empty database of the kind under test, closed (and dropped) at teardown. */
export async function testDatabase (t: Tap): Promise<{ database: Database, url: string | undefined }> {
  if (POSTGRES_URL === undefined) {
    const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://', migrateOnStart: true })
    await database.migrate()
    t.teardown(() => database.close())
    return { database, url: undefined }
  }
  const { default: postgres } = await import('postgres')
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} })
  const name = `sb_test_${process.pid}_${randomBytes(4).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  const url = new URL(POSTGRES_URL)
  url.pathname = `/${name}`
  const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 5, migrateOnStart: false })
  await database.migrate()
  t.teardown(async () => {
    await database.close()
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  })
  return { database, url: url.toString() }
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  database: Database
  /** POST /graphql with a credential (API key or JWT). */
  gql: (query: string, opts?: { variables?: Record<string, unknown>, auth?: string, headers?: Record<string, string> }) => Promise<GqlResponse>
  /** A new team with an `admin:full` API key. */
  seedTeam: (name?: string) => Promise<{ teamId: string, adminKey: string, adminKeyId: string }>
  /** An API key with exactly these scopes in a team. */
  keyWith: (teamId: string, scopes: string[], extra?: { rateLimit?: { requests: number, windowMs: number } }) => Promise<{ key: string, id: string }>
}

export interface GqlResponse {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: { data?: Record<string, any> | null, errors?: Array<{ message: string, path?: string[], extensions: { code: string, requestId: string, [k: string]: unknown } }> }
}

export async function build (t: Tap, opts: { env?: Record<string, string>, clock?: Clock, app?: Omit<BuildOptions, 'database' | 'clock'> } = {}): Promise<TestApp> {
  const config = testConfig(opts.env)
  const { database } = await testDatabase(t)
  const app = await buildApp(config, { database, ...(opts.clock !== undefined && { clock: opts.clock }), ...opts.app })
  t.teardown(() => app.close())
  await app.ready()

  const gql: TestApp['gql'] = async (query, o = {}) => {
    const res = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: {
        'content-type': 'application/json',
        ...(o.auth !== undefined && { authorization: `Bearer ${o.auth}` }),
        ...o.headers
      },
      payload: JSON.stringify({ query, variables: o.variables })
    })
    return { status: res.statusCode, headers: res.headers, body: res.json() }
  }

  const keyWith: TestApp['keyWith'] = async (teamId, scopes, extra = {}) => {
    const { secret, apiKey } = await app.services.apiKeys.createForTeam(teamId, { name: `test ${scopes.join(',')}`, scopes, ...extra }, { type: 'system', id: 'test' })
    return { key: secret, id: apiKey.id }
  }

  const seedTeam: TestApp['seedTeam'] = async (name = 'team') => {
    const team = await app.services.teams.create(name)
    if (!team.ok) throw team.error
    const { key, id } = await keyWith(team.value.id, ['admin:full'])
    return { teamId: team.value.id, adminKey: key, adminKeyId: id }
  }

  return { app, config, database, gql, seedTeam, keyWith }
}

/** A user JWT as the identity provider would sign it. */
export async function signToken (claims: { sub: string, team: string, role?: string, scopes?: string[] | string }, secret = JWT_SECRET, expiresIn = '1h'): Promise<string> {
  const { sub, team, ...rest } = claims
  return new SignJWT({ team_id: team, ...rest })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret))
}

/** A clock tests can move forward. */
export function testClock (start = new Date()): Clock & { advance(ms: number): void } {
  let now = start.getTime()
  return { now: () => new Date(now), advance (ms: number) { now += ms } }
}

/** A loopback port free right now, for a server process a test spawns. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}
