/**
 * Row-level security behind connector operations: the integration an operation binds to, the
 * needs_reauth mark, a run's row (queued, claimed, progressed, finished) and its items are all
 * read and written as the tenant role. Proof: as the owner, drop the tenant policy of the table
 * a path uses; with no policy for the role RLS denies everything, so the team's OWN rows vanish
 * from that path (NOT_FOUND, no items, no write), while a path still running as the owner would
 * go on seeing them. One app for the file; each step drops one more policy, in an order that
 * leaves the next step's tables alone.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { newId } from '../../src/domain/ids.ts'
import { SHOPIFY_GRAPHQL, type ShopifyFake } from '../fakes/shopify.ts'
import { RUN_STATUS, run, integrationStatus, setup } from '../connectors/connector-helper.ts'

const IMPORT = 'mutation($id: ID!) { importProducts(integrationId: $id) { id status } }'

t.test('operations run as the tenant role', async (t) => {
  const s = await setup(t)
  const shopify = s.fakes.shopify as ShopifyFake
  shopify.data.seed(5)
  const id = await s.connectTo('shopify', { shop: 'ada-shop' })
  const { operations } = s.app.app.services
  const dropPolicy = (table: string) => s.app.database.rows(sql.raw(`drop policy ${table}_tenant on ${table}`))
  const runStatus = (runId: string) => s.app.gql(RUN_STATUS, { auth: s.adminKey, variables: { id: runId } })
  const ownerRun = async (runId: string) => (await s.app.database.rows<{ status: string, item_count: number }>(sql`select status, item_count from operation_runs where id = ${runId}`))[0]
  /** A queued run inserted as the owner, as if its job were still waiting in the queue. */
  const queuedRun = async () => {
    const runId = newId()
    await s.app.database.rows(sql`insert into operation_runs (id, team_id, integration_id, provider, operation, status, created_by) values (${runId}, ${s.teamId}, ${id}, 'shopify', 'capability:import_products', 'queued', 'test')`)
    return runId
  }

  // Created with every policy in place: the paths work as the tenant.
  const imported = await s.app.gql(IMPORT, { auth: s.adminKey, variables: { id } })
  t.equal(imported.body.errors, undefined)
  const runId = imported.body.data!.importProducts.id as string
  await operations.drain()
  const before = (await runStatus(runId)).body.data!.operationRun
  t.equal(before.status, 'SUCCEEDED')
  t.equal(before.items.totalCount, 5, 'the items, read as the tenant')

  await t.test('a job names its team; one queued before jobs did is still run', async (t) => {
    const legacy = await queuedRun()
    await operations.executeJob({ runId: legacy })
    t.same(await ownerRun(legacy), { status: 'succeeded', item_count: 5 })
    const current = await queuedRun()
    await operations.executeJob({ runId: current, teamId: s.teamId })
    t.same(await ownerRun(current), { status: 'succeeded', item_count: 5 })
    await operations.executeJob({ runId: newId(), teamId: s.teamId })
    t.pass('a job whose run is gone does nothing')
  })

  await t.test('operation_run_items: the items are read and appended as the tenant', async (t) => {
    await dropPolicy('operation_run_items')
    const after = (await runStatus(runId)).body.data!.operationRun
    t.equal(after.status, 'SUCCEEDED', 'the run itself is still visible')
    t.same(after.items.nodes, [], 'its items are not')
    t.equal(after.items.totalCount, 0)

    const again = await s.app.gql(IMPORT, { auth: s.adminKey, variables: { id } })
    await operations.drain()
    const failed = (await runStatus(again.body.data!.importProducts.id)).body.data!.operationRun
    t.equal(failed.status, 'FAILED', 'the job could not append its items')
    t.equal(failed.itemCount, 0)
  })

  await t.test('audit_events: the needs_reauth mark is written as the tenant', async (t) => {
    await dropPolicy('audit_events')
    // The token is refused, refreshed, and the fresh one refused too: the connector marks the integration.
    shopify.server.fail(SHOPIFY_GRAPHQL, { status: 401, body: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' } }, 2)
    const r = await run(s, id, 'get_products', { first: 1 })
    t.ok('errors' in r || r.success === false, 'the operation fails')
    t.equal(await integrationStatus(s, id), 'connected', 'the mark and its audit event rolled back together')
    const audits = await s.app.database.rows(sql`select 1 from audit_events where action = 'integration.needs_reauth'`)
    t.equal(audits.length, 0)
  })

  await t.test('operation_runs: a run is read, created and claimed as the tenant', async (t) => {
    const waiting = await queuedRun()
    await dropPolicy('operation_runs')
    const res = await runStatus(runId)
    t.equal(res.body.errors?.[0]?.extensions.code, 'NOT_FOUND', 'the team\'s own run is not found')
    const created = await s.app.gql(IMPORT, { auth: s.adminKey, variables: { id } })
    t.ok(created.body.errors !== undefined, 'no run can be created')
    t.equal((await s.app.database.rows(sql`select 1 from operation_runs`)).length, 5, 'nothing was inserted')
    await operations.executeJob({ runId: waiting, teamId: s.teamId })
    t.same(await ownerRun(waiting), { status: 'queued', item_count: 0 }, 'the job could not claim its run')
  })

  await t.test('integrations: an operation binds its integration as the tenant', async (t) => {
    await dropPolicy('integrations')
    const r = await run(s, id, 'get_products', { first: 1 })
    t.equal('errors' in r ? r.errors[0]!.extensions.code : 'no error', 'NOT_FOUND', 'the team\'s own integration is not found')
  })
})
