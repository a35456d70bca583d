/**
 * Shopify (providers.md §1), one fake for every shop: URLs are `/{shop}/admin/…` (the catalog's
 * per-shop host is overridden to `<origin>/{shop}`). The exchange has no grant_type and no PKCE;
 * expiring offline tokens rotate their refresh token; the callback carries hex HMAC-SHA256 of
 * the sorted query with the client secret; revoke = DELETE api_permissions/current.json.
 */
import { createHmac } from 'node:crypto'
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply } from './base.ts'

export const SHOPIFY_SECRET = 'shopify-secret'

export function signShopifyQuery (params: URLSearchParams, secret = SHOPIFY_SECRET): string {
  const message = [...params.entries()].filter(([k]) => k !== 'hmac').sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join('&')
  return createHmac('sha256', secret).update(message).digest('hex')
}

export async function startShopify (): Promise<FakeProvider> {
  const oauth = new OAuthCore({ clientId: 'shopify-client', clientSecret: SHOPIFY_SECRET, clientAuth: 'body', exchangeGrantType: false, pkce: 'none', rotate: true, expiresIn: 3600, issuesRefreshToken: true,
    tokenExtras: () => ({ refresh_token_expires_in: 7_776_000 }) })
  const tokenHeader = (req: { headers: Record<string, unknown> }) => oauth.accessTokens.has(String(req.headers['x-shopify-access-token'] ?? ''))
  const server = new FakeServer()
    .route('POST', '/{shop}/admin/oauth/access_token', (req) => {
      const r = oauth.token(req) as FakeReply
      const body = r.status === 200 ? r.body as Record<string, unknown> : undefined
      if (body !== undefined) {
        delete body.token_type
        // Offline tokens never expire unless the exchange asks for the expiring flavour (`expiring=1`, providers.md §1).
        if (req.body.grant_type === undefined && req.body.expiring !== '1') {
          oauth.refreshTokens.delete(String(body.refresh_token))
          delete body.expires_in; delete body.refresh_token; delete body.refresh_token_expires_in
        }
      }
      return r
    })
    .route('GET', '/{shop}/admin/api/2025-07/shop.json', (req) => tokenHeader(req)
      ? { status: 200, body: { shop: { id: 1, name: 'Ada Shop', myshopify_domain: req.path.split('/')[1], domain: 'ada.example', plan_name: 'basic' } } }
      : { status: 401, body: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' } })
    .route('DELETE', '/{shop}/admin/api_permissions/current.json', (req) => {
      if (!tokenHeader(req)) return { status: 401, body: { errors: '[API] Invalid API key or access token' } }
      oauth.revokeToken(String(req.headers['x-shopify-access-token']))
      return { status: 200, body: {} }
    })
  await server.start()
  return {
    server, oauth,
    tokenRoute: 'POST /{shop}/admin/oauth/access_token', refreshRoute: 'POST /{shop}/admin/oauth/access_token', revokeRoute: 'DELETE /{shop}/admin/api_permissions/current.json',
    callbackExtras (callbackUrl) {
      const u = new URL(callbackUrl)
      const shop = new URL(oauth.lastAuthorize!.toString()).pathname.split('/')[1]!
      u.searchParams.set('shop', shop)
      u.searchParams.set('host', Buffer.from(`${shop}/admin`).toString('base64url'))
      u.searchParams.set('timestamp', String(Math.floor(Date.now() / 1000)))
      u.searchParams.set('hmac', signShopifyQuery(u.searchParams))
      return u.toString()
    },
    close: () => server.close()
  }
}
