/**
 * Shopify's data API (providers.md §1): the GraphQL Admin API of the catalog's API version,
 * `X-Shopify-Access-Token` (not Bearer), cursor pagination (`first/after`, `pageInfo`),
 * cost-based throttling (`extensions.cost.throttleStatus`, `THROTTLED` errors) plus the REST
 * call-limit header, and media attached to products with `productUpdate(media:)` (REST image
 * endpoints are deprecated).
 */
import { AppError } from '../../errors.ts'
import type { CommerceCapability, Connector, ConnectorContext, Outcome, Product } from '../connector.ts'
import type { HttpResponse } from '../http.ts'
import { importProducts } from '../flows.ts'
import { record } from '../outbound/classify.ts'
import { cursorPages } from '../outbound/pagination.ts'

const PRODUCTS = `query Products($first: Int!, $after: String) {
  products(first: $first, after: $after) {
    nodes { id title description onlineStoreUrl
      media(first: 20) { nodes { preview { image { url } } } }
      variants(first: 50) { nodes { id title price sku } } }
    pageInfo { hasNextPage endCursor }
  }
}`
const ADD_MEDIA = `mutation AddMedia($product: ProductUpdateInput!, $media: [CreateMediaInput!]) {
  productUpdate(product: $product, media: $media) {
    product { id onlineStoreUrl media(last: 50) { nodes { id status mediaContentType } } }
    userErrors { field message }
  }
}`
const SHOP = 'query Shop { shop { name myshopifyDomain plan { displayName } primaryDomain { url host } } }'

const productGid = (id: string): string => /^\d+$/.test(id) ? `gid://shopify/Product/${id}` : id

interface Throttle { requested: number, available: number, restoreRate: number }
function throttleOf (body: unknown): Throttle | null {
  const cost = record(record(record(body).extensions).cost)
  const t = record(cost.throttleStatus)
  if (typeof t.currentlyAvailable !== 'number' || typeof t.restoreRate !== 'number' || t.restoreRate <= 0) return null
  return { requested: typeof cost.requestedQueryCost === 'number' ? cost.requestedQueryCost : 0, available: t.currentlyAvailable, restoreRate: t.restoreRate }
}

/** Time for the bucket to hold `need` points again. */
const refillMs = (t: Throttle, need: number): number => Math.max(0, Math.ceil(((need - t.available) / t.restoreRate) * 1000))

export function classifyShopify (res: HttpResponse): Outcome | undefined {
  const b = record(res.body)
  const errors = Array.isArray(b.errors) ? b.errors.map(record) : []
  if (errors.some((e) => record(e.extensions).code === 'THROTTLED')) {
    const t = throttleOf(res.body)
    return { kind: 'throttled', retryAfterMs: t === null ? null : refillMs(t, t.requested) }
  }
  if (res.status === 401) return { kind: 'auth', expired: false, message: typeof b.errors === 'string' ? b.errors.slice(0, 200) : 'Invalid API key or access token' }
  if (res.status === 200 && errors.length > 0) return { kind: 'error', code: 'API_ERROR', message: String(errors[0]!.message ?? 'GraphQL error').slice(0, 200), retryable: false }
  return undefined
}

/** Leave the integration idle until the next query of similar cost fits the bucket; also the REST call-limit header. */
export function paceShopify (res: HttpResponse): number | null {
  const t = throttleOf(res.body)
  if (t !== null && t.available < t.requested) return refillMs(t, t.requested)
  const limit = /^(\d+)\/(\d+)$/.exec(res.headers.get('x-shopify-shop-api-call-limit') ?? '')
  if (limit !== null && Number(limit[1]) >= Number(limit[2]) - 1) return 500 // leak rate 2/s on standard plans
  return null
}

async function graphql (ctx: ConnectorContext, query: string, variables: Record<string, unknown>, operation: string): Promise<Record<string, unknown>> {
  const res = await ctx.api.call(`${ctx.urls.api}/graphql.json`, { method: 'POST', json: { query, variables }, operation })
  return record(record(res.body).data)
}

const toProduct = (n: Record<string, unknown>): Product => ({
  id: String(n.id),
  title: String(n.title ?? ''),
  description: String(n.description ?? ''),
  images: (record(n.media).nodes as unknown[] ?? []).map((m) => record(record(record(m).preview).image).url).filter((u): u is string => typeof u === 'string'),
  variants: (record(n.variants).nodes as unknown[]) ?? []
})

export const shopifyCommerce: CommerceCapability = {
  listProducts (ctx, opts = {}) {
    const first = Math.min(opts.pageSize ?? 250, 250)
    return cursorPages(async (after: string | null) => {
      const products = record((await graphql(ctx, PRODUCTS, { first, after }, 'list_products')).products)
      const info = record(products.pageInfo)
      return { items: ((products.nodes as unknown[]) ?? []).map((n) => toProduct(record(n))), next: info.hasNextPage === true && typeof info.endCursor === 'string' ? info.endCursor : null }
    })
  },

  async addProductImages (ctx, productId, imageUrls) {
    const media = imageUrls.map((url) => ({ originalSource: url, mediaContentType: 'IMAGE', alt: 'Mockup' }))
    const out = record((await graphql(ctx, ADD_MEDIA, { product: { id: productGid(productId) }, media }, 'publish_mockup')).productUpdate)
    const userErrors = (out.userErrors as unknown[] | undefined) ?? []
    if (userErrors.length > 0) {
      const message = String(record(userErrors[0]).message ?? 'rejected')
      throw new AppError(/not exist|not found/i.test(message) ? 'NOT_FOUND' : 'API_ERROR', `Shopify refused the media: ${message.slice(0, 200)}`, { details: { platform: 'shopify' } })
    }
    const product = record(out.product)
    const nodes = ((record(product.media).nodes as unknown[]) ?? []).map(record).slice(-imageUrls.length)
    return { productId: String(product.id), media: nodes.map((m) => ({ id: String(m.id), status: String(m.status) })), productUrl: typeof product.onlineStoreUrl === 'string' ? product.onlineStoreUrl : null }
  }
}

const str = { type: 'string', minLength: 1 }
const urls = { type: 'array', items: { type: 'string', format: 'uri' }, minItems: 1, maxItems: 20 }

export const shopifyConnector: Connector = {
  dialect: {
    authHeaders: (token) => ({ 'x-shopify-access-token': token }),
    classify: classifyShopify,
    pacing: paceShopify,
    // GraphQL Admin is cost-limited (paced from throttleStatus above); this only caps bursts of requests.
    rateLimit: { perSecond: 50, burst: 100 }
  },
  commerce: shopifyCommerce,
  operations: [
    {
      name: 'get_products',
      description: 'One page of products (cursor pagination): id, title, description, images, variants',
      scopes: ['read_products'],
      inputSchema: { type: 'object', properties: { first: { type: 'integer', minimum: 1, maximum: 250 }, after: str }, additionalProperties: false },
      async run (ctx, input) {
        const products = record((await graphql(ctx, PRODUCTS, { first: input.first ?? 50, after: input.after ?? null }, 'get_products')).products)
        const info = record(products.pageInfo)
        return { products: ((products.nodes as unknown[]) ?? []).map((n) => toProduct(record(n))), nextCursor: info.hasNextPage === true ? info.endCursor : null }
      }
    },
    {
      name: 'import_products',
      description: 'Import every product, page by page, as a tracked background run',
      scopes: ['read_products'],
      long: true,
      inputSchema: { type: 'object', properties: { pageSize: { type: 'integer', minimum: 1, maximum: 250 } }, additionalProperties: false },
      run: (ctx, input) => importProducts(ctx, shopifyCommerce, input.pageSize as number | undefined)
    },
    {
      name: 'publish_mockup',
      description: 'Attach mockup image URLs to a product as media',
      scopes: ['write_products'],
      inputSchema: { type: 'object', required: ['productId', 'mockupUrls'], properties: { productId: str, mockupUrls: urls }, additionalProperties: false },
      async run (ctx, input) {
        const r = await shopifyCommerce.addProductImages(ctx, input.productId as string, input.mockupUrls as string[])
        return { ...r, publishedUrl: r.productUrl }
      }
    },
    {
      name: 'get_account',
      description: 'Shop name, plan and primary domain',
      inputSchema: { type: 'object', additionalProperties: false },
      async run (ctx) {
        const shop = record((await graphql(ctx, SHOP, {}, 'get_account')).shop)
        return { name: shop.name ?? null, plan: record(shop.plan).displayName ?? null, primaryDomain: record(shop.primaryDomain).url ?? null, myshopifyDomain: shop.myshopifyDomain ?? null }
      }
    }
  ]
}
