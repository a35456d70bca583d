/**
 * The outbound guard (issue 15 §1, §2, §4.3): every request whose URL a team or a caller
 * supplies is checked at write time and again at connect time, on the address actually
 * connected to; Shopify `shop` builds no URL unless it is a *.myshopify.com domain; the OAuth
 * callback reflects no upstream body and a forged callback cannot burn a flow.
 *
 * "Nothing leaves" is measured on a loopback HTTP listener that counts TCP connections: a
 * refused destination must make zero of them, not merely fail after connecting.
 */
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { sql } from 'drizzle-orm'
import { Headers } from 'undici'
import { addressRefusal, OutboundGuard, OutboundRefused, urlRefusal } from '../../src/connectors/outbound/guard.ts'
import { ProviderCatalog } from '../../src/connectors/registry.ts'
import { build, type TestApp } from '../helper.ts'
import { waitForRun } from '../connectors/connector-helper.ts'
import { callbackRequest, connect, fakeEnv, REDIRECT_TO, START, startFakes, startFlow } from '../oauth/oauth-helper.ts'

const CREATE = 'mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id status } }'
const UPDATE = 'mutation($id: ID!, $input: UpdateIntegrationInput!) { updateIntegration(id: $id, input: $input) { id config } }'
const IMPORT = 'mutation($input: ImportOAuthTokenInput!) { importOAuthToken(input: $input) { id status } }'
const TEST = 'mutation($id: ID!) { testIntegration(id: $id) { success message } }'
const REFRESH = 'mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }'
const DISCONNECT = 'mutation($id: ID!) { disconnectIntegration(id: $id) { id status } }'
const SAVE = 'mutation($id: ID!, $urls: [String!]!) { saveToCloudStorage(integrationId: $id, fileUrls: $urls) { id status } }'

interface Listener { port: number, connections: () => number, requests: Array<{ method: string, url: string, headers: IncomingMessage['headers'], body: string }>, bytes: () => string }

/** A loopback HTTP server answering `{}`; counts TCP connections (any, even a TLS hello) and keeps every byte received. */
async function listener (t: { teardown(fn: () => unknown): void }): Promise<Listener> {
  let connections = 0
  const raw: Buffer[] = []
  const requests: Listener['requests'] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  server.on('connection', (s: Socket) => {
    connections++
    sockets.add(s)
    s.on('data', (b: Buffer) => raw.push(b))
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); return new Promise<void>((resolve) => server.close(() => resolve())) })
  return { port: (server.address() as AddressInfo).port, connections: () => connections, requests, bytes: () => Buffer.concat(raw).toString('latin1') }
}

const code = (r: { body: { errors?: Array<{ extensions: { code: string } }> } }) => r.body.errors?.[0]?.extensions.code
const field = (r: { body: { errors?: Array<{ extensions: Record<string, unknown> }> } }) => r.body.errors?.[0]?.extensions.field

async function setConfig (app: TestApp, id: string, patch: Record<string, unknown>): Promise<void> {
  await app.database.rows(sql`update integrations set config = config || ${JSON.stringify(patch)}::jsonb where id = ${id}`)
}

t.test('the address classifier: only global unicast passes', async (t) => {
  const refused = [
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', // IPv4-mapped
    '::7f00:1', '::127.0.0.1', '::8.8.8.8', // IPv4-compatible (deprecated; some stacks route it to IPv4)
    '64:ff9b::7f00:1', '64:ff9b::a9fe:a9fe', '64:ff9b:1::1', // NAT64
    '2002:7f00:1::1', '2001::1', // 6to4, Teredo
    '0.0.0.0', '0.1.2.3', '100.64.0.1', '100.127.255.254', '198.18.0.1', '198.19.255.255', '224.0.0.1', '239.255.255.250',
    '240.0.0.1', '255.255.255.255', '169.254.169.254', '169.254.0.1', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::1', '::',
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.0.1', '192.168.255.255',
    '192.0.0.1', '192.0.2.1', '2001:db8::1', 'ff02::1', 'not an address'
  ]
  for (const ip of refused) t.not(addressRefusal(ip), null, `${ip} refused`)
  for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2a00:1450:4001::200e']) t.equal(addressRefusal(ip), null, `${ip} allowed`)
})

t.test('the guard refuses a private destination at connect time, with zero connections', async (t) => {
  const l = await listener(t)
  const strict = new OutboundGuard({ allowPrivate: false })
  t.teardown(() => strict.close())
  for (const url of [`http://127.0.0.1:${l.port}/`, `http://localhost:${l.port}/`, `http://[::ffff:127.0.0.1]:${l.port}/`, `http://0.0.0.0:${l.port}/`, `http://2130706433:${l.port}/`, `http://[::1]:${l.port}/`]) {
    await t.rejects(strict.fetch(new URL(url), { method: 'GET' }), OutboundRefused, url)
  }
  t.equal(l.connections(), 0, 'no connection was opened')
  const open = new OutboundGuard({ allowPrivate: true })
  t.teardown(() => open.close())
  const res = await open.fetch(new URL(`http://localhost:${l.port}/ok`), { method: 'GET' })
  t.equal(res.status, 200, 'OUTBOUND_ALLOW_PRIVATE lifts the address rule')
  t.equal(l.connections(), 1)
  for (const headers of [{ 'Metadata-Flavor': 'Google' }, new Headers({ host: 'metadata.google.internal' }), [['X-Forwarded-For', '10.0.0.1']] as [string, string][]]) {
    await t.rejects(open.fetch(new URL(`http://localhost:${l.port}/h`), { method: 'GET', headers }), OutboundRefused, 'not the header rules')
  }
  t.equal(l.requests.length, 1, 'nothing sent with a forbidden header')
  const redirect = await listener(t)
  const trusted = new OutboundGuard({ allowPrivate: false, trustedOrigins: [`http://127.0.0.1:${redirect.port}`] })
  t.teardown(() => trusted.close())
  t.equal((await trusted.fetch(new URL(`http://127.0.0.1:${redirect.port}/x`), { method: 'GET' })).status, 200, 'a deployment-configured origin is trusted')
  await t.rejects(trusted.fetch(new URL(`http://127.0.0.1:${redirect.port}/x`), { method: 'GET' }, { untrusted: true }), OutboundRefused, 'unless the caller says the URL is not the deployment\'s')
})

t.test('trust comes from deployment config only; production wants https', async (t) => {
  const catalog = new ProviderCatalog({ providerUrlOverrides: { shopify: 'http://{shop}', slack: 'http://127.0.0.1:1', dropbox: { token: 'http://10.0.0.1:2/t' } }, providerApps: {}, tokenLifetimes: {} })
  const trusted = catalog.trustedOrigins()
  t.ok(trusted.has('http://127.0.0.1:1'), 'a string override')
  t.ok(trusted.has('http://10.0.0.1:2'), 'a named override')
  t.ok(trusted.has('https://api.dropboxapi.com'), 'a template the override left alone')
  t.notOk(trusted.has('https://slack.com'), 'a template replaced by an override')
  t.notOk([...trusted].some((o) => o.includes('shop') || o.includes('{')), 'no origin with a team-supplied host (Shopify {shop})')
  const shopify = catalog.get('shopify')!
  t.throws(() => catalog.urls(shopify, { shop: '127.0.0.1:1' }), { code: 'BAD_USER_INPUT', details: { field: 'config.shop' } }, 'no URL is built from a bad shop')
  t.throws(() => catalog.urls(shopify, {}), { code: 'BAD_USER_INPUT' }, 'nor without one')
  t.equal(catalog.urls(shopify, { shop: 'ada-shop.myshopify.com' }).token, 'http://ada-shop.myshopify.com/admin/oauth/access_token')

  t.not(urlRefusal('http://api.example.com/v1', { allowPrivate: false, httpsOnly: true }), null, 'production: http refused at write time')
  t.equal(urlRefusal('https://api.example.com/v1', { allowPrivate: false, httpsOnly: true }), null)
  const l = await listener(t)
  const production = new OutboundGuard({ allowPrivate: true, httpsOnly: true })
  t.teardown(() => production.close())
  await t.rejects(production.fetch(new URL(`http://127.0.0.1:${l.port}/`), { method: 'GET' }), OutboundRefused, 'and at send time')
  t.equal(l.connections(), 0)
})

t.test('strict deployment (OUTBOUND_ALLOW_PRIVATE unset): team URLs are refused at write time and at connect time', async (t) => {
  const fakes = await startFakes(t)
  const app = await build(t, { env: fakeEnv(fakes, { OUTBOUND_ALLOW_PRIVATE: 'false' }) })
  const { adminKey } = await app.seedTeam('acme')
  const l = await listener(t)
  const gql = (query: string, variables: Record<string, unknown>) => app.gql(query, { auth: adminKey, variables })
  const custom = (config: Record<string, unknown>) => ({ provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: 'https://idp.example/authorize', tokenUrl: 'https://idp.example/token', clientId: 'c', clientSecret: 'CLIENT-SECRET-123', ...config } })

  await t.test('createIntegration refuses private, non-http(s) and userinfo URLs, naming the field', async (t) => {
    const bad = [
      `http://127.0.0.1:${l.port}/token`, 'http://169.254.169.254/latest/meta-data/', 'http://[::ffff:127.0.0.1]/t', 'http://[::ffff:7f00:1]/t', 'http://localhost/t',
      'http://10.0.0.5/t', 'http://0x7f000001/t', 'http://[::1]/t', 'http://[fd00::1]/t', 'http://metadata.google.internal/t', 'http://user:pw@idp.example/t',
      'file:///etc/passwd', 'gopher://idp.example/', 'http://0.0.0.0/t'
    ]
    for (const key of ['tokenUrl', 'userinfoUrl', 'revokeUrl', 'authorizeUrl', 'issuer']) {
      for (const url of bad) {
        const r = await gql(CREATE, { input: custom({ [key]: url }) })
        t.equal(code(r), 'BAD_USER_INPUT', `${key} = ${url}`)
        t.equal(field(r), `config.${key}`, `${key} = ${url}: names the field`)
      }
    }
    const rest = await gql(CREATE, { input: { provider: 'rest_api', name: 'api', config: { baseUrl: 'http://169.254.169.254/' }, credentials: { apiKey: 'k' } } })
    t.equal(field(rest), 'config.baseUrl')
    const ok = await gql(CREATE, { input: custom({ userinfoUrl: 'https://idp.example/userinfo' }) })
    t.equal(ok.body.data?.createIntegration.status, 'PENDING', 'a public https URL is accepted')
    t.equal(l.connections(), 0)
  })

  await t.test('URLs stored directly in the database: import, test, refresh, callback and disconnect make zero connections', async (t) => {
    for (const host of [`127.0.0.1:${l.port}`, `localhost:${l.port}`, `[::ffff:127.0.0.1]:${l.port}`, `0.0.0.0:${l.port}`]) {
      const created = await gql(CREATE, { input: custom({ revokeUrl: 'https://idp.example/revoke', userinfoUrl: 'https://idp.example/userinfo' }) })
      const id = created.body.data!.createIntegration.id as string
      await setConfig(app, id, { tokenUrl: `http://${host}/token`, userinfoUrl: `http://${host}/userinfo`, revokeUrl: `http://${host}/revoke` })
      const imported = await gql(IMPORT, { input: { provider: 'custom_oauth2', integrationId: id, accessToken: 'at-1', refreshToken: 'rt-1', expiresIn: 3600 } })
      t.equal(imported.body.data?.importOAuthToken.status, 'CONNECTED', `${host}: import stores the token (account unknown)`)
      const tested = await gql(TEST, { id })
      t.equal(tested.body.data?.testIntegration.success, false, `${host}: test fails`)
      const refreshed = await gql(REFRESH, { id })
      t.ok(refreshed.body.errors !== undefined, `${host}: refresh fails`)
      const flow = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
      const cb = await callbackRequest(app, `/oauth/callback/custom_oauth2?code=c0de&state=${flow.state}`, flow.cookie)
      t.equal(cb.statusCode, 302, `${host}: callback redirects back`)
      t.match(String(cb.headers.location), /error=/)
      const disconnected = await gql(DISCONNECT, { id })
      t.equal(disconnected.body.data?.disconnectIntegration.status, 'DISCONNECTED', `${host}: local tokens dropped all the same`)
      t.equal(l.connections(), 0, `${host}: the listener saw no connection`)
    }
    t.notOk(l.bytes().includes('CLIENT-SECRET-123'), 'the client secret never left')
  })

  await t.test('rest_api base URL at a name resolving to loopback is refused when connecting', async (t) => {
    const created = await gql(CREATE, { input: { provider: 'rest_api', name: 'api', config: { baseUrl: 'https://api.example' }, credentials: { apiKey: 'k' } } })
    const id = created.body.data!.createIntegration.id as string
    await setConfig(app, id, { baseUrl: `http://localhost:${l.port}` })
    const tested = await gql(TEST, { id })
    t.equal(tested.body.data?.testIntegration.success, false)
    t.match(tested.body.data?.testIntegration.message, /not an allowed destination/)
    t.equal(l.connections(), 0)
  })

  await t.test('a caller file URL written as IPv4-mapped IPv6 is refused with zero connections', async (t) => {
    l.requests.length = 0
    const drive = await connect(app, fakes.google_drive, adminKey, { provider: 'google_drive' })
    t.ok(drive.integrationId, 'deployment-configured provider origins are trusted (the Drive fake is on 127.0.0.1)')
    for (const url of [`http://[::ffff:127.0.0.1]:${l.port}/mockup.png`, `http://[::ffff:7f00:1]:${l.port}/mockup.png`, `http://localhost:${l.port}/mockup.png`]) {
      const saved = await gql(SAVE, { id: drive.integrationId, urls: [url] })
      const run = await waitForRun({ app, adminKey } as never, saved.body.data!.saveToCloudStorage.id)
      t.equal(run.status, 'FAILED', url)
      t.equal(run.error.code, 'BAD_USER_INPUT', url)
    }
    t.equal(l.connections(), 0)
  })
})

t.test('Shopify shop: validated wherever a URL is built from it, immutable once connected', async (t) => {
  const l = await listener(t)
  for (const override of [undefined, 'http://{shop}']) {
    await t.test(`catalog URL ${override ?? 'https://{shop} (no override)'}`, async (t) => {
      const app = await build(t, {
        env: {
          OAUTH_REDIRECT_ALLOWLIST: REDIRECT_TO,
          SHOPIFY_CLIENT_ID: 'shop-client',
          SHOPIFY_CLIENT_SECRET: 'SHOPIFY-CLIENT-SECRET',
          ...(override !== undefined && { PROVIDER_URL_OVERRIDES: JSON.stringify({ shopify: override }) })
        }
      })
      const { adminKey } = await app.seedTeam('acme')
      const gql = (query: string, variables: Record<string, unknown>) => app.gql(query, { auth: adminKey, variables })
      const evil = `127.0.0.1:${l.port}`
      const refused = await gql(CREATE, { input: { provider: 'shopify', name: 'shop', config: { shop: evil } } })
      t.equal(code(refused), 'BAD_USER_INPUT', 'createIntegration refuses the shop')
      t.equal(field(refused), 'config.shop')
      const created = await gql(CREATE, { input: { provider: 'shopify', name: 'shop', config: { shop: 'ada-shop.myshopify.com' } } })
      const id = created.body.data!.createIntegration.id as string
      const moved = await gql(UPDATE, { id, input: { config: { shop: evil } } })
      t.equal(code(moved), 'BAD_USER_INPUT', 'updateIntegration refuses the shop')
      // Bypassing write-time validation: the catalog refuses to build any URL from it.
      await setConfig(app, id, { shop: evil })
      const imported = await gql(IMPORT, { input: { provider: 'shopify', integrationId: id, accessToken: 'shpat-1', refreshToken: 'shprt-1', expiresIn: 3600 } })
      t.equal(imported.body.data?.importOAuthToken.status, 'CONNECTED')
      const refreshed = await gql(REFRESH, { id })
      t.equal(code(refreshed), 'BAD_USER_INPUT', 'refreshIntegrationToken refuses to build the token URL')
      const tested = await gql(TEST, { id })
      t.equal(tested.body.data?.testIntegration.success, false)
      const disconnected = await gql(DISCONNECT, { id })
      t.equal(disconnected.body.data?.disconnectIntegration.status, 'DISCONNECTED', 'disconnect still drops the tokens')
      t.equal(l.connections(), 0, 'the listener received nothing')
      t.notOk(l.bytes().includes('SHOPIFY-CLIENT-SECRET'), 'the client secret never left')

      // Once connected, the shop cannot change (a token for one shop is never sent to another).
      const good = await gql(CREATE, { input: { provider: 'shopify', name: 'shop2', config: { shop: 'bob-shop.myshopify.com' } } })
      const goodId = good.body.data!.createIntegration.id as string
      t.equal(code(await gql(UPDATE, { id: goodId, input: { config: { shop: 'carol-shop.myshopify.com' } } })), undefined, 'a pending integration may still change shop')
      await gql(IMPORT, { input: { provider: 'shopify', integrationId: goodId, accessToken: 'shpat-2', accountId: 'carol-shop.myshopify.com' } })
      const changed = await gql(UPDATE, { id: goodId, input: { config: { shop: 'dave-shop.myshopify.com' } } })
      t.equal(code(changed), 'BAD_USER_INPUT', 'a connected integration keeps its shop')
      t.equal(field(changed), 'config.shop')
      t.equal(code(await gql(UPDATE, { id: goodId, input: { config: { shop: 'carol-shop.myshopify.com' } } })), undefined, 'the same shop again is not a change')
      const restart = await gql(START, { input: { provider: 'shopify', integrationId: goodId, shop: 'dave-shop', redirectTo: REDIRECT_TO } })
      t.equal(code(restart), 'BAD_USER_INPUT', 'reconnecting cannot move it to another shop either')
    })
  }
})

t.test('OAuth callback: verify before consuming the state, never reflect the upstream body; header names allow-listed', async (t) => {
  const fakes = await startFakes(t)
  const app = await build(t, { env: fakeEnv(fakes, { OUTBOUND_ALLOW_PRIVATE: 'true' }) })
  const { adminKey } = await app.seedTeam('acme')
  const gql = (query: string, variables: Record<string, unknown>) => app.gql(query, { auth: adminKey, variables })
  const o = fakes.custom.server.origin
  const customId = async (extra: Record<string, unknown> = {}) => (await gql(CREATE, { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, clientId: 'custom-client', clientSecret: 'custom-secret', ...extra } } })).body.data!.createIntegration.id as string

  await t.test('a bad Shopify HMAC does not burn the flow; the genuine callback still connects', async (t) => {
    const flow = await startFlow(app, adminKey, { provider: 'shopify', shop: 'ada-shop' })
    const genuine = fakes.shopify.callbackExtras!(fakes.shopify.oauth.approve(flow.providerUrl))
    const forgedUrl = new URL(genuine)
    forgedUrl.searchParams.set('hmac', '0'.repeat(64))
    const forged = await callbackRequest(app, forgedUrl.toString(), flow.cookie)
    t.equal(forged.statusCode, 400)
    t.equal(forged.json().error.reason, 'invalid_hmac')
    t.equal(forged.headers['set-cookie'], undefined, 'the binding cookie is kept')
    const ok = await callbackRequest(app, genuine, flow.cookie)
    t.equal(ok.statusCode, 302)
    t.equal(new URL(String(ok.headers.location)).searchParams.get('connected'), 'shopify')
  })

  await t.test('a wrong iss does not burn the flow; the genuine callback still connects', async (t) => {
    const id = await customId({ issuer: 'https://idp.example' })
    const flow = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
    const genuine = fakes.custom.oauth.approve(flow.providerUrl, { iss: 'https://idp.example' })
    const forgedUrl = new URL(genuine)
    forgedUrl.searchParams.set('iss', 'https://evil.example')
    const forged = await callbackRequest(app, forgedUrl.toString(), flow.cookie)
    t.equal(forged.json().error.reason, 'invalid_issuer')
    const ok = await callbackRequest(app, genuine, flow.cookie)
    t.equal(new URL(String(ok.headers.location)).searchParams.get('connected'), 'custom_oauth2')
  })

  await t.test('the redirect carries an RFC 6749 code only, never the provider body', async (t) => {
    const id = await customId()
    const cases: Array<[unknown, string]> = [
      [{ error: 'invalid_grant', error_description: 'SECRET-XYZ' }, 'invalid_grant'],
      [{ error: 'SECRET-XYZ' }, 'server_error'],
      [{ error: 'invalid_client', error_description: 'SECRET-XYZ', error_uri: 'https://evil.example/SECRET-XYZ' }, 'invalid_client'],
      ['SECRET-XYZ <html>', 'server_error']
    ]
    for (const [body, reason] of cases) {
      const flow = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
      const cb = fakes.custom.oauth.approve(flow.providerUrl)
      fakes.custom.server.fail('POST /oauth/token', { status: 400, body }, 1)
      const res = await callbackRequest(app, cb, flow.cookie)
      const location = String(res.headers.location)
      t.equal(new URL(location).searchParams.get('reason'), reason, JSON.stringify(body))
      t.notOk(location.includes('SECRET'), 'nothing of the body in the redirect')
    }
    const denied = await startFlow(app, adminKey, { provider: 'custom_oauth2', integrationId: id })
    const deniedUrl = new URL(fakes.custom.oauth.deny(denied.providerUrl, 'secret_xyz_leak'))
    const res = await callbackRequest(app, deniedUrl.toString(), denied.cookie)
    t.equal(new URL(String(res.headers.location)).searchParams.get('reason'), 'server_error', 'an unknown ?error= from the browser is not reflected either')
  })

  await t.test('rest_api apiKeyHeader: an allow-listed header name only, at write time and at send time', async (t) => {
    const l = await listener(t)
    const rest = (header: string) => ({ provider: 'rest_api', name: 'api', config: { baseUrl: `http://127.0.0.1:${l.port}`, apiKeyHeader: header }, credentials: { apiKey: 'k' } })
    for (const header of ['Metadata-Flavor', 'metadata-flavor', 'Host', 'Transfer-Encoding', 'Connection', 'Proxy-Authorization', 'X-Forwarded-For', 'Forwarded', 'Cookie', 'Content-Length', 'TE', 'Upgrade', 'X Api Key', 'X-Api-Key\r\nHost: evil', 'a'.repeat(65), '']) {
      const r = await gql(CREATE, { input: rest(header) })
      t.equal(code(r), 'BAD_USER_INPUT', JSON.stringify(header))
      t.equal(field(r), 'config.apiKeyHeader', JSON.stringify(header))
    }
    const created = await gql(CREATE, { input: rest('X-Api-Key') })
    const id = created.body.data!.createIntegration.id as string
    t.equal((await gql(TEST, { id })).body.data?.testIntegration.success, true)
    t.equal(l.requests[0]?.headers['x-api-key'], 'k', 'an allowed header name is sent')
    await setConfig(app, id, { apiKeyHeader: 'Metadata-Flavor' })
    const before = l.requests.length
    const tested = await gql(TEST, { id })
    t.equal(tested.body.data?.testIntegration.success, false, 'refused at send time too')
    t.equal(l.requests.length, before, 'nothing was sent')
    t.notOk(l.requests.some((r) => r.headers['metadata-flavor'] !== undefined))
  })
})
