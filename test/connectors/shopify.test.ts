import t from 'tap'
import { integrationStatus, outboundRows, run, setup, waitForRun, RUN, RUN_STATUS } from './connector-helper.ts'
import { SHOPIFY_GRAPHQL, type ShopifyFake } from '../fakes/shopify.ts'

t.test('shopify connector', async (t) => {
  const s = await setup(t)
  const fake = s.fakes.shopify as ShopifyFake
  fake.data.seed(120)
  const id = await s.connectTo('shopify', { shop: 'ada-shop' })

  await t.test('get_products: one page with cursor, the token in X-Shopify-Access-Token', async (t) => {
    const r = await run(s, id, 'get_products', { first: 50 })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.success, true)
    t.equal(r.data.products.length, 50)
    t.same(r.data.products[0], { id: 'gid://shopify/Product/1000', title: 'Product 0', description: 'Description of product 0', images: ['https://cdn.shopify.example/p-0.png'], variants: [{ id: 'gid://shopify/ProductVariant/0', title: 'Default', price: '19.00', sku: 'SKU-0' }] })
    t.type(r.data.nextCursor, 'string')
    const next = await run(s, id, 'get_products', { first: 50, after: r.data.nextCursor })
    if ('errors' in next) throw new Error('errors')
    t.equal(next.data.products[0].id, 'gid://shopify/Product/1050', 'the cursor continues')
    const req = fake.server.requests.filter((x) => x.route === SHOPIFY_GRAPHQL).at(-1)!.req
    t.ok(fake.oauth.accessTokens.has(String(req.headers['x-shopify-access-token'])))
    t.equal(req.headers.authorization, undefined, 'no Bearer header')
  })

  await t.test('input validated against the schema: BAD_USER_INPUT', async (t) => {
    const r = await run(s, id, 'get_products', { first: 1000 })
    t.ok('errors' in r)
    if ('errors' in r) {
      t.equal(r.errors[0]!.extensions.code, 'BAD_USER_INPUT')
      t.match(r.errors[0]!.message, /first/)
    }
    const unknown = await run(s, id, 'no_such_operation', {})
    t.equal('errors' in unknown && unknown.errors[0]!.extensions.code, 'BAD_USER_INPUT')
  })

  await t.test('import_products: every page streamed into a tracked run', async (t) => {
    const before = fake.server.count(SHOPIFY_GRAPHQL)
    const r = await run(s, id, 'import_products', { pageSize: 25 })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.success, true)
    const done = await waitForRun(s, r.run!.id)
    t.equal(done.status, 'SUCCEEDED')
    t.same(done.result, { pages: 5, records: 120 })
    t.same(done.progress, { pages: 5, records: 120 })
    t.equal(done.itemCount, 120)
    t.equal(done.items.totalCount, 120)
    t.equal(done.items.nodes.length, 100)
    t.equal(done.items.nodes[99].id, 'gid://shopify/Product/1099', 'provider order kept')
    t.equal(fake.server.count(SHOPIFY_GRAPHQL) - before, 5, 'five pages of 25')
    const rest = await s.app.gql('query($id: ID!, $after: String) { operationRun(id: $id) { items(first: 100, after: $after) { nodes pageInfo { hasNextPage } } } }', { auth: s.adminKey, variables: { id: r.run!.id, after: done.items.pageInfo.endCursor } })
    t.equal(rest.body.data!.operationRun.items.nodes.length, 20)
    t.equal(rest.body.data!.operationRun.items.pageInfo.hasNextPage, false)
  })

  await t.test('publish_mockup and get_account', async (t) => {
    const r = await run(s, id, 'publish_mockup', { productId: '1003', mockupUrls: ['https://cdn.example/mockup-1.png', 'https://cdn.example/mockup-2.png'] })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.success, true)
    t.equal(r.data.productId, 'gid://shopify/Product/1003')
    t.equal(r.data.media.length, 2)
    t.equal(r.data.media[0].status, 'UPLOADED')
    t.same(fake.data.products[3]!.media.slice(1).map((m) => m.url), ['https://cdn.example/mockup-1.png', 'https://cdn.example/mockup-2.png'])
    const missing = await run(s, id, 'publish_mockup', { productId: '999999', mockupUrls: ['https://cdn.example/x.png'] })
    t.equal('errors' in missing && missing.errors[0]!.extensions.code, 'NOT_FOUND', 'unknown product')
    const account = await run(s, id, 'get_account', {})
    if ('errors' in account) throw new Error('errors')
    t.same(account.data, { name: 'Ada Shop', plan: 'Basic', primaryDomain: 'https://ada.example', myshopifyDomain: 'ada-shop.myshopify.com' })
  })

  await t.test('GraphQL THROTTLED: waits for the bucket, then retries', async (t) => {
    fake.data.throttle(1)
    fake.data.restoreRate = 1000 // 100 points at 1000/s → 100 ms
    const before = fake.server.count(SHOPIFY_GRAPHQL)
    const started = Date.now()
    const r = await run(s, id, 'get_products', { first: 5 })
    fake.data.restoreRate = 100_000
    t.equal(!('errors' in r) && r.success, true)
    t.equal(fake.server.count(SHOPIFY_GRAPHQL) - before, 2, 'one throttled call, one retry')
    t.ok(Date.now() - started >= 95, 'waited for the bucket to refill')
  })

  await t.test('429 with Retry-After: no call before it has passed', async (t) => {
    fake.server.fail(SHOPIFY_GRAPHQL, { status: 429, headers: { 'retry-after': '0.3' }, body: { errors: 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.' } }, 1)
    const started = Date.now()
    const r = await run(s, id, 'get_products', { first: 5 })
    t.equal(!('errors' in r) && r.success, true)
    t.ok(Date.now() - started >= 290, `retried after Retry-After (${Date.now() - started} ms)`)
    const rows = await outboundRows(s, 'shopify')
    const last = rows.slice(-2)
    t.same(last.map((x) => [x.status, x.attempt]), [[429, 1], [200, 2]], 'one request-log row per attempt')
    t.same(last[0]!.error_codes, ['RATE_LIMIT_EXCEEDED'])
    t.match(last[0]!.path, /graphql\.json$/)
    const res = await s.app.gql(RUN, { auth: s.adminKey, variables: { id, op: 'get_products', input: { first: 1 } } })
    const rows2 = await outboundRows(s, 'shopify')
    t.equal(rows2.at(-1)!.request_id, res.headers['x-request-id'], 'outbound rows carry the inbound request id')
  })

  await t.test('expired token: refreshed through the token service, the call retried once', async (t) => {
    fake.oauth.expireAccessTokens()
    const refreshes = fake.server.count(fake.refreshRoute)
    const r = await run(s, id, 'get_products', { first: 5 })
    t.equal(!('errors' in r) && r.success, true)
    t.equal(fake.server.count(fake.refreshRoute) - refreshes, 1, 'one refresh')
    t.equal(await integrationStatus(s, id), 'connected')
  })

  await t.test('5xx retried, then the circuit opens; other integrations unaffected', async (t) => {
    fake.server.fail(SHOPIFY_GRAPHQL, { status: 503, body: { errors: 'Service Unavailable' } })
    const before = fake.server.count(SHOPIFY_GRAPHQL)
    const r = await run(s, id, 'get_products', { first: 5 })
    t.equal(!('errors' in r) && r.success, false)
    if (!('errors' in r)) {
      t.equal(r.error!.code, 'CONNECTION_FAILED', 'retried until the attempts ran out')
      t.equal(r.error!.platform, 'shopify')
      t.equal(r.error!.retryable, true)
    }
    t.equal(fake.server.count(SHOPIFY_GRAPHQL) - before, 3, 'three attempts reached the provider')
    const started = performance.now()
    const fast = await run(s, id, 'get_products', { first: 5 })
    t.ok(performance.now() - started < 200, 'fails fast')
    t.equal(!('errors' in fast) && fast.error?.code, 'UPSTREAM_UNAVAILABLE')
    t.equal(fake.server.count(SHOPIFY_GRAPHQL) - before, 3, 'no call while open')
    fake.server.clear(SHOPIFY_GRAPHQL)
    const otherShop = await s.connectTo('shopify', { shop: 'bob-shop' })
    const other = await run(s, otherShop, 'get_products', { first: 5 })
    t.equal(!('errors' in other) && other.success, true, 'another integration has its own circuit')
    await new Promise((resolve) => setTimeout(resolve, 350))
    const probe = await run(s, id, 'get_products', { first: 5 })
    t.equal(!('errors' in probe) && probe.success, true, 'a probe after halfOpenAfter closes it again')
  })

  await t.test('timeout: the call is aborted at PROVIDER_TIMEOUT_MS, NETWORK_ERROR, not retried', async (t) => {
    fake.server.delays[SHOPIFY_GRAPHQL] = 1000
    const before = fake.server.count(SHOPIFY_GRAPHQL)
    const started = Date.now()
    const r = await run(s, id, 'get_products', { first: 5 })
    delete fake.server.delays[SHOPIFY_GRAPHQL]
    t.ok(Date.now() - started < 900, 'aborted near the 400 ms timeout')
    t.equal(!('errors' in r) && r.error?.code, 'NETWORK_ERROR')
    t.equal(fake.server.count(SHOPIFY_GRAPHQL) - before, 1)
    await new Promise((resolve) => setTimeout(resolve, 700)) // let the slow reply finish
  })

  await t.test('revoked token: refresh refused → INVALID_CREDENTIALS, integration needs_reauth', async (t) => {
    fake.oauth.revokeEverything()
    const r = await run(s, id, 'get_products', { first: 5 })
    t.equal(!('errors' in r) && r.success, false)
    if (!('errors' in r)) {
      t.equal(r.error!.code, 'INVALID_CREDENTIALS')
      t.equal(r.error!.retryable, false)
      t.match(r.error!.userMessage, /reconnect/)
    }
    t.equal(await integrationStatus(s, id), 'needs_reauth')
    const typed = await s.app.gql('mutation($id: ID!) { importProducts(integrationId: $id) { id } }', { auth: s.adminKey, variables: { id } })
    t.equal(typed.body.errors?.[0]?.extensions.code, 'INVALID_CREDENTIALS')
    t.equal(typed.body.errors?.[0]?.extensions.platform, 'shopify')
    t.equal(typed.body.errors?.[0]?.extensions.retryable, false)
    t.type(typed.body.errors?.[0]?.extensions.userMessage, 'string')
  })

  t.ok(RUN_STATUS)
})
