/**
 * What the process warns about at start (the shell logs each line): settings that let it run
 * but are probably a mistake where they are used. Kept apart from the shell, which starts the
 * server when imported, so that the rules can be tested on a config alone.
 */
import ipaddr from 'ipaddr.js'
import type { Config } from './config.ts'

export function startupWarnings (config: Config): string[] {
  const warnings: string[] = []
  const production = config.nodeEnv === 'production'
  if (config.jwt.secretGenerated) warnings.push('JWT_SECRET is not set: using a generated development secret stored in the data directory')
  if (config.database.kind === 'pglite') {
    warnings.push('Embedded PGlite database in use: fine for development and single-instance use; it is not crash-durable like a PostgreSQL server (set DATABASE_URL for production)')
  }
  if (production && config.integrations.redirectAllowList.length === 0) {
    warnings.push('OAUTH_REDIRECT_ALLOWLIST is empty: startOAuth refuses every redirectTo, so no provider can be connected through OAuth (list the https origins of your app)')
  }
  const { publicUrl } = config.integrations
  if (production && isLoopback(new URL(publicUrl).hostname)) {
    warnings.push(`PUBLIC_URL (${publicUrl}) is a loopback address: OAuth providers send users' browsers back to it, which works only on this machine (set it to the address users reach)`)
  }
  if (config.outbound.allowPrivate) {
    warnings.push('outbound guard lifted: team-supplied URLs may reach private addresses (OUTBOUND_ALLOW_PRIVATE=true; use only where every team is trusted, e.g. tests against local fakes)')
  }
  return warnings
}

/** localhost names and 127.0.0.0/8, ::1 (also as IPv4-mapped IPv6). */
function isLoopback (hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback'
}
