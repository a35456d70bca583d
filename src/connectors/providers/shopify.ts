/**
 * Shopify Admin (providers.md §1). Per-shop hosts: every URL is `https://{shop}/…`, so
 * `startOAuth` needs `shop`. The callback carries an HMAC of its query (hex SHA-256 keyed by
 * the client secret) and the shop domain, both verified before the state is even looked up.
 * The code exchange has no grant_type and no PKCE; offline tokens do not expire unless the
 * expiring flavour was requested (`expiring=1`), which then rotates refresh tokens.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, optString, parseRfc6749, RevokeFailed } from '../oauth-defaults.ts'
import { shopifyConnector } from './shopify.connector.ts'

export const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/

/** `Ada-Shop` → `ada-shop.myshopify.com`; a value with a dot is only trimmed and lower-cased (then checked against SHOP_DOMAIN). */
export const normalizeShop = (raw: string): string => {
  const s = raw.trim().toLowerCase()
  return s.includes('.') ? s : `${s}.myshopify.com`
}
const API_VERSION = '2025-07'

export const shopify: ProviderDefinition = {
  id: 'shopify',
  name: 'Shopify',
  description: 'Products, images and orders of a Shopify store.',
  category: 'ecommerce',
  logoUrl: 'https://cdn.switchboard.dev/logos/shopify.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {
    authorize: 'https://{shop}/admin/oauth/authorize',
    token: 'https://{shop}/admin/oauth/access_token',
    revoke: 'https://{shop}/admin/api_permissions/current.json',
    api: `https://{shop}/admin/api/${API_VERSION}`
  },
  oauth: {
    ...RFC6749_DEFAULTS,
    defaultScopes: ['read_products', 'write_products'],
    scopeSeparator: ',',
    pkce: 'none',
    sendsGrantType: false,
    // Expiring offline tokens (providers.md §1): 1 h access token + rotating refresh token (~90 d).
    extraExchangeParams: { expiring: '1' },
    revocation: 'custom',
    revokeTokenHint: 'access_token',
    perShop: true
  },
  // Data API: shopify.connector.ts
  operations: shopifyConnector.operations,
  connector: shopifyConnector,

  parseTokenResponse (status, body) {
    const parsed = parseRfc6749(status, body, ',')
    if ('error' in parsed) return parsed
    const rtExpires = asRecord(body).refresh_token_expires_in
    return { ...parsed, refreshTokenExpiresIn: typeof rtExpires === 'number' && Number.isFinite(rtExpires) ? rtExpires : null }
  },

  verifyCallback (query, client, expected) {
    const shop = query.shop ?? ''
    if (!SHOP_DOMAIN.test(shop)) return { error: 'invalid_shop', description: 'shop is not a *.myshopify.com domain' }
    if (expected.shop !== null && expected.shop !== shop) return { error: 'invalid_shop', description: 'shop differs from the one the authorization was started for' }
    if (client.clientSecret === null || typeof query.hmac !== 'string' || !/^[0-9a-f]{64}$/.test(query.hmac)) return { error: 'invalid_hmac', description: null }
    const message = Object.keys(query).filter((k) => k !== 'hmac' && k !== 'signature').sort().map((k) => `${k}=${query[k]}`).join('&')
    const expectedMac = createHmac('sha256', client.clientSecret).update(message).digest()
    const given = Buffer.from(query.hmac, 'hex')
    return given.length === expectedMac.length && timingSafeEqual(given, expectedMac) ? null : { error: 'invalid_hmac', description: null }
  },

  async fetchAccount (ctx, tokens) {
    const res = await ctx.http.request(`${ctx.urls.api}/shop.json`, { headers: { 'x-shopify-access-token': tokens.accessToken } })
    if (res.status !== 200) throw new Error(`shop.json answered ${res.status}`)
    const shop = asRecord(asRecord(res.body).shop)
    return {
      accountId: optString(shop.myshopify_domain) ?? String(shop.id),
      accountName: optString(shop.name),
      metadata: { shopId: shop.id ?? null, plan: shop.plan_name ?? null, domain: shop.domain ?? null }
    }
  },

  async revoke (ctx, token) {
    const res = await ctx.http.request(ctx.urls.revoke!, { method: 'DELETE', headers: { 'x-shopify-access-token': token } })
    // 401 = already uninstalled/invalid: nothing left to revoke.
    if (res.status !== 200 && res.status !== 401) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
  }
}
