/**
 * The one outbound guard: every HTTP request the gateway sends goes through `OutboundGuard.fetch`
 * (connectors/http.ts for the OAuth client and the connectors, files.ts for caller file URLs).
 *
 * Deny by default. A request is trusted only when its origin comes from deployment config (the
 * provider catalog's templates and PROVIDER_URL_OVERRIDES whose host has no team-supplied part;
 * see ProviderCatalog.trustedOrigins). Everything else — custom OAuth2 URLs, REST/GraphQL base
 * URLs, caller file URLs, Shopify shop hosts — goes through an undici Agent whose connector
 * checks the address it actually connects to:
 *
 * - an IP-literal host is classified before connecting (Node skips DNS for literals);
 * - a host name is resolved by our own `lookup` (every address), every address is classified,
 *   and the socket connects to exactly the addresses that were checked, so a DNS answer that
 *   changes between a check and the connect (rebinding) cannot slip through. TLS keeps the
 *   original host name for SNI and certificate checks;
 * - only global unicast passes: ipaddr.js `process()` (IPv4-mapped IPv6 → IPv4), `range()` must
 *   be `unicast`, and an IPv6 address must also lie in 2000::/3, which leaves out IPv4-compatible
 *   `::a.b.c.d`, NAT64, 6to4, Teredo, ULA, link-local and the rest of the special ranges.
 *
 * A refused destination fails before any socket is opened. Redirects are never followed (a 3xx
 * is returned to the caller, which treats it as a failure). OUTBOUND_ALLOW_PRIVATE lifts the
 * address rule (local development and tests), never the scheme, credential and header rules.
 *
 * Write-time checks (`urlRefusal`, `headerNameRefusal`) reject what is obviously wrong when a team
 * saves a URL or a header name; the connect-time check above is the wall.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { AppError } from '../../errors.ts'
import { Agent, buildConnector, fetch, type RequestInit, type Response } from 'undici'

/**
 * The destination is not allowed: nothing was sent (no socket was opened). BAD_USER_INPUT: the
 * team (or caller) supplied it; retrying cannot help, and it never counts against a breaker.
 */
export class OutboundRefused extends AppError {
  constructor (message: string) {
    super('BAD_USER_INPUT', message, { details: { reason: 'outbound_refused' } })
    this.name = 'OutboundRefused'
  }
}

// ── addresses ─────────────────────────────────────────────────────────────────────────

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3')

/** Why an IP address may not be connected to (its ipaddr.js range), or null when it is global unicast. */
export function addressRefusal (ip: string): string | null {
  if (!ipaddr.isValid(ip)) return 'not an IP address'
  // ipaddr.js reads the textual IPv4-compatible form `::a.b.c.d` as IPv4-mapped; it is not (RFC 4291 §2.5.5.1).
  if (/^::(\d{1,3}\.){3}\d{1,3}$/.test(ip)) return 'ipv4Compatible'
  const addr = ipaddr.process(ip)
  const range = addr.range()
  if (range !== 'unicast') return range
  if (addr.kind() === 'ipv6' && !addr.match(GLOBAL_UNICAST_V6)) return 'outside 2000::/3'
  return null
}

export const isPrivateAddress = (ip: string): boolean => addressRefusal(ip) !== null

/** Names that resolve inside the deployment's network by convention (RFC 6761/6762/8375, ICANN .internal). */
const LOCAL_SUFFIXES = ['localhost', 'local', 'localdomain', 'internal', 'intranet', 'lan', 'home.arpa', 'corp']

// ── write-time checks ─────────────────────────────────────────────────────────────────

export interface UrlRules {
  /** OUTBOUND_ALLOW_PRIVATE: private, loopback and local hosts are allowed. */
  allowPrivate: boolean
  /** Production: only https. */
  httpsOnly: boolean
}

/**
 * Why a team-supplied URL is refused (a phrase to follow the field name), or null. Static only:
 * scheme, credentials, and a host that is an address outside global unicast or an obviously
 * local name (single label, `localhost`, `.internal`…). Names are resolved at connect time.
 */
export function urlRefusal (raw: string, rules: UrlRules): string | null {
  let u: URL
  try { u = new URL(raw) } catch { return 'must be an absolute http(s) URL' }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an http(s) URL'
  if (rules.httpsOnly && u.protocol !== 'https:') return 'must be an https URL'
  if (u.username !== '' || u.password !== '') return 'must not carry a user name or password'
  if (!rules.allowPrivate) return hostRefusal(u.hostname)
  return null
}

function hostRefusal (hostname: string): string | null {
  const host = hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) !== 0) return addressRefusal(host) === null ? null : 'must not point at a private, loopback, link-local or reserved address'
  const name = host.toLowerCase().replace(/\.$/, '')
  if (!name.includes('.') || LOCAL_SUFFIXES.some((s) => name === s || name.endsWith(`.${s}`))) return 'must not point at a local or internal host name'
  return null
}

/** An HTTP token of letters, digits and `-`; at most 64 characters. */
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/
/**
 * Header names no team-supplied or caller-supplied header may use: routing and framing
 * (hop-by-hop, Host, Content-Length), identity the gateway does not vouch for (Cookie,
 * Forwarded), and the headers cloud metadata services require (which make SSRF useful).
 */
const FORBIDDEN_HEADERS = new Set([
  'host', 'content-length', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'via',
  'cookie', 'cookie2', 'set-cookie', 'forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip',
  'metadata', 'metadata-flavor', 'x-google-metadata-request', 'x-aws-ec2-metadata-token', 'x-aws-ec2-metadata-token-ttl-seconds',
  'x-http-method-override', 'x-method-override'
])
const FORBIDDEN_PREFIXES = ['proxy-', 'x-forwarded-', 'sec-']

/** Why a header name is refused, or null when it may be sent. */
export function headerNameRefusal (name: string): string | null {
  if (!HEADER_NAME.test(name)) return 'must be 1 to 64 letters, digits or hyphens'
  const lower = name.toLowerCase()
  if (FORBIDDEN_HEADERS.has(lower) || FORBIDDEN_PREFIXES.some((p) => lower.startsWith(p))) return 'must not be a routing, framing, hop-by-hop, cookie, forwarding or cloud-metadata header'
  return null
}

// ── the transport ─────────────────────────────────────────────────────────────────────

export interface OutboundGuardOptions {
  allowPrivate: boolean
  httpsOnly?: boolean
  /** Origins from deployment config (ProviderCatalog.trustedOrigins): sent without address checks. */
  trustedOrigins?: Iterable<string>
  connectTimeoutMs?: number
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

export class OutboundGuard {
  readonly rules: UrlRules
  readonly #trusted: ReadonlySet<string>
  /** Deployment-configured origins. */
  readonly #direct: Agent
  /** Everything else: every address checked where the socket is opened. */
  readonly #guarded: Agent

  constructor (opts: OutboundGuardOptions) {
    this.rules = { allowPrivate: opts.allowPrivate, httpsOnly: opts.httpsOnly ?? false }
    this.#trusted = new Set([...(opts.trustedOrigins ?? [])].map((o) => new URL(o).origin))
    const timeout = opts.connectTimeoutMs ?? 10_000
    this.#direct = new Agent({ connect: { timeout } })
    const connect = buildConnector({ timeout, lookup: this.#lookup })
    this.#guarded = new Agent({
      connect: (options, callback) => {
        // IP literals never reach `lookup`: check them here, before any socket exists.
        if (!this.rules.allowPrivate && isIP(options.hostname) !== 0 && addressRefusal(options.hostname) !== null) {
          callback(refused(options.hostname), null)
          return
        }
        connect(options, callback)
      }
    })
  }

  /** Whether `url`'s origin comes from deployment config. */
  isTrusted (url: URL): boolean { return this.#trusted.has(url.origin) }

  /**
   * undici's fetch through the right agent, redirects never followed. `untrusted`: the URL comes
   * from a caller even if its origin happens to be a configured one (file URLs). Throws
   * OutboundRefused when the destination is not allowed (nothing was sent).
   */
  async fetch (url: URL, init: Omit<RequestInit, 'dispatcher' | 'redirect'>, opts: { untrusted?: boolean } = {}): Promise<Response> {
    const trusted = opts.untrusted !== true && this.isTrusted(url)
    if (!trusted) {
      const reason = urlRefusal(url.toString(), { ...this.rules, allowPrivate: true }) // the host is checked when connecting
      if (reason !== null) throw new OutboundRefused(`${url.host}: the URL ${reason}`)
    }
    for (const name of headerNames(init.headers)) {
      const reason = headerNameRefusal(name)
      if (reason !== null) throw new OutboundRefused(`header ${JSON.stringify(name)} ${reason}`)
    }
    try {
      return await fetch(url, { ...init, redirect: 'manual', dispatcher: trusted ? this.#direct : this.#guarded })
    } catch (err) {
      throw refusalIn(err) ?? err
    }
  }

  async close (): Promise<void> {
    await Promise.all([this.#direct.close(), this.#guarded.close()])
  }

  /** dns.lookup of every address; refused unless all are allowed; the socket connects to what was checked. */
  #lookup = (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) return callback(err, [])
      if (!this.rules.allowPrivate && (addresses.length === 0 || addresses.some((a) => addressRefusal(a.address) !== null))) return callback(refused(hostname), [])
      if (options.all === true) return callback(null, addresses)
      callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }
}

const refused = (host: string): OutboundRefused =>
  new OutboundRefused(`${host} is not an allowed destination: it is (or resolves to) a private, loopback, link-local or reserved address`)

/** Names of a plain record, a list of pairs or any Headers (undici's or the global one: both iterate as pairs). */
function headerNames (headers: RequestInit['headers']): string[] {
  if (headers === undefined || headers === null) return []
  if (Symbol.iterator in headers) return [...(headers as Iterable<[string, string]>)].map(([name]) => String(name))
  return Object.keys(headers)
}

/** The OutboundRefused inside undici's `TypeError: fetch failed` (cause chain, AggregateError of happy eyeballs). */
function refusalIn (err: unknown, depth = 0): OutboundRefused | undefined {
  if (err instanceof OutboundRefused) return err
  if (depth > 5 || typeof err !== 'object' || err === null) return undefined
  for (const inner of [(err as { cause?: unknown }).cause, ...((err as { errors?: unknown[] }).errors ?? [])]) {
    const found = refusalIn(inner, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}
