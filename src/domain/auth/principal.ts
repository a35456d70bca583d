/** Who is calling, resolved before GraphQL runs: a user (JWT) or an API key. */
export interface Principal {
  kind: 'user' | 'api_key'
  teamId: string
  userId?: string
  apiKeyId?: string
  scopes: readonly string[]
  /** The API key's own rate limit, when it has one. */
  rateLimit?: { requests: number, windowMs: number } | undefined
}

/** How a principal is recorded as an actor (`created_by`, audit events). */
export function actorOf (p: Principal): { type: 'user' | 'api_key', id: string, label: string } {
  return p.kind === 'user'
    ? { type: 'user', id: p.userId ?? 'unknown', label: `user:${p.userId ?? 'unknown'}` }
    : { type: 'api_key', id: p.apiKeyId ?? 'unknown', label: `key:${p.apiKeyId ?? 'unknown'}` }
}
