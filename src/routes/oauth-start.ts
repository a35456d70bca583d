/**
 * `GET /oauth/start?session=<handle>`: where `startOAuth`'s `authUrl` points. Binds the flow to
 * this browser (an HttpOnly, SameSite=Lax, Secure-on-https cookie holding a random nonce whose
 * hash is stored with the state; see domain/oauth/oauth-flow.service.ts) and redirects to the
 * provider's authorize URL. An unknown, used or expired handle answers 400. The request log
 * keeps no query string, so the handle is not logged.
 */
import type { FastifyInstance } from 'fastify'
import type { BindingCookie } from '../domain/oauth/oauth-flow.service.ts'

export function serializeCookie (c: Pick<BindingCookie, 'name' | 'value' | 'path' | 'maxAgeSeconds' | 'secure'>): string {
  return `${c.name}=${c.value}; Path=${c.path}; Max-Age=${c.maxAgeSeconds}; HttpOnly; SameSite=Lax${c.secure ? '; Secure' : ''}`
}

/** `Cookie` header → name/value map (RFC 6265 §5.4; values we set are base64url, never quoted). */
export function parseCookies (header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i <= 0) continue
    const name = part.slice(0, i).trim()
    if (name !== '' && out[name] === undefined) out[name] = part.slice(i + 1).trim()
  }
  return out
}

export async function oauthStartRoutes (app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { session?: string } }>('/oauth/start', async (req, reply) => {
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store')
    const session = typeof req.query?.session === 'string' ? req.query.session : undefined
    const outcome = await app.services.oauthFlow.launch(session)
    if (outcome.kind === 'refuse') {
      req.log.warn({ reason: outcome.reason }, 'OAuth launch refused')
      return reply.code(400).send({ error: { code: 'OAUTH_ERROR', reason: outcome.reason, message: outcome.message, requestId: req.id } })
    }
    reply.header('set-cookie', serializeCookie(outcome.cookie))
    return reply.redirect(outcome.location, 302)
  })
}
