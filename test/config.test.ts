import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

const base = { NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), DATA_DIR: '/tmp/sb-config-test' }

t.test('defaults: embedded PGlite under DATA_DIR, documented limits', async (t) => {
  const c = loadConfig(base)
  t.equal(c.database.kind, 'pglite')
  t.equal(c.port, 3000)
  t.equal(c.graphql.maxDepth, 10)
  t.equal(c.graphql.maxCost, 5000)
  t.equal(c.graphql.maxAliases, 15)
  t.equal(c.graphql.bodyLimit, 256 * 1024)
  t.equal(c.graphql.defaultPageSize, 20)
  t.equal(c.graphql.maxPageSize, 100)
  t.equal(c.apiKeys.defaultExpiryDays, 90)
  t.ok(c.apiKeys.cacheTtlMs <= 5000, 'revocation reaches other instances within 5 s')
})

t.test('DATABASE_URL selects postgres.js', async (t) => {
  const c = loadConfig({ ...base, DATABASE_URL: 'postgres://u@db:5432/sb', MIGRATE_ON_START: 'true' })
  t.match(c.database, { kind: 'postgres', url: 'postgres://u@db:5432/sb', migrateOnStart: true })
})

t.test('every bad variable is named in one error', async (t) => {
  try {
    loadConfig({ ...base, PORT: 'eighty', DATABASE_URL: 'mysql://x', GRAPHQL_MAX_DEPTH: '0', LOG_LEVEL: 'loud', JWT_SECRET: 'short', API_KEY_CACHE_TTL_MS: '60000' })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    const message = (err as ConfigError).message
    for (const name of ['PORT', 'DATABASE_URL', 'GRAPHQL_MAX_DEPTH', 'LOG_LEVEL', 'JWT_SECRET', 'API_KEY_CACHE_TTL_MS']) {
      t.match(message, name, `names ${name}`)
    }
    t.equal((err as ConfigError).problems.length, 6)
  }
})

t.test('production needs a JWT secret or JWKS', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: '/tmp/sb-config-test' }), /JWT_SECRET or JWT_JWKS_URL is required/)
  t.throws(() => loadConfig({ ...base, JWT_SECRET: undefined as unknown as string, JWT_JWKS_URL: 'https://idp.example/jwks.json' }), /JWT_ISSUER and JWT_AUDIENCE are required/)
})

t.test('production turns introspection and GraphiQL off unless enabled', async (t) => {
  const prodEnv = { ...base, NODE_ENV: 'production', ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 1).toString('base64')}` }
  const c = loadConfig(prodEnv)
  t.equal(c.graphql.introspection, false)
  t.equal(c.graphql.graphiql, false)
  t.equal(loadConfig({ ...prodEnv, GRAPHQL_INTROSPECTION: 'true' }).graphql.introspection, true)
})
