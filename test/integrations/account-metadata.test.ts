/**
 * Account metadata refreshed by a background job: the handler (AccountMetadataService.refreshDue)
 * directly on the fakes, then once with JOBS_ENABLED=true that pg-boss holds every schedule of
 * this area (token refresh every 10 min, revoke retries, account metadata).
 */
import t from 'tap'
import { eq, sql } from 'drizzle-orm'
import { integrations } from '../../src/db/schema.ts'
import { ACCOUNT_REFRESH_CRON } from '../../src/domain/integrations/account-metadata.service.ts'
import { JOBS, TOKEN_REFRESH_CRON } from '../../src/routes/oauth-callback.ts'
import { build, testClock } from '../helper.ts'
import { connect, fakeEnv, startFakes } from '../oauth/oauth-helper.ts'

const GET = 'query($id: ID!) { integration(id: $id) { status accountName accountMetadata accountRefreshedAt accountRefreshError } }'
const SHOP_JSON = 'GET /{shop}/admin/api/2025-07/shop.json'

t.test('account metadata refresh job', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { adminKey } = await app.seedTeam('acme')
  const job = app.app.services.accountMetadata
  const get = async (id: string) => (await app.gql(GET, { auth: adminKey, variables: { id } })).body.data!.integration

  const shop = await connect(app, fakes.shopify, adminKey, { provider: 'shopify', shop: 'meta-shop' })
  const o = fakes.custom.server.origin
  const created = await app.gql('mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }', {
    auth: adminKey, variables: { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, userinfoUrl: `${o}/userinfo`, clientId: 'custom-client', clientSecret: 'custom-secret' } } }
  })
  const customId = created.body.data!.createIntegration.id as string
  await connect(app, fakes.custom, adminKey, { provider: 'custom_oauth2', integrationId: customId })
  const shopId = shop.integrationId!
  const connectedAt = (await get(shopId)).accountRefreshedAt
  t.ok(connectedAt, 'set on connect')

  await t.test('new shop name and plan are picked up; status untouched', async (t) => {
    // The merchant renamed the shop and changed plan.
    fakes.shopify.server.route('GET', '/{shop}/admin/api/2025-07/shop.json', (req) => fakes.shopify.oauth.accessTokens.has(String(req.headers['x-shopify-access-token']))
      ? { status: 200, body: { shop: { id: 1, name: 'Ada Shop Deluxe', myshopify_domain: req.path.split('/')[1], domain: 'ada.example', plan_name: 'shopify_plus' } } }
      : { status: 401, body: { errors: '[API] Invalid API key or access token' } })
    clock.advance(3600_000 + 60_000) // the 1 h Shopify token expired: the job refreshes it first
    const counts = await job.refreshDue()
    t.same(counts, { refreshed: 2, failed: 0, needs_reauth: 0, skipped: 0 })
    const i = await get(shopId)
    t.equal(i.accountName, 'Ada Shop Deluxe')
    t.equal(i.accountMetadata.plan, 'shopify_plus')
    t.equal(i.status, 'CONNECTED')
    t.equal(new Date(i.accountRefreshedAt).getTime(), clock.now().getTime())
    t.equal(i.accountRefreshError, null)
  })

  await t.test('a provider failure is recorded without changing status or metadata (no flapping)', async (t) => {
    fakes.shopify.server.fail(SHOP_JSON, { status: 503, body: { errors: 'Service unavailable' } })
    const before = await get(shopId)
    clock.advance(60_000)
    const counts = await job.refreshDue()
    t.equal(counts.failed, 1)
    const i = await get(shopId)
    t.equal(i.status, 'CONNECTED', 'still connected')
    t.equal(i.accountName, before.accountName)
    t.same(i.accountMetadata, before.accountMetadata)
    t.equal(i.accountRefreshedAt, before.accountRefreshedAt, 'last success kept')
    t.equal(i.accountRefreshError, 'The provider answered HTTP 503')
    fakes.shopify.server.clear(SHOP_JSON)
    clock.advance(60_000)
    await job.refreshDue()
    t.equal((await get(shopId)).accountRefreshError, null, 'cleared by the next success')
  })

  await t.test('401 on the account call → one token refresh through the token logic, then the lookup succeeds', async (t) => {
    const tokenCalls = fakes.custom.server.count('POST /oauth/token')
    fakes.custom.server.fail('GET /userinfo', { status: 401, body: { error: 'invalid_token' } }, 1)
    const [row] = await app.database.db.select().from(integrations).where(eq(integrations.id, customId))
    const outcome = await job.refreshOne(row!)
    t.equal(outcome, 'refreshed')
    t.equal(fakes.custom.server.count('POST /oauth/token'), tokenCalls + 1, 'forced refresh once')
    t.equal((await get(customId)).status, 'CONNECTED')
  })

  await t.test('401 and the grant is gone (invalid_grant) → needs_reauth via the token logic, audited', async (t) => {
    fakes.custom.oauth.revokeAll()
    fakes.custom.server.fail('GET /userinfo', { status: 401, body: { error: 'invalid_token' } })
    const counts = await job.refreshDue()
    t.equal(counts.needs_reauth, 1)
    const i = await get(customId)
    t.equal(i.status, 'NEEDS_REAUTH')
    t.match(i.accountRefreshError, /reconnect/)
    const audit = await app.database.rows(sql`select 1 from audit_events where target_id = ${customId} and action = 'integration.needs_reauth'`)
    t.equal(audit.length, 1)
    const again = await job.refreshDue()
    t.equal(again.needs_reauth + again.failed, 0, 'no longer picked up: only connected integrations are refreshed')
    fakes.custom.server.clear('GET /userinfo')
  })
})

t.test('JOBS_ENABLED=true: the token, revocation and account-metadata schedules are registered with pg-boss', async (t) => {
  const app = await build(t, { env: { JOBS_ENABLED: 'true', JOBS_POLL_INTERVAL_SECONDS: '1' } })
  const rows = await app.database.rows<{ name: string, cron: string }>(sql`select name, cron from pgboss.schedule order by name`)
  const byName = Object.fromEntries(rows.map((r) => [r.name, r.cron]))
  t.equal(byName[JOBS.refreshTokens], TOKEN_REFRESH_CRON, 'token refresh every 10 minutes')
  t.equal(TOKEN_REFRESH_CRON, '*/10 * * * *')
  t.equal(byName[JOBS.retryRevocations], TOKEN_REFRESH_CRON, 'owed revocations retried')
  t.equal(byName[JOBS.refreshAccounts], ACCOUNT_REFRESH_CRON, 'account metadata hourly')
  const queues = await app.database.rows<{ name: string }>(sql`select name from pgboss.queue`)
  t.ok(queues.some((q) => q.name === JOBS.revokeToken), 'one-off revoke-retry queue exists')
})
