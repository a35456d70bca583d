/**
 * Users authenticate with a JWT from their identity provider: HS256 with a shared secret, or
 * RS/ES/EdDSA keys from a JWKS URL with issuer and audience checked. Claims map to a principal:
 * `sub` → userId, the team claim → teamId, `scopes` (array or space-separated) or else `role`.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { isUuid } from '../ids.ts'
import { type Principal } from './principal.ts'
import { isScope, ROLE_SCOPES } from './scopes.ts'

export interface JwtSettings {
  secret: Uint8Array | undefined
  jwksUrl: string | undefined
  issuer: string | undefined
  audience: string | undefined
  teamClaim: string
}

export class JwtVerifier {
  readonly #s: JwtSettings
  readonly #jwks: JWTVerifyGetKey | undefined

  constructor (settings: JwtSettings) {
    this.#s = settings
    this.#jwks = settings.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(settings.jwksUrl))
  }

  /** The principal a valid token names, or undefined for any invalid token (never throws). */
  async verify (token: string): Promise<Principal | undefined> {
    let payload: JWTPayload
    try {
      const opts = {
        ...(this.#s.issuer !== undefined && { issuer: this.#s.issuer }),
        ...(this.#s.audience !== undefined && { audience: this.#s.audience })
      }
      payload = this.#jwks !== undefined
        ? (await jwtVerify(token, this.#jwks, { ...opts, algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'] })).payload
        : (await jwtVerify(token, this.#s.secret!, { ...opts, algorithms: ['HS256'] })).payload
    } catch {
      return undefined
    }
    const teamId = payload[this.#s.teamClaim]
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof teamId !== 'string' || !isUuid(teamId)) return undefined
    return { kind: 'user', teamId, userId: payload.sub, scopes: scopesFromClaims(payload) }
  }
}

function scopesFromClaims (payload: JWTPayload): string[] {
  const raw = payload.scopes ?? payload.scope
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && isScope(s))
  if (typeof raw === 'string') return raw.split(' ').filter(isScope)
  const role = typeof payload.role === 'string' ? payload.role : ''
  return [...(ROLE_SCOPES[role] ?? [])]
}
