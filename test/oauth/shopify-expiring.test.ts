/**
 * Shopify expiring offline tokens (providers.md §1): the exchange sends `expiring=1` (no
 * grant_type); `expires_in`, `refresh_token` and `refresh_token_expires_in` are stored; refresh
 * is `grant_type=refresh_token` with client id/secret on the same URL, and the rotated refresh
 * token is saved (the old one is never presented again).
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { build, testClock } from '../helper.ts'
import { connect, fakeEnv, startFakes } from './oauth-helper.ts'

const CRED = 'query($id: ID!) { integration(id: $id) { status credential { status expiresAt refreshTokenExpiresAt lastRefreshedAt } } }'

t.test('Shopify: connect with expiring=1, store expiry and refresh token, refresh with rotation', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { teamId, adminKey } = await app.seedTeam('acme')
  const fake = fakes.shopify
  const route = fake.tokenRoute

  await t.test('the fake issues expiring tokens only when asked', async (t) => {
    const plain = await fetch(`${fake.server.origin}/x-shop.myshopify.com/admin/oauth/access_token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: 'shopify-client', client_secret: 'shopify-secret', code: 'nope' }) })
    t.equal(plain.status, 400, 'unknown code refused')
    const authUrl = new URL(`${fake.server.origin}/x-shop.myshopify.com/admin/oauth/authorize`)
    authUrl.searchParams.set('client_id', 'shopify-client'); authUrl.searchParams.set('redirect_uri', 'https://switchboard.example/oauth/callback/shopify'); authUrl.searchParams.set('state', 's')
    const code = new URL(fake.oauth.approve(authUrl.toString())).searchParams.get('code')!
    const offline = await (await fetch(`${fake.server.origin}/x-shop.myshopify.com/admin/oauth/access_token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: 'shopify-client', client_secret: 'shopify-secret', code }) })).json() as Record<string, unknown>
    t.ok(typeof offline.access_token === 'string', 'offline: an access token')
    t.notOk('refresh_token' in offline || 'expires_in' in offline || 'refresh_token_expires_in' in offline, 'without expiring=1: no expiry, no refresh token')
  })

  await t.test('connect → expiring token stored; refresh rotates', async (t) => {
    const calls0 = fake.server.count(route)
    const r = await connect(app, fake, adminKey, { provider: 'shopify', shop: 'exp-shop' })
    t.equal(r.location!.searchParams.get('connected'), 'shopify')
    const exchange = fake.server.requests.filter((x) => x.route === route).at(-1)!.req
    t.equal(exchange.body.expiring, '1', 'expiring=1 on the code exchange')
    t.equal(exchange.body.grant_type, undefined, 'no grant_type on the Shopify exchange')
    const id = r.integrationId!
    const c1 = (await app.gql(CRED, { auth: adminKey, variables: { id } })).body.data!.integration.credential
    t.equal(new Date(c1.expiresAt).getTime(), clock.now().getTime() + 3600_000, 'expires_in stored')
    t.equal(new Date(c1.refreshTokenExpiresAt).getTime(), clock.now().getTime() + 7_776_000_000, 'refresh_token_expires_in stored (90 d)')
    const [row] = await app.database.rows<{ refresh_token: string }>(sql`select refresh_token from integration_credentials where integration_id = ${id}`)
    t.match(row!.refresh_token, /^sb1\./, 'refresh token stored encrypted')
    const issuedRt = fake.oauth.refreshTokens.size
    t.ok(issuedRt >= 1)

    clock.advance(60_000)
    const refreshed = await app.gql('mutation($id: ID!) { refreshIntegrationToken(id: $id) { status expiresAt lastRefreshedAt refreshTokenExpiresAt } }', { auth: adminKey, variables: { id } })
    t.equal(refreshed.body.data!.refreshIntegrationToken.status, 'VALID')
    t.equal(new Date(refreshed.body.data!.refreshIntegrationToken.expiresAt).getTime(), clock.now().getTime() + 3600_000)
    t.equal(new Date(refreshed.body.data!.refreshIntegrationToken.refreshTokenExpiresAt).getTime(), clock.now().getTime() + 7_776_000_000, 'refresh-token expiry renewed')
    const refreshReq = fake.server.requests.filter((x) => x.route === route).at(-1)!.req
    t.equal(refreshReq.body.grant_type, 'refresh_token')
    t.equal(refreshReq.body.client_id, 'shopify-client')
    t.equal(refreshReq.body.client_secret, 'shopify-secret')
    t.equal(refreshReq.path, '/exp-shop.myshopify.com/admin/oauth/access_token', 'same per-shop URL')

    // On demand once the hour is over: the rotated refresh token is used, the old one never again.
    clock.advance(3600_000)
    const token = await app.app.services.tokens.accessToken(teamId, id)
    t.ok(token.ok)
    t.ok(token.ok && fake.oauth.accessTokens.has(token.value.accessToken), 'a token the shop accepts')
    const presented = fake.server.requests.filter((x) => x.route === route && x.req.body.grant_type === 'refresh_token').map((x) => x.req.body.refresh_token)
    t.equal(presented.length, 2)
    t.not(presented[0], presented[1], 'second refresh presents the rotated token')
    t.equal(fake.oauth.reuseDetected, false, 'no rotated refresh token reused')
    t.equal(fake.server.count(route) - calls0, 3, 'exchange + 2 refreshes')
    const tested = await app.gql('mutation($id: ID!) { testIntegration(id: $id) { success message } }', { auth: adminKey, variables: { id } })
    t.equal(tested.body.data!.testIntegration.success, true, 'the refreshed token works against shop.json')
  })
})
