/**
 * The servers compared by the gateway benchmark. Each answers `POST /graphql` with the same
 * query, `{ scopes { name description } }`, from the same resolver (src/graphql/resolvers/base.ts,
 * which reads SCOPES). The GraphQL peers run Switchboard's own executable schema
 * (src/graphql/schema.ts), so parsing and validation see the same SDL; they have no auth.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import mercurius from 'mercurius'
import { baseResolvers } from '../../src/graphql/resolvers/base.ts'
import { buildSchema } from '../../src/graphql/schema.ts'

export const QUERY = '{ scopes { name description } }'
export const REQUEST_BODY = JSON.stringify({ query: QUERY })

export const SERVER_KINDS = ['fastify', 'mercurius', 'switchboard', 'switchboard-nolog', 'apollo', 'yoga'] as const
export type ServerKind = typeof SERVER_KINDS[number]

export function isServerKind (s: string): s is ServerKind {
  return (SERVER_KINDS as readonly string[]).includes(s)
}

/** What every server must answer, byte for byte once parsed. */
export function expectedData (): unknown {
  return { data: { scopes: baseResolvers.Query.scopes() } }
}

export interface BenchServer {
  /** Headers every request must carry (the API key for Switchboard). */
  headers: Record<string, string>
  /** The Fastify instance, when there is one (for in-process `inject`). */
  fastify?: FastifyInstance
  listen(): Promise<number>
  close(): Promise<void>
}

function fastifyServer (app: FastifyInstance, headers: Record<string, string> = {}, close?: () => Promise<void>): BenchServer {
  return {
    headers,
    fastify: app,
    async listen () {
      await app.listen({ host: '127.0.0.1', port: 0 })
      return (app.server.address() as AddressInfo).port
    },
    async close () {
      await app.close()
      await close?.()
    }
  }
}

/** (a) The physical bound: a Fastify JSON route returning the same data, no GraphQL. */
export async function bareFastify (): Promise<BenchServer> {
  const app = Fastify({ logger: false })
  app.post('/graphql', async () => ({ data: { scopes: baseResolvers.Query.scopes() } }))
  await app.ready()
  return fastifyServer(app)
}

/**
 * (b) Mercurius with jit, Switchboard's schema and resolvers, nothing else. `switchboardLogger`
 * gives it Switchboard's pino options (redaction paths) at level silent, to isolate their cost.
 */
export async function bareMercurius (opts: { switchboardLogger?: boolean } = {}): Promise<BenchServer> {
  const { loggerOptions } = await import('../../src/logger.ts')
  const app = Fastify(opts.switchboardLogger === true ? { logger: loggerOptions({ logLevel: 'silent' }) } : { logger: false })
  await app.register(mercurius, { schema: buildSchema(), jit: 1, graphiql: false })
  await app.ready()
  return fastifyServer(app)
}

/**
 * (c, d) The full pipeline from buildApp: API-key auth, scope directive, per-key rate limit (set
 * far above the load), depth/cost limits, request logging when present (`requestLog: false`
 * passes REQUEST_LOG_ENABLED=false). PGlite in memory unless BENCH_DATABASE_URL names a server.
 */
export async function switchboard (opts: { requestLog: boolean }): Promise<BenchServer> {
  const { pgliteDatabase, postgresDatabase } = await import('./database.ts')
  const { seededSwitchboard } = await import('./switchboard.ts')
  const url = process.env.BENCH_DATABASE_URL
  const db = url === undefined || url === '' ? await pgliteDatabase() : await postgresDatabase(url)
  const { app, keys } = await seededSwitchboard(db.database, { env: { REQUEST_LOG_ENABLED: String(opts.requestLog) } })
  return fastifyServer(app, { authorization: `Bearer ${keys[0]!}` }, () => db.dispose())
}

/** (e) Apollo Server 5 on Fastify through @as-integrations/fastify. */
export async function apollo (): Promise<BenchServer> {
  const { ApolloServer } = await import('@apollo/server')
  const { ApolloServerPluginLandingPageDisabled } = await import('@apollo/server/plugin/disabled')
  const { default: fastifyApollo, fastifyApolloDrainPlugin } = await import('@as-integrations/fastify')
  const app = Fastify({ logger: false })
  const server = new ApolloServer({
    schema: buildSchema(),
    introspection: false,
    plugins: [fastifyApolloDrainPlugin(app), ApolloServerPluginLandingPageDisabled()]
  })
  await server.start()
  await app.register(fastifyApollo(server))
  await app.ready()
  return fastifyServer(app)
}

/** (f) GraphQL Yoga 5 on node:http, no auth, no GraphiQL, no logging. */
export async function yoga (): Promise<BenchServer> {
  const { createYoga } = await import('graphql-yoga')
  const handler = createYoga({ schema: buildSchema(), graphiql: false, landingPage: false, logging: false })
  const server: Server = createServer(handler)
  return {
    headers: {},
    listen: () => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
    }),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

export function buildServer (kind: ServerKind): Promise<BenchServer> {
  switch (kind) {
    case 'fastify': return bareFastify()
    case 'mercurius': return bareMercurius()
    case 'switchboard': return switchboard({ requestLog: true })
    case 'switchboard-nolog': return switchboard({ requestLog: false })
    case 'apollo': return apollo()
    case 'yoga': return yoga()
  }
}
