/**
 * The one place that reads the environment. `loadConfig` parses every variable once,
 * collects every problem, and throws a single ConfigError naming all bad variables.
 * Every variable here is documented in README.md's configuration table.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'

export type NodeEnv = 'development' | 'production' | 'test'

export interface Config {
  nodeEnv: NodeEnv
  host: string
  port: number
  logLevel: string
  /** Fastify's per-request "incoming request" / "request completed" lines (the request_logs table records every call either way). */
  logRequests: boolean
  trustProxy: boolean
  shutdownGraceMs: number
  requestTimeoutMs: number
  database:
    | { kind: 'pglite'; dataDir: string; migrateOnStart: true }
    | { kind: 'postgres'; url: string; poolSize: number; migrateOnStart: boolean; connectTimeoutMs?: number }
  /** NODE_ENV=production on the embedded database was allowed explicitly (EMBEDDED_IN_PRODUCTION). */
  embeddedInProduction: boolean
  /** Where embedded-mode files live (PGlite store, generated dev secrets). */
  dataDir: string
  redisUrl: string | undefined
  /** Longest a Redis command may take before the caller fails open (a hung Redis, not only a refused one). */
  redisCommandTimeoutMs: number
  /** Browser origins allowed by CORS; empty = CORS off (no Access-Control-* headers). */
  corsOrigins: string[]
  /** The one outbound guard for URLs that a team or a caller supplies (src/connectors/outbound/). */
  outbound: {
    /** Lift the private/loopback address rule (local development and tests only; warned at start). */
    allowPrivate: boolean
  }
  /** Idempotency-Key handling for mutations: how long a key and its stored response are kept. */
  idempotency: { ttlSeconds: number }
  jwt: {
    /** HS256 secret; undefined when a JWKS URL is used instead. */
    secret: Uint8Array | undefined
    /** Whether the secret was generated into dataDir for local use (warned at boot). */
    secretGenerated: boolean
    jwksUrl: string | undefined
    issuer: string | undefined
    audience: string | undefined
    teamClaim: string
    /** Longest lifetime accepted for a token (exp − iat, or exp − now without iat), in seconds. */
    maxAgeSeconds: number
  }
  apiKeys: {
    /** How long a verified key stays in the in-process cache; bounds revocation delay on other instances. */
    cacheTtlMs: number
    defaultExpiryDays: number
    /** Ceiling for any key's expiry, in days from its creation or update. */
    maxExpiryDays: number
    /** Ceiling for any key's `rateLimit.requests` (default 100 × RATE_LIMIT_REQUESTS). */
    maxRateLimitRequests: number
    usageFlushMs: number
  }
  rateLimit: {
    defaultRequests: number
    defaultWindowMs: number
    /** Failed authentications allowed per IP per minute before 429, checked before any database lookup. */
    authFailuresPerMinute: number
    /** `always`: x-ratelimit-limit/-remaining/-reset on every limited response; `exceeded`: only with a 429. */
    headers: 'always' | 'exceeded'
  }
  graphql: {
    maxDepth: number
    maxCost: number
    maxAliases: number
    maxTokens: number
    /** Characters of query text accepted, checked before the text is parsed. */
    maxQueryLength: number
    bodyLimit: number
    defaultPageSize: number
    maxPageSize: number
    introspection: boolean
    graphiql: boolean
  }
  /** Token vault keyring, newest key first (ENCRYPTION_KEYS or a generated dev key file). */
  encryption: {
    keys: Array<{ version: number, key: Buffer }>
    /** True when the key was generated into dataDir for local use (warned at boot). */
    generated: boolean
  }
  integrations: IntegrationsConfig
  requestLog: RequestLogConfig
  jobs: {
    /** Start pg-boss (background jobs, schedules). Off by default under NODE_ENV=test. */
    enabled: boolean
    pollingIntervalSeconds: number
  }
  metrics: {
    /** Bearer token GET /metrics requires; undefined = the endpoint is not served. */
    token: string | undefined
  }
}

/** The request-log writer (inbound and outbound call rows) and its retention. */
export interface RequestLogConfig {
  /** Write request_logs rows (metrics are kept either way). */
  enabled: boolean
  retentionDays: number
  /** Flush the buffer at least this often… */
  flushMs: number
  /** …or as soon as this many rows are waiting; also the rows per INSERT/COPY. */
  batchSize: number
  /** Rows kept in memory while the database is slow or down; beyond it rows are dropped and counted. */
  maxBuffer: number
}

/** Provider connections: OAuth apps, URL overrides, the callback base URL, refresh timing. */
export interface IntegrationsConfig {
  /** Public base URL of this server; the OAuth redirect URI is `${publicUrl}/oauth/callback/<provider>`. */
  publicUrl: string
  /** Allowed `redirectTo` targets of startOAuth: exact origins, or origin + path prefix. */
  redirectAllowList: string[]
  /** Per provider id: a base URL that replaces the origin of every provider URL, or one URL per name. */
  providerUrlOverrides: Record<string, string | Record<string, string>>
  /** Per provider id (from `<PROVIDER>_CLIENT_ID` / `_CLIENT_SECRET`): the deployment's OAuth app. */
  providerApps: Record<string, { clientId: string, clientSecret: string | undefined }>
  /** Per provider id (`<PROVIDER>_TOKEN_LIFETIME_SECONDS`): lifetime for token responses without expires_in. */
  tokenLifetimes: Record<string, number>
  stateTtlSeconds: number
  refreshMarginSeconds: number
  /** Upstream timeout for token, revoke and account calls, and per attempt of a connector call. */
  providerTimeoutMs: number
  connectors: ConnectorConfig
}

/** The shared outbound client of the connectors (src/connectors/outbound/): retries, breaker, governor, file fetches. */
export interface ConnectorConfig {
  /** Attempts per provider call, the first included (retries only on network errors, 408, 429, 5xx). */
  maxAttempts: number
  /** Decorrelated-jitter exponential backoff between attempts (cockatiel ExponentialBackoff). */
  backoffInitialMs: number
  backoffMaxMs: number
  /** Consecutive failed attempts (5xx, network, timeout) of one provider+integration that open its circuit. */
  breakerThreshold: number
  /** How long an open circuit refuses calls before one probe is let through. */
  breakerHalfOpenMs: number
  /** Longest a call waits in the per-integration governor queue (rate budget or Retry-After) before RATE_LIMIT_EXCEEDED. */
  maxQueueWaitMs: number
  /** Largest file downloaded from a caller-given URL (saveToCloudStorage, publishMockup sources). */
  fileMaxBytes: number
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type Env = Record<string, string | undefined>

/** Collects problems while reading typed values, so every bad variable is reported at once. */
class EnvReader {
  readonly problems: string[] = []
  readonly env: Env
  constructor (env: Env) { this.env = env }

  str (name: string, fallback?: string): string | undefined {
    const v = this.env[name]
    return v === undefined || v === '' ? fallback : v
  }

  int (name: string, fallback: number, min: number, max: number): number {
    const raw = this.str(name)
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`)
      return fallback
    }
    return n
  }

  bool (name: string, fallback: boolean): boolean {
    const raw = this.str(name)
    if (raw === undefined) return fallback
    if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true
    if (['false', '0', 'no'].includes(raw.toLowerCase())) return false
    this.problems.push(`${name} must be true or false (got "${raw}")`)
    return fallback
  }

  oneOf<T extends string> (name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.str(name)
    if (raw === undefined) return fallback
    if ((allowed as readonly string[]).includes(raw)) return raw as T
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`)
    return fallback
  }

  url (name: string, protocols: string[]): string | undefined {
    const raw = this.str(name)
    if (raw === undefined) return undefined
    try {
      const u = new URL(raw)
      if (!protocols.includes(u.protocol)) throw new Error('protocol')
      return raw
    } catch {
      this.problems.push(`${name} must be a ${protocols.join(' or ')} URL`)
      return undefined
    }
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export function loadConfig (env: Env = process.env): Config {
  const r = new EnvReader(env)
  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development')
  const production = nodeEnv === 'production'
  const dataDir = resolve(r.str('DATA_DIR', './data')!)

  const databaseUrl = r.url('DATABASE_URL', ['postgres:', 'postgresql:'])
  const poolSize = r.int('DATABASE_POOL_SIZE', 10, 1, 100)
  const migrateOnStart = r.bool('MIGRATE_ON_START', false)
  const connectTimeoutMs = r.int('DATABASE_CONNECT_TIMEOUT_MS', 1000, 100, 60_000)
  const database: Config['database'] = databaseUrl !== undefined
    ? { kind: 'postgres', url: databaseUrl, poolSize, migrateOnStart, connectTimeoutMs }
    : { kind: 'pglite', dataDir: join(dataDir, 'pglite'), migrateOnStart: true }
  const embeddedInProduction = r.bool('EMBEDDED_IN_PRODUCTION', false)
  if (production && database.kind === 'pglite' && !embeddedInProduction) {
    r.problems.push('DATABASE_URL is required when NODE_ENV=production: the embedded PGlite database runs with fsync off and is not crash-durable (set EMBEDDED_IN_PRODUCTION=true to accept that)')
  }

  const jwtSecretRaw = r.str('JWT_SECRET')
  const jwksUrl = r.url('JWT_JWKS_URL', ['https:', 'http:'])
  let secret: Uint8Array | undefined
  let secretGenerated = false
  if (jwtSecretRaw !== undefined) {
    if (jwtSecretRaw.length < 32) r.problems.push('JWT_SECRET must be at least 32 characters')
    else secret = new TextEncoder().encode(jwtSecretRaw)
  } else if (jwksUrl === undefined && r.str('JWT_JWKS_URL') === undefined) {
    if (production) {
      r.problems.push('JWT_SECRET or JWT_JWKS_URL is required when NODE_ENV=production')
    } else {
      secret = new TextEncoder().encode(localSecret(dataDir, 'jwt-secret'))
      secretGenerated = true
    }
  }
  if (jwksUrl !== undefined && (r.str('JWT_ISSUER') === undefined || r.str('JWT_AUDIENCE') === undefined)) {
    r.problems.push('JWT_ISSUER and JWT_AUDIENCE are required with JWT_JWKS_URL')
  }

  const cacheTtlMs = r.int('API_KEY_CACHE_TTL_MS', 4000, 0, 5000)
  const defaultRequests = r.int('RATE_LIMIT_REQUESTS', 1000, 1, 10_000_000)
  const maxExpiryDays = r.int('API_KEY_MAX_EXPIRY_DAYS', 365, 1, 3650)
  const defaultExpiryDays = r.int('API_KEY_DEFAULT_EXPIRY_DAYS', Math.min(90, maxExpiryDays), 1, 3650)
  if (defaultExpiryDays > maxExpiryDays) r.problems.push(`API_KEY_DEFAULT_EXPIRY_DAYS (${defaultExpiryDays}) must not exceed API_KEY_MAX_EXPIRY_DAYS (${maxExpiryDays})`)
  const maxRateLimitRequests = r.int('API_KEY_MAX_RATE_LIMIT', Math.min(defaultRequests * 100, 1_000_000_000), 1, 1_000_000_000)
  if (maxRateLimitRequests < defaultRequests) r.problems.push(`API_KEY_MAX_RATE_LIMIT (${maxRateLimitRequests}) must not be below RATE_LIMIT_REQUESTS (${defaultRequests})`)
  const maxPageSize = r.int('GRAPHQL_MAX_PAGE_SIZE', 100, 1, 1000)

  const encryption = encryptionKeys(r, production, dataDir)
  const port = r.int('PORT', 3000, 0, 65535)
  const integrations = integrationsConfig(r, env, production, port)

  const config: Config = {
    nodeEnv,
    host: r.str('HOST', '127.0.0.1')!,
    port,
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'silent' : 'info'),
    logRequests: r.bool('LOG_REQUESTS', false),
    trustProxy: r.bool('TRUST_PROXY', false),
    shutdownGraceMs: r.int('SHUTDOWN_GRACE_MS', 10_000, 100, 60_000),
    requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
    database,
    dataDir,
    embeddedInProduction,
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    redisCommandTimeoutMs: r.int('REDIS_COMMAND_TIMEOUT_MS', 50, 5, 10_000),
    corsOrigins: corsOrigins(r),
    outbound: { allowPrivate: r.bool('OUTBOUND_ALLOW_PRIVATE', false) },
    idempotency: { ttlSeconds: r.int('IDEMPOTENCY_TTL_SECONDS', 86_400, 60, 7 * 86_400) },
    jwt: {
      secret,
      secretGenerated,
      jwksUrl,
      issuer: r.str('JWT_ISSUER'),
      audience: r.str('JWT_AUDIENCE'),
      teamClaim: r.str('JWT_TEAM_CLAIM', 'team_id')!,
      maxAgeSeconds: r.int('JWT_MAX_AGE', 86_400, 60, 30 * 86_400)
    },
    apiKeys: {
      cacheTtlMs,
      defaultExpiryDays,
      maxExpiryDays,
      maxRateLimitRequests,
      usageFlushMs: r.int('API_KEY_USAGE_FLUSH_MS', 2000, 50, 60_000)
    },
    rateLimit: {
      defaultRequests,
      defaultWindowMs: r.int('RATE_LIMIT_WINDOW_MS', 60_000, 1000, 86_400_000),
      authFailuresPerMinute: r.int('AUTH_FAILURES_PER_MINUTE', 100, 1, 100_000),
      headers: r.oneOf('RATE_LIMIT_HEADERS', ['always', 'exceeded'] as const, 'exceeded')
    },
    graphql: {
      maxDepth: r.int('GRAPHQL_MAX_DEPTH', 10, 2, 50),
      maxCost: r.int('GRAPHQL_MAX_COST', 5000, 10, 1_000_000),
      maxAliases: r.int('GRAPHQL_MAX_ALIASES', 15, 1, 1000),
      maxTokens: r.int('GRAPHQL_MAX_TOKENS', 2000, 100, 100_000),
      maxQueryLength: r.int('GRAPHQL_MAX_QUERY_LENGTH', 15_000, 100, 1_000_000),
      bodyLimit: r.int('GRAPHQL_BODY_LIMIT', 256 * 1024, 1024, 10 * 1024 * 1024),
      defaultPageSize: Math.min(r.int('GRAPHQL_DEFAULT_PAGE_SIZE', 20, 1, 1000), maxPageSize),
      maxPageSize,
      introspection: r.bool('GRAPHQL_INTROSPECTION', !production),
      graphiql: r.bool('GRAPHQL_GRAPHIQL', !production)
    },
    encryption,
    integrations,
    requestLog: {
      enabled: r.bool('REQUEST_LOG_ENABLED', true),
      retentionDays: r.int('REQUEST_LOG_RETENTION_DAYS', 30, 1, 3650),
      flushMs: r.int('REQUEST_LOG_FLUSH_MS', 250, 10, 60_000),
      batchSize: r.int('REQUEST_LOG_BATCH_SIZE', 500, 1, 10_000),
      maxBuffer: r.int('REQUEST_LOG_MAX_BUFFER', 50_000, 1, 10_000_000)
    },
    jobs: {
      enabled: r.bool('JOBS_ENABLED', nodeEnv !== 'test'),
      pollingIntervalSeconds: r.int('JOBS_POLL_INTERVAL_SECONDS', 10, 1, 300)
    },
    metrics: { token: metricsToken(r) }
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems)
  return config
}

/**
 * ENCRYPTION_KEYS = `<version>:<base64 32 bytes>` entries, comma-separated, newest first
 * (e.g. `2:…,1:…`): writes use the first, reads accept all. Without it production refuses to
 * start; elsewhere a key is generated once into `<DATA_DIR>/encryption-key` (warned at boot).
 */
function encryptionKeys (r: EnvReader, production: boolean, dataDir: string): Config['encryption'] {
  let raw = r.str('ENCRYPTION_KEYS')
  let generated = false
  if (raw === undefined) {
    if (production) {
      r.problems.push('ENCRYPTION_KEYS is required when NODE_ENV=production (generate one: node -e "console.log(\'1:\'+require(\'crypto\').randomBytes(32).toString(\'base64\'))")')
      return { keys: [], generated: false }
    }
    raw = `1:${localSecret(dataDir, 'encryption-key', () => randomBytes(32).toString('base64'))}`
    generated = true
  }
  const keys: Config['encryption']['keys'] = []
  for (const entry of raw.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const m = /^(\d{1,6}):(.+)$/.exec(entry)
    const key = m === null ? undefined : Buffer.from(m[2]!, 'base64')
    if (m === null || key === undefined || key.length !== 32) {
      r.problems.push('ENCRYPTION_KEYS entries must be <version>:<base64 of exactly 32 bytes>')
      continue
    }
    const version = Number(m[1])
    if (version < 1 || keys.some((k) => k.version === version)) r.problems.push(`ENCRYPTION_KEYS has a duplicate or zero version ${version}`)
    keys.push({ version, key })
  }
  if (keys.length === 0 && !r.problems.some((p) => p.startsWith('ENCRYPTION_KEYS'))) r.problems.push('ENCRYPTION_KEYS holds no key')
  return { keys, generated }
}

function integrationsConfig (r: EnvReader, env: Env, production: boolean, port: number): IntegrationsConfig {
  const publicUrl = (r.url('PUBLIC_URL', ['https:', 'http:']) ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '')
  const allowRaw = r.str('OAUTH_REDIRECT_ALLOWLIST')
  const redirectAllowList: string[] = []
  for (const entry of (allowRaw ?? (production ? '' : new URL(publicUrl).origin)).split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    try {
      const u = new URL(entry)
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('protocol')
      if (production && u.protocol !== 'https:') r.problems.push(`OAUTH_REDIRECT_ALLOWLIST entry ${entry} must be https in production`)
      redirectAllowList.push(u.pathname === '/' && !entry.endsWith('/') ? u.origin : u.origin + u.pathname)
    } catch {
      r.problems.push(`OAUTH_REDIRECT_ALLOWLIST entry "${entry}" is not an http(s) URL`)
    }
  }
  let providerUrlOverrides: IntegrationsConfig['providerUrlOverrides'] = {}
  const overridesRaw = r.str('PROVIDER_URL_OVERRIDES')
  if (overridesRaw !== undefined) {
    try {
      const parsed = JSON.parse(overridesRaw) as unknown
      const valid = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) &&
        Object.values(parsed).every((v) => typeof v === 'string' || (typeof v === 'object' && v !== null && Object.values(v).every((u) => typeof u === 'string')))
      if (!valid) throw new Error('shape')
      providerUrlOverrides = parsed as IntegrationsConfig['providerUrlOverrides']
    } catch {
      r.problems.push('PROVIDER_URL_OVERRIDES must be JSON: {"<provider>": "<base url>" | {"<urlName>": "<url>"}}')
    }
  }
  const providerApps: IntegrationsConfig['providerApps'] = {}
  const tokenLifetimes: IntegrationsConfig['tokenLifetimes'] = {}
  for (const name of Object.keys(env)) {
    const app = /^([A-Z][A-Z0-9_]*)_CLIENT_ID$/.exec(name)
    if (app !== null && r.str(name) !== undefined) {
      providerApps[app[1]!.toLowerCase()] = { clientId: r.str(name)!, clientSecret: r.str(`${app[1]!}_CLIENT_SECRET`) }
    }
    const life = /^([A-Z][A-Z0-9_]*)_TOKEN_LIFETIME_SECONDS$/.exec(name)
    if (life !== null) tokenLifetimes[life[1]!.toLowerCase()] = r.int(name, 7200, 60, 31_536_000)
  }
  return {
    publicUrl,
    redirectAllowList,
    providerUrlOverrides,
    providerApps,
    tokenLifetimes,
    stateTtlSeconds: r.int('OAUTH_STATE_TTL_SECONDS', 600, 60, 3600),
    refreshMarginSeconds: r.int('TOKEN_REFRESH_MARGIN_SECONDS', 900, 60, 86_400),
    providerTimeoutMs: r.int('PROVIDER_TIMEOUT_MS', 10_000, 50, 120_000),
    connectors: {
      maxAttempts: r.int('CONNECTOR_MAX_ATTEMPTS', 4, 1, 10),
      backoffInitialMs: r.int('CONNECTOR_BACKOFF_INITIAL_MS', 128, 1, 60_000),
      backoffMaxMs: r.int('CONNECTOR_BACKOFF_MAX_MS', 30_000, 1, 300_000),
      breakerThreshold: r.int('CONNECTOR_BREAKER_THRESHOLD', 5, 1, 1000),
      breakerHalfOpenMs: r.int('CONNECTOR_BREAKER_HALF_OPEN_MS', 10_000, 10, 600_000),
      maxQueueWaitMs: r.int('CONNECTOR_MAX_QUEUE_WAIT_MS', 30_000, 0, 600_000),
      fileMaxBytes: r.int('CONNECTOR_FILE_MAX_BYTES', 50 * 1024 * 1024, 1024, 1024 * 1024 * 1024)
    }
  }
}

/**
 * CORS_ORIGINS: comma-separated exact origins (`https://app.example.com`) allowed to call the API
 * from a browser. Unset = CORS off. `*` is accepted only alone, and then credentials are never allowed.
 */
function corsOrigins (r: EnvReader): string[] {
  const raw = r.str('CORS_ORIGINS')
  if (raw === undefined) return []
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '')
  if (entries.includes('*')) {
    if (entries.length > 1) r.problems.push('CORS_ORIGINS: "*" must stand alone')
    return ['*']
  }
  const origins: string[] = []
  for (const entry of entries) {
    try {
      const u = new URL(entry)
      if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== entry.replace(/\/$/, '')) throw new Error('not an origin')
      origins.push(u.origin)
    } catch {
      r.problems.push(`CORS_ORIGINS entry "${entry}" is not an origin (scheme://host[:port])`)
    }
  }
  return origins
}

/** METRICS_TOKEN: a bearer token long enough not to be guessed; unset = no /metrics endpoint. */
function metricsToken (r: EnvReader): string | undefined {
  const token = r.str('METRICS_TOKEN')
  if (token !== undefined && token.length < 16) {
    r.problems.push('METRICS_TOKEN must be at least 16 characters')
    return undefined
  }
  return token
}

/**
 * A secret generated once into the data directory for local development, so `npm start`
 * needs no set-up. Never used in production (loadConfig refuses to start there instead).
 */
function localSecret (dataDir: string, name: string, generate = (): string => randomBytes(32).toString('base64url')): string {
  const file = join(dataDir, name)
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dataDir, { recursive: true })
  const value = generate()
  writeFileSync(file, value + '\n', { mode: 0o600 })
  return value
}
