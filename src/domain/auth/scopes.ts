/**
 * Scopes are `resource:action` strings. `admin:full` implies every other scope.
 * This table is the one list: the GraphQL `scopes` query, validation of granted scopes and
 * the role mapping all read it.
 */
export const SCOPES = {
  'integrations:read': 'Read integrations, providers and their status',
  'integrations:write': 'Create, update and delete integrations',
  'integrations:execute': 'Run provider operations through an integration',
  'keys:read': 'List and verify API keys',
  'keys:write': 'Create, update, rotate and revoke API keys',
  'tokens:read': 'Read OAuth credential status (never the tokens)',
  'tokens:write': 'Import, refresh and revoke OAuth tokens',
  'sync:read': 'Read sync configurations and runs',
  'sync:write': 'Create and change sync configurations',
  'sync:execute': 'Start sync runs',
  'logs:read': 'Read request logs, audit events and statistics',
  'webhooks:manage': 'Manage webhook endpoints and deliveries',
  'admin:full': 'Everything, including team policy'
} as const

export type Scope = keyof typeof SCOPES

/** Field-level requirement meaning "any authenticated principal". */
export const AUTHENTICATED = 'authenticated'

export const ALL_SCOPES = Object.keys(SCOPES) as Scope[]

export function isScope (value: string): value is Scope {
  return Object.hasOwn(SCOPES, value)
}

export function hasScope (granted: readonly string[], required: string): boolean {
  if (required === AUTHENTICATED) return true
  return granted.includes('admin:full') || granted.includes(required)
}

/** True when `granted` covers every scope in `wanted` (no escalation when delegating). */
export function coversScopes (granted: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((s) => hasScope(granted, s))
}

const READ = ALL_SCOPES.filter((s) => s.endsWith(':read') && s !== 'logs:read')

/** Identity-provider roles → scopes. An explicit `scopes` claim wins over the role. */
export const ROLE_SCOPES: Record<string, readonly Scope[]> = {
  owner: ['admin:full'],
  admin: ['admin:full'],
  // read, write and execute everything except key management (and logs/webhooks, which are operator/admin concerns)
  member: ALL_SCOPES.filter((s) => /:(read|write|execute)$/.test(s) && !s.startsWith('keys:') && s !== 'logs:read'),
  operator: [...READ, 'logs:read']
}
