/**
 * Operations through GraphQL with pg-boss running (JOBS_ENABLED=true): long runs are jobs whose
 * id is the request id of their outbound calls; Provider.operations; failed runs; the rate
 * governor queues instead of failing; security cases for every new root field.
 */
import t from 'tap'
import { randomId, runSecurityCases } from '../security-cases.ts'
import { RateGovernor } from '../../src/connectors/outbound/governor.ts'
import { SHOPIFY_GRAPHQL, type ShopifyFake } from '../fakes/shopify.ts'
import { outboundRows, setup, waitForRun } from './connector-helper.ts'

const IMPORT = 'mutation($id: ID!) { importProducts(integrationId: $id) { id status operation provider integrationId } }'
/** A run of the set-up team: foreign to the security cases' own team. */
let runOfOwner = ''
const OPERATIONS = '{ providers(status: ACTIVE) { id operations { name description inputSchema requiredScope long scopes } } }'

t.test('operations on pg-boss', async (t) => {
  const s = await setup(t, { JOBS_ENABLED: 'true', JOBS_POLL_INTERVAL_SECONDS: '1' })
  const shopify = s.fakes.shopify as ShopifyFake
  shopify.data.seed(60)
  const id = await s.connectTo('shopify', { shop: 'ada-shop' })

  await t.test('Provider.operations: name, description, JSON schema, required scope', async (t) => {
    const res = await s.app.gql(OPERATIONS, { auth: s.adminKey })
    const byId: Record<string, any[]> = Object.fromEntries((res.body.data!.providers as Array<{ id: string, operations: any[] }>).map((p) => [p.id, p.operations]))
    t.same(byId.shopify!.map((o: { name: string }) => o.name), ['get_products', 'import_products', 'publish_mockup', 'get_account'])
    t.same(byId.google_drive!.map((o: { name: string }) => o.name), ['upload_file', 'create_folder', 'list_folders', 'get_account'])
    t.same(byId.dropbox!.map((o: { name: string }) => o.name), ['upload_file', 'create_folder', 'list_folders', 'get_account'])
    t.same(byId.figma!.map((o: { name: string }) => o.name), ['list_files', 'export_design', 'import_design', 'get_account'])
    t.same(byId.notion!.map((o: { name: string }) => o.name), ['search', 'create_page', 'get_account'])
    t.same(byId.slack!.map((o: { name: string }) => o.name), ['post_message', 'list_channels', 'get_account'])
    const publish = byId.shopify!.find((o: { name: string }) => o.name === 'publish_mockup')
    t.same(publish.inputSchema.required, ['productId', 'mockupUrls'])
    t.equal(publish.requiredScope, 'integrations:execute')
    t.same(publish.scopes, ['write_products'])
    t.equal(byId.shopify!.find((o: { name: string }) => o.name === 'import_products').long, true)
  })

  await t.test('importProducts runs as a pg-boss job; its outbound rows carry the job id', async (t) => {
    const res = await s.app.gql(IMPORT, { auth: s.adminKey, variables: { id } })
    t.equal(res.body.errors, undefined)
    const queued = res.body.data!.importProducts
    runOfOwner = queued.id
    t.same({ ...queued, id: undefined }, { id: undefined, status: 'QUEUED', operation: 'capability:import_products', provider: 'shopify', integrationId: id })
    const done = await waitForRun(s, queued.id)
    t.equal(done.status, 'SUCCEEDED')
    t.same(done.result, { pages: 1, records: 60 })
    t.equal(done.items.totalCount, 60)
    const rows = await s.app.database.rows<{ job_id: string }>((await import('drizzle-orm')).sql`select job_id from operation_runs where id = ${queued.id}`)
    t.type(rows[0]!.job_id, 'string', 'the job id is recorded')
    const outbound = await outboundRows(s, 'shopify')
    t.ok(outbound.some((r) => r.request_id === rows[0]!.job_id), 'outbound rows are linked to the job')
  })

  await t.test('a run whose provider keeps failing ends FAILED with the error type', async (t) => {
    shopify.server.fail(SHOPIFY_GRAPHQL, { status: 500, body: { errors: 'Internal error' } })
    const res = await s.app.gql(IMPORT, { auth: s.adminKey, variables: { id } })
    const done = await waitForRun(s, res.body.data!.importProducts.id)
    shopify.server.clear(SHOPIFY_GRAPHQL)
    t.equal(done.status, 'FAILED')
    t.equal(done.error.code, 'CONNECTION_FAILED')
    t.equal(done.error.platform, 'shopify')
  })

  await runSecurityCases(t, s.app, [
    { name: 'runIntegrationOperation', scope: 'integrations:execute', query: 'mutation($id: ID!) { runIntegrationOperation(integrationId: $id, operation: "get_products", input: {}) { success } }', variables: () => ({ id }), crossTeam: { foreign: () => ({ id }), missing: () => ({ id: randomId() }) } },
    { name: 'importProducts', scope: 'integrations:execute', query: IMPORT, variables: () => ({ id }), crossTeam: { foreign: () => ({ id }), missing: () => ({ id: randomId() }) } },
    { name: 'publishMockup', scope: 'integrations:execute', query: 'mutation($id: ID!) { publishMockup(integrationId: $id, productId: "1", mockupUrls: ["https://x.example/a.png"]) { productId } }', variables: () => ({ id }), crossTeam: { foreign: () => ({ id }), missing: () => ({ id: randomId() }) } },
    { name: 'exportDesign', scope: 'integrations:execute', query: 'mutation($id: ID!) { exportDesign(integrationId: $id, fileKey: "k", nodeIds: ["1:1"]) { fileKey } }', variables: () => ({ id }), crossTeam: { foreign: () => ({ id }), missing: () => ({ id: randomId() }) } },
    { name: 'saveToCloudStorage', scope: 'integrations:execute', query: 'mutation($id: ID!) { saveToCloudStorage(integrationId: $id, fileUrls: ["https://x.example/a.png"]) { id } }', variables: () => ({ id }), crossTeam: { foreign: () => ({ id }), missing: () => ({ id: randomId() }) } },
    { name: 'operationRun', scope: 'integrations:read', query: 'query($id: ID!) { operationRun(id: $id) { id } }', variables: () => ({ id: randomId() }), crossTeam: { foreign: () => ({ id: runOfOwner }), missing: () => ({ id: randomId() }) } }
  ])
})


t.test('rate governor: over budget calls queue in order; a pause holds every call; too long a wait fails', async (t) => {
  const g = new RateGovernor({ maxWaitMs: 1000 })
  const budget = { perSecond: 20, burst: 2 }
  const started = Date.now()
  const done: number[] = []
  await Promise.all([0, 1, 2, 3, 4].map(async (i) => { await g.acquire('k', budget, 'p'); done.push(i) }))
  t.same(done, [0, 1, 2, 3, 4], 'FIFO')
  t.ok(Date.now() - started >= 140, `3 calls over the burst waited 50 ms each (${Date.now() - started} ms)`)
  g.pause('k', 200)
  const p0 = Date.now()
  await g.acquire('k', budget, 'p')
  t.ok(Date.now() - p0 >= 190, 'no call during the pause')
  g.pause('k', 5000)
  await t.rejects(g.acquire('k', budget, 'p'), { code: 'RATE_LIMIT_EXCEEDED' }, 'a wait past the bound fails with RATE_LIMIT_EXCEEDED')
  await g.acquire('other', budget, 'p')
  t.pass('other integrations are not paused')
})
