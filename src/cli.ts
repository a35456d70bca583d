#!/usr/bin/env node
/**
 * `switchboard` (also `npm run cli --`): operator commands against the configured database.
 *   migrate                                   apply pending migrations
 *   teams create <name>                       create a team
 *   keys create --team <id> --name <n> --scopes <a,b> [--expires-in-days N]
 *   token --team <id> --user <id> --role <r> [--expires-in 1h]   sign a dev JWT with JWT_SECRET
 *   rotate-keys                               re-encrypt every stored secret under the newest ENCRYPTION_KEYS key
 * Every command takes --json for machine-readable output. On the embedded database the CLI
 * refuses to open ./data while a server holds it (DataDirLockedError), instead of corrupting it.
 */
import { parseArgs } from 'node:util'
import { SignJWT } from 'jose'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { openDatabase, type Database } from './db/client.ts'
import { DataDirLockedError } from './db/data-dir-lock.ts'
import { ApiKeyService } from './domain/api-keys/api-key.service.ts'
import { ApiKeyVerifier } from './domain/api-keys/api-key-verifier.ts'
import { isScope } from './domain/auth/scopes.ts'
import { systemClock } from './domain/clock.ts'
import { TeamService } from './domain/teams/team.service.ts'
import { rotateKeys } from './cli/rotate-keys.ts'

class UsageError extends Error {}

const USAGE = `usage: switchboard <command> [--json]
  migrate
  teams create <name>
  keys create --team <id> --name <name> --scopes <scope,scope> [--expires-in-days <n>]
  token --team <id> --user <id> --role <owner|admin|member|operator> [--expires-in <1h>]
  rotate-keys`

type Output = { json: Record<string, unknown>, text: string }

async function withDatabase<T> (config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config.database)
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

async function run (argv: string[], config: Config): Promise<Output> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      team: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      user: { type: 'string' },
      role: { type: 'string' },
      'expires-in-days': { type: 'string' },
      'expires-in': { type: 'string', default: '1h' }
    }
  })
  const [command, sub, ...rest] = positionals

  if (command === 'migrate') {
    return withDatabase(config, async (db) => {
      await db.migrate()
      return { json: { migrated: true, database: db.kind }, text: `Migrations applied (${db.kind}).` }
    })
  }

  if (command === 'teams' && sub === 'create') {
    const name = rest.join(' ') || values.name
    if (name === undefined) throw new UsageError('teams create needs a name')
    return withDatabase(config, async (db) => {
      if (config.database.kind === 'pglite') await db.migrate()
      const team = await new TeamService({ db: db.db }).create(name)
      if (!team.ok) throw new UsageError(team.error.message)
      return { json: { id: team.value.id, name: team.value.name }, text: `Created team ${team.value.name}: ${team.value.id}` }
    })
  }

  if (command === 'keys' && sub === 'create') {
    const { team, name } = values
    const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean)
    if (team === undefined || name === undefined || scopes.length === 0) throw new UsageError('keys create needs --team, --name and --scopes')
    const unknown = scopes.filter((s) => !isScope(s))
    if (unknown.length > 0) throw new UsageError(`unknown scope: ${unknown.join(', ')}`)
    const days = values['expires-in-days'] === undefined ? undefined : Number(values['expires-in-days'])
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > config.apiKeys.maxExpiryDays)) throw new UsageError(`--expires-in-days must be an integer from 1 to ${config.apiKeys.maxExpiryDays} (API_KEY_MAX_EXPIRY_DAYS)`)
    return withDatabase(config, async (db) => {
      if (config.database.kind === 'pglite') await db.migrate()
      if (await new TeamService({ db: db.db }).get(team) === undefined) throw new UsageError(`no team ${team}`)
      const service = new ApiKeyService({
        db: db.db,
        clock: systemClock,
        verifier: new ApiKeyVerifier({ db: db.db, clock: systemClock, ttlMs: 0 }),
        pages: config.graphql,
        limits: config.apiKeys,
        defaultRateLimit: config.rateLimit
      })
      const expiresAt = days === undefined ? null : new Date(Date.now() + days * 86_400_000)
      const { apiKey, secret } = await service.createForTeam(team, { name, scopes, expiresAt }, { type: 'system', id: 'cli' })
      return {
        json: { id: apiKey.id, prefix: apiKey.prefix, scopes: apiKey.scopes, expiresAt: apiKey.expiresAt.toISOString(), secret },
        text: `Created key ${apiKey.id} (${apiKey.prefix}…), expires ${apiKey.expiresAt.toISOString()}.\nShown once:\n${secret}`
      }
    })
  }

  if (command === 'rotate-keys') {
    let text = ''
    const report = await rotateKeys(config, { print: (out) => { text += out } })
    return { json: report as unknown as Record<string, unknown>, text: text.trimEnd() }
  }

  if (command === 'token') {
    const { team, user, role } = values
    if (team === undefined || user === undefined || role === undefined) throw new UsageError('token needs --team, --user and --role')
    if (config.jwt.secret === undefined) throw new UsageError('token needs JWT_SECRET (tokens from a JWKS identity provider cannot be signed here)')
    const token = await new SignJWT({ [config.jwt.teamClaim]: team, role })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user)
      .setIssuedAt()
      .setExpirationTime(values['expires-in'])
      .setIssuer(config.jwt.issuer ?? 'switchboard-cli')
      .setAudience(config.jwt.audience ?? 'switchboard')
      .sign(config.jwt.secret)
    return { json: { token }, text: token }
  }

  throw new UsageError(command === undefined ? 'no command given' : `unknown command: ${[command, sub].filter(Boolean).join(' ')}`)
}

const argv = process.argv.slice(2)
const json = argv.includes('--json')
try {
  const config = loadConfig()
  const out = await run(argv, config)
  process.stdout.write((json ? JSON.stringify(out.json) : out.text) + '\n')
} catch (err) {
  const known = err instanceof UsageError || err instanceof ConfigError || err instanceof DataDirLockedError
  const message = known ? (err as Error).message : `unexpected error: ${(err as Error).message}`
  if (json) process.stdout.write(JSON.stringify({ error: message }) + '\n')
  process.stderr.write(message + (err instanceof UsageError ? `\n${USAGE}` : '') + '\n')
  process.exit(err instanceof UsageError ? 2 : 1)
}
