/**
 * Shared base of the loopback fake providers: a real node:http server on 127.0.0.1 (port 0)
 * with a route table, per-route call counters and switchable failures, plus an OAuth 2.0
 * authorization server core (codes, PKCE S256 check, access/refresh tokens with optional
 * rotation, revocation). Each provider file configures its dialect on top; the data-API
 * fakes of later issues add routes to the same servers.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeRequest { method: string, path: string, query: URLSearchParams, headers: IncomingMessage['headers'], body: Record<string, string>, raw: string, bytes: Buffer }
export interface FakeReply { status: number, body?: unknown, headers?: Record<string, string> }
export type Handler = (req: FakeRequest) => FakeReply | Promise<FakeReply>

/** A failure a test switches on for a route: `times` calls (default: until cleared). */
export interface Failure { reply: FakeReply, times?: number }

export class FakeServer {
  readonly #server: Server
  readonly #routes = new Map<string, Handler>()
  readonly calls: Record<string, number> = {}
  readonly requests: Array<{ route: string, req: FakeRequest }> = []
  readonly failures: Record<string, Failure> = {}
  /** Milliseconds each call of a route waits before answering (to widen race windows). */
  readonly delays: Record<string, number> = {}
  origin = ''

  constructor () {
    this.#server = createServer((req, res) => { void this.#handle(req, res) })
  }

  route (method: string, path: string, handler: Handler): this {
    this.#routes.set(`${method} ${path}`, handler)
    return this
  }

  fail (route: string, reply: FakeReply, times?: number): void { this.failures[route] = { reply, ...(times !== undefined && { times }) } }
  clear (route: string): void { delete this.failures[route] }
  count (route: string): number { return this.calls[route] ?? 0 }

  async start (): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    this.origin = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  async close (): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #match (method: string, path: string): [string, Handler] | undefined {
    for (const [key, h] of this.#routes) {
      const [m, pattern] = key.split(' ') as [string, string]
      if (m !== method) continue
      const re = new RegExp('^' + pattern.replace(/\{[^}]+\}/g, '[^/]+') + '$')
      if (re.test(path)) return [key, h]
    }
    return undefined
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const bytes = Buffer.concat(chunks)
    const raw = bytes.toString('utf8')
    const url = new URL(req.url ?? '/', 'http://x')
    let body: Record<string, string> = {}
    const type = req.headers['content-type'] ?? ''
    if (type.includes('json') && raw !== '') body = JSON.parse(raw) as Record<string, string>
    else if (raw !== '' && (type === '' || type.includes('x-www-form-urlencoded'))) body = Object.fromEntries(new URLSearchParams(raw))
    const fr: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, raw, bytes }
    const matched = this.#match(fr.method, fr.path)
    let reply: FakeReply
    if (matched === undefined) reply = { status: 404, body: { error: 'not_found' } }
    else {
      const [route, handler] = matched
      this.calls[route] = (this.calls[route] ?? 0) + 1
      this.requests.push({ route, req: fr })
      const delay = this.delays[route]
      if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay))
      const failure = this.failures[route]
      if (failure !== undefined) {
        reply = failure.reply
        if (failure.times !== undefined && --failure.times <= 0) delete this.failures[route]
      } else reply = await handler(fr)
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
    res.end(reply.body === undefined ? '' : typeof reply.body === 'string' || Buffer.isBuffer(reply.body) ? reply.body : JSON.stringify(reply.body))
  }
}

export interface OAuthDialect {
  clientId: string
  clientSecret: string
  /** How the token endpoint expects the client to authenticate. */
  clientAuth: 'body' | 'basic' | 'none'
  /** Whether the exchange must carry grant_type (Shopify's does not). */
  exchangeGrantType: boolean
  pkce: 'required' | 'optional' | 'none'
  /** Refresh returns a new refresh token and invalidates the old one. */
  rotate: boolean
  /** Lifetime in seconds returned as expires_in; null = none returned. */
  expiresIn: number | null
  /** Issue a refresh token at all. */
  issuesRefreshToken: boolean
  /** Extra fields merged into token responses. */
  tokenExtras?: (kind: 'exchange' | 'refresh') => Record<string, unknown>
  /** Error body shape for a token-endpoint failure. */
  errorReply?: (error: string, description: string) => FakeReply
}

/** The authorization-server core every provider fake shares. */
export class OAuthCore {
  readonly d: OAuthDialect
  readonly codes = new Map<string, { redirectUri: string, challenge: string | null, scope: string | null }>()
  readonly accessTokens = new Set<string>()
  readonly refreshTokens = new Map<string, 'valid' | 'rotated' | 'revoked'>()
  readonly revoked: string[] = []
  /** Set when a rotated (old) refresh token was presented: RFC 9700 §4.14 reuse. */
  reuseDetected = false
  lastAuthorize: URL | undefined

  constructor (d: OAuthDialect) { this.d = d }

  /** What the browser does on "Allow": validate the authorize URL and return the callback URL. */
  approve (authUrl: string, extra: Record<string, string> = {}): string {
    const u = new URL(authUrl)
    this.lastAuthorize = u
    const q = u.searchParams
    if (q.get('client_id') !== this.d.clientId) throw new Error('fake: wrong client_id')
    const challenge = q.get('code_challenge')
    if (this.d.pkce === 'required' && (challenge === null || q.get('code_challenge_method') !== 'S256')) throw new Error('fake: PKCE S256 required')
    const code = 'code_' + randomBytes(12).toString('hex')
    this.codes.set(code, { redirectUri: q.get('redirect_uri')!, challenge, scope: q.get('scope') })
    const cb = new URL(q.get('redirect_uri')!)
    cb.searchParams.set('code', code)
    cb.searchParams.set('state', q.get('state')!)
    for (const [k, v] of Object.entries(extra)) cb.searchParams.set(k, v)
    return cb.toString()
  }

  deny (authUrl: string, error = 'access_denied'): string {
    const q = new URL(authUrl).searchParams
    const cb = new URL(q.get('redirect_uri')!)
    cb.searchParams.set('error', error)
    cb.searchParams.set('state', q.get('state')!)
    return cb.toString()
  }

  #error (error: string, description = error): FakeReply {
    return this.d.errorReply?.(error, description) ?? { status: error === 'invalid_client' ? 401 : 400, body: { error, error_description: description } }
  }

  #clientOk (req: FakeRequest): boolean {
    const auth = req.headers.authorization
    if (this.d.clientAuth === 'basic') {
      return auth === 'Basic ' + Buffer.from(`${this.d.clientId}:${this.d.clientSecret}`).toString('base64')
    }
    if (req.body.client_id !== this.d.clientId) return false
    return this.d.clientAuth === 'none' || req.body.client_secret === this.d.clientSecret
  }

  #issue (kind: 'exchange' | 'refresh', scope: string | null): Record<string, unknown> {
    const access = 'at_' + randomBytes(16).toString('hex')
    this.accessTokens.add(access)
    const out: Record<string, unknown> = { access_token: access, token_type: 'Bearer', ...(scope !== null && { scope }) }
    if (this.d.expiresIn !== null) out.expires_in = this.d.expiresIn
    if (this.d.issuesRefreshToken && (kind === 'exchange' || this.d.rotate)) {
      const rt = 'rt_' + randomBytes(16).toString('hex')
      this.refreshTokens.set(rt, 'valid')
      out.refresh_token = rt
    }
    return { ...out, ...this.d.tokenExtras?.(kind) }
  }

  /** Token endpoint: authorization_code and refresh_token grants. */
  token: Handler = (req) => {
    if (!this.#clientOk(req)) return this.#error('invalid_client')
    const grant = req.body.grant_type ?? (this.d.exchangeGrantType ? undefined : 'authorization_code')
    if (grant === 'authorization_code') {
      const c = this.codes.get(req.body.code ?? '')
      if (c === undefined) return this.#error('invalid_grant', 'code is invalid or used')
      this.codes.delete(req.body.code!)
      if (c.redirectUri !== req.body.redirect_uri && this.d.exchangeGrantType) return this.#error('invalid_grant', 'redirect_uri mismatch')
      if (c.challenge !== null) {
        const v = req.body.code_verifier ?? ''
        if (createHash('sha256').update(v).digest('base64url') !== c.challenge) return this.#error('invalid_grant', 'PKCE verification failed')
      }
      return { status: 200, body: this.#issue('exchange', c.scope) }
    }
    if (grant === 'refresh_token') return this.refresh(req)
    return this.#error('unsupported_grant_type')
  }

  refresh: Handler = (req) => {
    if (!this.#clientOk(req)) return this.#error('invalid_client')
    const rt = req.body.refresh_token ?? ''
    const st = this.refreshTokens.get(rt)
    if (st === 'rotated') { this.reuseDetected = true; return this.#error('invalid_grant', 'refresh token reused') }
    if (st !== 'valid') return this.#error('invalid_grant', 'refresh token is invalid or revoked')
    if (this.d.rotate) this.refreshTokens.set(rt, 'rotated')
    return { status: 200, body: this.#issue('refresh', null) }
  }

  /** Revoke every token of a grant (access or refresh presented). */
  revokeToken (token: string): void {
    this.revoked.push(token)
    this.accessTokens.delete(token)
    if (this.refreshTokens.has(token)) this.refreshTokens.set(token, 'revoked')
  }

  /** Expire every refresh token (the user revoked the app at the provider). */
  revokeAll (): void { for (const k of this.refreshTokens.keys()) this.refreshTokens.set(k, 'revoked') }

  /** Every access token issued so far has expired (a refresh issues a working one). */
  expireAccessTokens (): void { for (const t of this.accessTokens) this.expired.add(t); this.accessTokens.clear() }
  readonly expired = new Set<string>()

  /** The app was uninstalled / access revoked: no access or refresh token works any more. */
  revokeEverything (): void { this.revokeAll(); this.accessTokens.clear() }

  /** `valid`, `expired` (issued, lifetime over) or `invalid` (revoked or never issued). */
  tokenState (token: string): 'valid' | 'expired' | 'invalid' {
    return this.accessTokens.has(token) ? 'valid' : this.expired.has(token) ? 'expired' : 'invalid'
  }

  bearerOk (req: FakeRequest, header = 'authorization'): boolean {
    const v = req.headers[header]
    const token = typeof v === 'string' ? v.replace(/^Bearer /i, '') : ''
    return this.accessTokens.has(token)
  }
}

export interface FakeProvider {
  server: FakeServer
  oauth: OAuthCore
  /** Route keys of the token and revoke endpoints, for call counts. */
  tokenRoute: string
  refreshRoute: string
  revokeRoute: string | null
  /** Callback parameters the provider adds (Shopify: shop, hmac, timestamp, host). */
  callbackExtras?: (callbackUrl: string) => string
  close(): Promise<void>
}
