/**
 * What may be stored about a call: a path without its query string, and error text with
 * anything that looks like a credential replaced. Used on every outbound row before it reaches
 * the writer (provider error bodies often echo the token they rejected).
 */
const REDACTED = '[REDACTED]'
const MAX_MESSAGE = 1000

const PATTERNS: Array<[RegExp, string]> = [
  // Authorization header values: `Bearer …`, `Basic …`, `token …`
  [/\b(bearer|basic|token)\s+[^\s"',;]+/gi, `$1 ${REDACTED}`],
  // key=value / "key": "value" pairs whose name says credential
  [/(["']?[\w-]*(?:token|secret|password|passwd|api[_-]?key|apikey|authorization|signature|client[_-]?secret|code|state|session|cookie)[\w-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s&,;}"']+)/gi, `$1${REDACTED}`],
  // JWTs
  [/\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g, REDACTED],
  // well-known token formats: our keys, GitHub, Slack, Stripe, Google
  [/\b(?:sb_(?:live|test)_|gh[pousr]_|github_pat_|xox[abprs]-|sk_(?:live|test)_|rk_(?:live|test)_|ya29\.)[\w.-]+/g, REDACTED]
]

/** Long opaque runs (≥ 32 characters of token alphabet) that are not plain UUIDs. */
const OPAQUE = /[A-Za-z0-9_\-+/=.~]{32,}/g
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function scrubSecrets (text: string): string {
  let out = text.replace(/[\r\n\t]+/g, ' ')
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement)
  out = out.replace(OPAQUE, (run) => (UUID.test(run) || run.startsWith('/') ? run : REDACTED))
  return out.length > MAX_MESSAGE ? out.slice(0, MAX_MESSAGE) + '…' : out
}

/** The path of a URL (absolute or not), without query string or fragment. */
export function pathOf (url: string): string {
  try {
    return new URL(url).pathname
  } catch {
    const end = url.search(/[?#]/)
    return end === -1 ? url : url.slice(0, end)
  }
}

/**
 * A provider path with credential-like segments replaced (some APIs put secrets in the path,
 * e.g. webhook URLs): a segment of 24+ token characters that is not a UUID, or a known token format.
 */
export function scrubPath (path: string): string {
  return path.split('/').map((segment) =>
    (segment.length >= 24 && /^[A-Za-z0-9_\-+=.~%]+$/.test(segment) && !UUID.test(segment)) || /^(?:sb_(?:live|test)_|gh[pousr]_|xox[abprs]-|sk_(?:live|test)_)/.test(segment)
      ? REDACTED
      : segment).join('/')
}
