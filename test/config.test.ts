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
  const prodEnv = { ...base, NODE_ENV: 'production', EMBEDDED_IN_PRODUCTION: 'true', ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 1).toString('base64')}` }
  const c = loadConfig(prodEnv)
  t.equal(c.graphql.introspection, false)
  t.equal(c.graphql.graphiql, false)
  t.equal(loadConfig({ ...prodEnv, GRAPHQL_INTROSPECTION: 'true' }).graphql.introspection, true)
})

t.test('production refuses the embedded database unless EMBEDDED_IN_PRODUCTION', async (t) => {
  const prodEnv = { ...base, NODE_ENV: 'production', ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 1).toString('base64')}` }
  t.throws(() => loadConfig(prodEnv), /DATABASE_URL is required when NODE_ENV=production/)
  t.equal(loadConfig({ ...prodEnv, EMBEDDED_IN_PRODUCTION: 'true' }).database.kind, 'pglite')
  t.equal(loadConfig({ ...prodEnv, DATABASE_URL: 'postgres://u@db:5432/sb' }).database.kind, 'postgres')
})

t.test('key and token ceilings: defaults, overrides, and contradictions named', async (t) => {
  const c = loadConfig(base)
  t.equal(c.apiKeys.maxExpiryDays, 365)
  t.equal(c.apiKeys.maxRateLimitRequests, 100 * c.rateLimit.defaultRequests, 'default ceiling is 100 x the default limit')
  t.equal(c.jwt.maxAgeSeconds, 86_400)
  t.equal(loadConfig({ ...base, RATE_LIMIT_REQUESTS: '50' }).apiKeys.maxRateLimitRequests, 5000)
  t.throws(() => loadConfig({ ...base, API_KEY_MAX_EXPIRY_DAYS: '30', API_KEY_DEFAULT_EXPIRY_DAYS: '90' }), /API_KEY_DEFAULT_EXPIRY_DAYS \(90\) must not exceed/)
  t.throws(() => loadConfig({ ...base, API_KEY_MAX_RATE_LIMIT: '10', RATE_LIMIT_REQUESTS: '100' }), /API_KEY_MAX_RATE_LIMIT/)
})

t.test('CORS_ORIGINS: exact origins, a lone *, anything else named', async (t) => {
  t.same(loadConfig(base).corsOrigins, [], 'off by default')
  t.same(loadConfig({ ...base, CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
  t.same(loadConfig({ ...base, CORS_ORIGINS: '*' }).corsOrigins, ['*'])
  t.throws(() => loadConfig({ ...base, CORS_ORIGINS: '*,https://a.example' }), /must stand alone/)
  t.throws(() => loadConfig({ ...base, CORS_ORIGINS: 'https://a.example/path' }), /is not an origin/)
  t.throws(() => loadConfig({ ...base, CORS_ORIGINS: 'ftp://a.example' }), /is not an origin/)
})

t.test('OUTBOUND_ALLOW_PRIVATE is off by default', async (t) => {
  t.equal(loadConfig(base).outbound.allowPrivate, false)
  t.equal(loadConfig({ ...base, OUTBOUND_ALLOW_PRIVATE: 'true' }).outbound.allowPrivate, true)
})
