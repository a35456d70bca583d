/**
 * Users authenticate with a JWT from their identity provider: HS256 with a shared secret, or
 * RS/ES/EdDSA keys from a JWKS URL with issuer and audience checked. Claims map to a principal:
 * `sub` → userId, the team claim → teamId, `scopes` (array or space-separated) or else `role`.
 * Lifetime: `exp` is required and `nbf` honoured; a token may live at most `maxAgeSeconds`,
 * counted from `iat` (exp − iat), or from now when it has no `iat` (exp − now), so a leaked
 * token is never good for longer than that whatever its issuer wrote.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose'
import { isUuid } from '../ids.ts'
import { type Principal } from './principal.ts'
import { isScope, ROLE_SCOPES } from './scopes.ts'

/**
 * Clock skew allowed between the identity provider and us, for exp, nbf and iat alike. Without
 * it maxTokenAge would refuse a fresh token from an issuer whose clock runs a second ahead.
 */
const CLOCK_TOLERANCE_SECONDS = 30

export interface JwtSettings {
  secret: Uint8Array | undefined
  jwksUrl: string | undefined
  issuer: string | undefined
  audience: string | undefined
  teamClaim: string
  /** Longest accepted lifetime, in seconds (JWT_MAX_AGE). */
  maxAgeSeconds: number
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
      // jose's maxTokenAge bounds now − iat and makes iat required, so it is asked for only
      // when the token has one (the unverified peek just picks the options; jwtVerify decides).
      const hasIat = decodeJwt(token).iat !== undefined
      const opts: JWTVerifyOptions = {
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(hasIat && { maxTokenAge: this.#s.maxAgeSeconds }),
        ...(this.#s.issuer !== undefined && { issuer: this.#s.issuer }),
        ...(this.#s.audience !== undefined && { audience: this.#s.audience })
      }
      payload = this.#jwks !== undefined
        ? (await jwtVerify(token, this.#jwks, { ...opts, algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'] })).payload
        : (await jwtVerify(token, this.#s.secret!, { ...opts, algorithms: ['HS256'] })).payload
    } catch {
      return undefined
    }
    if (!this.#lifetimeWithinMax(payload)) return undefined
    const teamId = payload[this.#s.teamClaim]
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof teamId !== 'string' || !isUuid(teamId)) return undefined
    return { kind: 'user', teamId, userId: payload.sub, scopes: scopesFromClaims(payload) }
  }

  /**
   * The one check jose has no option for: maxTokenAge limits how long ago a token was issued,
   * not how long it was issued for, so a 30-day token would pass it on its first day.
   * (jwtVerify has already checked that exp is a number in the future and iat, if any, not ahead.)
   */
  #lifetimeWithinMax (payload: JWTPayload): boolean {
    const start = payload.iat ?? Math.floor(Date.now() / 1000)
    return payload.exp! - start <= this.#s.maxAgeSeconds
  }
}

function scopesFromClaims (payload: JWTPayload): string[] {
  const raw = payload.scopes ?? payload.scope
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && isScope(s))
  if (typeof raw === 'string') return raw.split(' ').filter(isScope)
  const role = typeof payload.role === 'string' ? payload.role : ''
  return [...(ROLE_SCOPES[role] ?? [])]
}
