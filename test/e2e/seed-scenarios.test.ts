/**
 * Seed 000's end-to-end scenarios, through GraphQL only, against the loopback fakes, with
 * pg-boss running the long operations:
 * connect Shopify and import products → connect Figma and import a design → publish the
 * mockup to Shopify → save it to Google Drive and to Dropbox → disconnect every platform
 * (tokens revoked at the fakes).
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import type { DriveFake } from '../fakes/google-drive.ts'
import type { DropboxFake } from '../fakes/dropbox.ts'
import type { FigmaFake } from '../fakes/figma.ts'
import type { ShopifyFake } from '../fakes/shopify.ts'
import { RUN, setup, waitForRun } from '../connectors/connector-helper.ts'

const IMPORT = 'mutation($id: ID!) { importProducts(integrationId: $id) { id status } }'
const PUBLISH = 'mutation($id: ID!, $product: ID!, $urls: [String!]!) { publishMockup(integrationId: $id, productId: $product, mockupUrls: $urls) { productId productUrl media { id status } } }'
const SAVE = 'mutation($id: ID!, $urls: [String!]!, $folder: String) { saveToCloudStorage(integrationId: $id, fileUrls: $urls, folder: $folder) { id status } }'
const DISCONNECT = 'mutation($id: ID!) { disconnectIntegration(id: $id) { id status } }'
const INTEGRATIONS = '{ integrations(first: 20) { nodes { id status provider { id isConnected } } } }'

t.test('seed end-to-end scenarios through GraphQL', async (t) => {
  const s = await setup(t, { JOBS_ENABLED: 'true', JOBS_POLL_INTERVAL_SECONDS: '1' })
  const shopify = s.fakes.shopify as ShopifyFake
  const figma = s.fakes.figma as FigmaFake
  shopify.data.seed(300)
  const ids: Record<string, string> = {}
  let mockupUrl = ''

  await t.test('1. connect Shopify and import products', async (t) => {
    ids.shopify = await s.connectTo('shopify', { shop: 'ada-shop' })
    const started = await s.app.gql(IMPORT, { auth: s.adminKey, variables: { id: ids.shopify } })
    t.equal(started.body.errors, undefined)
    const run = await waitForRun(s, started.body.data!.importProducts.id)
    t.equal(run.status, 'SUCCEEDED')
    t.same(run.result, { pages: 2, records: 300 }, '250 + 50')
    t.equal(run.items.totalCount, 300)
    t.equal(run.items.nodes[0].title, 'Product 0')
  })

  await t.test('2. connect Figma and import a design', async (t) => {
    ids.figma = await s.connectTo('figma')
    const files = await s.app.gql(RUN, { auth: s.adminKey, variables: { id: ids.figma, op: 'list_files', input: { teamId: 'team-1' } } })
    const file = files.body.data!.runIntegrationOperation.data.files.find((f: { name: string }) => f.name === 'T-shirt')
    const imported = await s.app.gql(RUN, { auth: s.adminKey, variables: { id: ids.figma, op: 'import_design', input: { fileKey: file.key, nodeIds: ['1:2'], format: 'png', scale: 2 } } })
    const r = imported.body.data!.runIntegrationOperation
    t.equal(r.success, true)
    t.equal(r.data.name, 'T-shirt')
    t.equal(r.data.images[0].size, figma.render(file.key, '1:2', 'png').length)
    mockupUrl = r.data.images[0].url
  })

  await t.test('3. publish the mockup to a Shopify product', async (t) => {
    const res = await s.app.gql(PUBLISH, { auth: s.adminKey, variables: { id: ids.shopify, product: 'gid://shopify/Product/1007', urls: [mockupUrl] } })
    t.equal(res.body.errors, undefined)
    t.equal(res.body.data!.publishMockup.productId, 'gid://shopify/Product/1007')
    t.equal(res.body.data!.publishMockup.productUrl, 'https://ada.example/products/p-7')
    t.same(res.body.data!.publishMockup.media.map((m: { status: string }) => m.status), ['UPLOADED'])
    t.equal(shopify.data.products[7]!.media.at(-1)!.url, mockupUrl, 'the media source is the design export')
  })

  await t.test('4. save the mockup to Google Drive and to Dropbox', async (t) => {
    ids.google_drive = await s.connectTo('google_drive')
    ids.dropbox = await s.connectTo('dropbox')
    const expected = figma.render('FILEc', '1:2', 'png')
    for (const provider of ['google_drive', 'dropbox'] as const) {
      const res = await s.app.gql(SAVE, { auth: s.adminKey, variables: { id: ids[provider], urls: [mockupUrl], folder: 'Mockups' } })
      t.equal(res.body.errors, undefined, provider)
      const run = await waitForRun(s, res.body.data!.saveToCloudStorage.id)
      t.equal(run.status, 'SUCCEEDED', provider)
      t.equal(run.result.folder.name, 'Mockups')
    }
    const drive = s.fakes.google_drive as DriveFake
    const dropbox = s.fakes.dropbox as DropboxFake
    t.ok([...drive.files.values()].some((f) => f.content?.equals(expected) === true), 'in Drive, byte for byte')
    t.ok(dropbox.entries.get('/mockups/1:2.png')?.content?.equals(expected) === true, 'in Dropbox under /Mockups, byte for byte')
  })

  await t.test('5. disconnect from every platform: tokens revoked at the providers', async (t) => {
    ids.notion = await s.connectTo('notion')
    ids.slack = await s.connectTo('slack')
    const issued: Record<string, string[]> = {}
    for (const p of Object.keys(ids)) issued[p] = [...s.fakes[p as keyof typeof s.fakes].oauth.accessTokens]
    for (const [provider, id] of Object.entries(ids)) {
      const res = await s.app.gql(DISCONNECT, { auth: s.adminKey, variables: { id } })
      t.equal(res.body.data?.disconnectIntegration.status, 'DISCONNECTED', provider)
    }
    for (const provider of ['shopify', 'google_drive', 'dropbox', 'notion', 'slack']) {
      const fake = s.fakes[provider as keyof typeof s.fakes]
      t.ok(fake.oauth.revoked.length > 0, `${provider}: revocation reached the provider`)
    }
    for (const provider of ['shopify', 'dropbox', 'slack']) {
      const fake = s.fakes[provider as keyof typeof s.fakes]
      t.notOk(issued[provider]!.some((tok) => fake.oauth.accessTokens.has(tok)), `${provider}: the access tokens no longer work`)
    }
    const rows = await s.app.database.rows<{ n: number }>(sql`select count(*)::int as n from integration_credentials`)
    t.equal(rows[0]!.n, 0, 'no token left in the vault (Figma documents no revocation: deleted locally)')
    const list = await s.app.gql(INTEGRATIONS, { auth: s.adminKey })
    t.ok(list.body.data!.integrations.nodes.every((n: { status: string, provider: { isConnected: boolean } }) => n.status === 'DISCONNECTED' && !n.provider.isConnected))
    const after = await s.app.gql(RUN, { auth: s.adminKey, variables: { id: ids.shopify, op: 'get_products', input: {} } })
    t.equal(after.body.data!.runIntegrationOperation.success, false)
    t.equal(after.body.data!.runIntegrationOperation.error.code, 'CONNECTION_FAILED', 'a disconnected integration runs nothing')
  })
})
