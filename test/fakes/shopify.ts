/**
 * Shopify (providers.md §1), one fake for every shop: URLs are `/{shop}/admin/…` (the catalog's
 * per-shop host is overridden to `<origin>/{shop}`). The exchange has no grant_type and no PKCE;
 * expiring offline tokens rotate their refresh token; the callback carries hex HMAC-SHA256 of
 * the sorted query with the client secret; revoke = DELETE api_permissions/current.json.
 */
import { createHmac } from 'node:crypto'
import { FakeServer, OAuthCore, type FakeProvider, type FakeReply, type FakeRequest } from './base.ts'

export const SHOPIFY_SECRET = 'shopify-secret'

export function signShopifyQuery (params: URLSearchParams, secret = SHOPIFY_SECRET): string {
  const message = [...params.entries()].filter(([k]) => k !== 'hmac').sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join('&')
  return createHmac('sha256', secret).update(message).digest('hex')
}

export const SHOPIFY_GRAPHQL = 'POST /{shop}/admin/api/2025-07/graphql.json'

export interface ShopifyFake extends FakeProvider { data: ShopifyData }

/**
 * The GraphQL Admin API's data side: products with media and variants, cursor pagination
 * (`first` ≤ 250, `after` = opaque cursor), `productUpdate(media:)` attaching media in
 * UPLOADED state, `shop`, cost-based throttling (`extensions.cost.throttleStatus`; `throttle(n)`
 * answers the next n calls with a THROTTLED error) and 401 for bad, expired or revoked tokens.
 */
export class ShopifyData {
  products: Array<{ id: string, title: string, description: string, onlineStoreUrl: string | null, media: Array<{ id: string, status: string, url: string }>, variants: Array<Record<string, unknown>> }> = []
  throttled = 0
  /** Points per second the bucket refills (a low value makes the wait measurable). */
  restoreRate = 100_000
  queryCost = 100
  mediaSeq = 0

  constructor (count = 0) { this.seed(count) }

  seed (count: number): void {
    this.products = Array.from({ length: count }, (_, i) => ({
      id: `gid://shopify/Product/${1000 + i}`,
      title: `Product ${i}`,
      description: `Description of product ${i}`,
      onlineStoreUrl: `https://ada.example/products/p-${i}`,
      media: [{ id: `gid://shopify/MediaImage/${i}`, status: 'READY', url: `https://cdn.shopify.example/p-${i}.png` }],
      variants: [{ id: `gid://shopify/ProductVariant/${i}`, title: 'Default', price: '19.00', sku: `SKU-${i}` }]
    }))
  }

  throttle (times: number): void { this.throttled = times }

  #cost (available = 1000) {
    return { cost: { requestedQueryCost: this.queryCost, actualQueryCost: this.queryCost, throttleStatus: { maximumAvailable: 1000, currentlyAvailable: available, restoreRate: this.restoreRate } } }
  }

  handle (req: FakeRequest): FakeReply {
    const query = String(req.body.query ?? '')
    const vars = (req.body as unknown as { variables?: Record<string, any> }).variables ?? {}
    if (this.throttled > 0) {
      this.throttled--
      return { status: 200, body: { errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }], extensions: this.#cost(0) } }
    }
    const node = (p: ShopifyData['products'][number]) => ({ id: p.id, title: p.title, description: p.description, onlineStoreUrl: p.onlineStoreUrl,
      media: { nodes: p.media.map((m) => ({ id: m.id, status: m.status, mediaContentType: 'IMAGE', preview: { image: { url: m.url } } })) },
      variants: { nodes: p.variants } })
    if (query.includes('productUpdate')) {
      const p = this.products.find((x) => x.id === vars.product?.id)
      if (p === undefined) return { status: 200, body: { data: { productUpdate: { product: null, userErrors: [{ field: ['id'], message: 'Product does not exist' }] } }, extensions: this.#cost() } }
      for (const m of vars.media ?? []) p.media.push({ id: `gid://shopify/MediaImage/m${++this.mediaSeq}`, status: 'UPLOADED', url: String(m.originalSource) })
      return { status: 200, body: { data: { productUpdate: { product: node(p), userErrors: [] } }, extensions: this.#cost() } }
    }
    if (query.includes('products(')) {
      const first = Number(vars.first ?? 50)
      if (first > 250) return { status: 200, body: { errors: [{ message: 'The first argument must be at most 250', extensions: { code: 'MAX_COST_EXCEEDED' } }] } }
      const start = vars.after == null ? 0 : Number(Buffer.from(String(vars.after), 'base64url').toString().split(':')[1]) + 1
      const page = this.products.slice(start, start + first)
      const end = start + page.length - 1
      return { status: 200, body: { data: { products: { nodes: page.map(node), pageInfo: { hasNextPage: end < this.products.length - 1, endCursor: page.length === 0 ? null : Buffer.from(`cursor:${end}`).toString('base64url') } } }, extensions: this.#cost() } }
    }
    if (query.includes('shop {') || query.includes('shop{')) {
      return { status: 200, body: { data: { shop: { name: 'Ada Shop', myshopifyDomain: req.path.split('/')[1], plan: { displayName: 'Basic' }, primaryDomain: { url: 'https://ada.example', host: 'ada.example' } } }, extensions: this.#cost() } }
    }
    return { status: 200, body: { errors: [{ message: 'Unsupported query in the fake' }] } }
  }
}

export async function startShopify (opts: { products?: number } = {}): Promise<ShopifyFake> {
  const data = new ShopifyData(opts.products ?? 0)
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
    .route('POST', '/{shop}/admin/api/2025-07/graphql.json', (req) => tokenHeader(req)
      ? data.handle(req)
      : { status: 401, body: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' } })
    .route('DELETE', '/{shop}/admin/api_permissions/current.json', (req) => {
      if (!tokenHeader(req)) return { status: 401, body: { errors: '[API] Invalid API key or access token' } }
      oauth.revokeToken(String(req.headers['x-shopify-access-token']))
      return { status: 200, body: {} }
    })
  await server.start()
  return {
    server, oauth, data,
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
