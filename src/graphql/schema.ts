/** The executable schema: every SDL file under schema/ plus the resolvers named after them. */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { makeExecutableSchema } from '@graphql-tools/schema'
import { DateTimeResolver, JSONResolver } from 'graphql-scalars'
import type { GraphQLSchema } from 'graphql'
import { apiKeyResolvers } from './resolvers/api-keys.ts'
import { baseResolvers } from './resolvers/base.ts'
import { integrationResolvers } from './resolvers/integrations.ts'
import { oauthResolvers } from './resolvers/oauth.ts'
import { operationResolvers } from './resolvers/operations.ts'
import { requestLogResolvers } from './resolvers/request-logs.ts'

const SCHEMA_DIR = fileURLToPath(new URL('../../schema/', import.meta.url))

export function loadTypeDefs (): string[] {
  // base.graphql first: it declares the root types the others extend
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.graphql')).sort((a, b) => (a === 'base.graphql' ? -1 : b === 'base.graphql' ? 1 : a.localeCompare(b)))
  return files.map((f) => readFileSync(SCHEMA_DIR + f, 'utf8'))
}

export function buildSchema (): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: loadTypeDefs(),
    resolvers: [{ DateTime: DateTimeResolver, JSON: JSONResolver }, baseResolvers, apiKeyResolvers, requestLogResolvers, integrationResolvers, oauthResolvers, operationResolvers]
  })
}
