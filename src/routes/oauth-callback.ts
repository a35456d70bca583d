/**
 * `GET /oauth/callback/:provider`: where providers send the user's browser back. A bad state,
 * signature or shop answers 400 (no redirect: the target is only trusted once the state is);
 * everything after a valid state redirects to the stored `redirectTo` with `?connected=` or
 * `?error=`. Every answer carries `Referrer-Policy: no-referrer` (the URL holds a code) and
 * `Cache-Control: no-store`. The request log strips the query string (code, state).
 * The flow's browser-binding cookie (set by routes/oauth-start.ts) must be present and match;
 * it is cleared on every answer to a well-formed state, except a forged callback refused before
 * the state was consumed (bad Shopify HMAC, wrong `iss`), which must not end the user's flow.
 * The redirect's `?reason=` is an RFC 6749 error code, never the provider's body. A provider id
 * that is not in the catalog is 404 before anything else (it would otherwise reach a cookie path).
 *
 * Also registers this area's background jobs through `app.jobs`: token refresh every 10 minutes,
 * the retry of owed revocations, and the hourly refresh of connected accounts' metadata.
 */
import type { FastifyInstance } from 'fastify'
import { ACCOUNT_REFRESH_CRON } from '../domain/integrations/account-metadata.service.ts'
import { bindingCookieName, bindingCookiePath, hashState, STATE_KEPT_ON } from '../domain/oauth/oauth-flow.service.ts'
import { parseCookies, serializeCookie } from './oauth-start.ts'

export const TOKEN_REFRESH_CRON = '*/10 * * * *'
export const JOBS = { refreshTokens: 'integrations.refresh-tokens', retryRevocations: 'integrations.retry-revocations', revokeToken: 'integrations.revoke-token', refreshAccounts: 'integrations.refresh-account-metadata' } as const

export async function oauthCallbackRoutes (app: FastifyInstance): Promise<void> {
  app.get<{ Params: { provider: string }, Querystring: Record<string, string> }>('/oauth/callback/:provider', async (req, reply) => {
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store')
    // The path segment lands in a Set-Cookie path below: only a catalog provider id goes there
    // (a CR/LF or `;` in it would break the header or add attributes of the caller's choosing).
    if (app.services.catalog.get(req.params.provider) === undefined) {
      req.log.warn({ provider: req.params.provider, reason: 'invalid_provider' }, 'OAuth callback refused')
      return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'Unknown provider', requestId: req.id } })
    }
    const query: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.query ?? {})) if (typeof v === 'string') query[k] = v
    const cookies = parseCookies(req.headers.cookie)
    const outcome = await app.services.oauthFlow.callback(req.params.provider, query, cookies)
    // A forged callback refused before the state was consumed leaves the flow (and its cookie) usable.
    const flowEnded = outcome.kind === 'redirect' || !STATE_KEPT_ON.has(outcome.reason)
    if (flowEnded && typeof query.state === 'string' && query.state !== '') {
      reply.header('set-cookie', serializeCookie({ name: bindingCookieName(hashState(query.state)), value: '', path: bindingCookiePath(req.params.provider), maxAgeSeconds: 0, secure: false }))
    }
    if (outcome.kind === 'refuse') {
      req.log.warn({ provider: req.params.provider, reason: outcome.reason }, 'OAuth callback refused')
      return reply.code(400).send({ error: { code: 'OAUTH_ERROR', reason: outcome.reason, message: outcome.message, requestId: req.id } })
    }
    return reply.redirect(outcome.location, 302)
  })

  const tokens = app.services.tokens
  await app.jobs.schedule(JOBS.refreshTokens, TOKEN_REFRESH_CRON, async () => {
    const r = await tokens.refreshDueTokens()
    if (r.refreshed + r.failed > 0) app.log.info(r, 'background token refresh')
  })
  await app.jobs.schedule(JOBS.retryRevocations, TOKEN_REFRESH_CRON, async () => { await tokens.retryDueRevocations() })
  await app.jobs.schedule(JOBS.refreshAccounts, ACCOUNT_REFRESH_CRON, async () => {
    const r = await app.services.accountMetadata.refreshDue()
    if (r.failed + r.needs_reauth > 0) app.log.info(r, 'background account metadata refresh')
  })
  await app.jobs.work(JOBS.revokeToken, async (data) => {
    if (typeof data.revocationId === 'string') await tokens.processRevocation(data.revocationId)
  })
}
