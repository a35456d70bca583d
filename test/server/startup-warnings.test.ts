/**
 * What the process warns about at start (logged by the shell): settings that work but are
 * probably a mistake where they are used.
 */
import t, { type Test } from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { startupWarnings } from '../../src/startup-warnings.ts'
import { JWT_SECRET } from '../helper.ts'

const production = {
  NODE_ENV: 'production',
  DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-warnings-')),
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
  JWT_SECRET,
  ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 7).toString('base64')}`,
  PUBLIC_URL: 'https://switchboard.example.com',
  OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com'
}
const warnings = (env: Record<string, string>): string[] => startupWarnings(loadConfig(env))
/** Exactly these warnings, in this order (t.match alone lets extra items pass). */
function only (t: Test, list: string[], patterns: RegExp[], message = 'the warnings'): void {
  t.equal(list.length, patterns.length, message)
  t.match(list, patterns, message)
}

t.test('a well-configured production deployment starts without warnings', async (t) => {
  t.same(warnings(production), [])
})

t.test('production: an empty OAuth redirect allow-list', async (t) => {
  const { OAUTH_REDIRECT_ALLOWLIST: _, ...env } = production
  only(t, warnings(env), [/OAUTH_REDIRECT_ALLOWLIST is empty/])
})

t.test('production: PUBLIC_URL on a loopback address', async (t) => {
  for (const url of ['http://127.0.0.1:3000', 'https://localhost', 'https://api.localhost', 'http://[::1]:3000', 'http://127.8.9.1', 'http://[::ffff:127.0.0.1]']) {
    only(t, warnings({ ...production, PUBLIC_URL: url }), [/PUBLIC_URL .* is a loopback address/], url)
  }
  const { PUBLIC_URL: _, ...unset } = production
  only(t, warnings(unset), [/PUBLIC_URL .* is a loopback address/], 'unset: the default is loopback')
  for (const url of ['https://10.0.0.5', 'https://localhost.example.com', 'https://[2001:db8::1]']) {
    t.same(warnings({ ...production, PUBLIC_URL: url }), [], `${url} is not loopback`)
  }
})

t.test('both are fine outside production (local development)', async (t) => {
  const local = { NODE_ENV: 'development', DATA_DIR: production.DATA_DIR, DATABASE_URL: production.DATABASE_URL, JWT_SECRET }
  t.same(warnings(local), [])
})

t.test('the outbound guard lifted, in any environment', async (t) => {
  only(t, warnings({ ...production, OUTBOUND_ALLOW_PRIVATE: 'true' }), [/outbound guard lifted: team-supplied URLs may reach private addresses/])
  only(t, warnings({ NODE_ENV: 'development', DATA_DIR: production.DATA_DIR, DATABASE_URL: production.DATABASE_URL, JWT_SECRET, OUTBOUND_ALLOW_PRIVATE: 'true' }), [/outbound guard lifted/])
})

t.test('the embedded database and a generated JWT secret are named', async (t) => {
  only(t, warnings({ NODE_ENV: 'development', DATA_DIR: mkdtempSync(join(tmpdir(), 'sb-warnings-')) }), [/JWT_SECRET is not set/, /Embedded PGlite database in use/])
})
