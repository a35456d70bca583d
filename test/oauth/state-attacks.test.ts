import t from 'tap'
import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { build, testClock } from '../helper.ts'
import { signShopifyQuery } from '../fakes/shopify.ts'
import { connect, fakeEnv, launch, REDIRECT_TO, START, startFakes } from './oauth-helper.ts'

t.test('state attacks, PKCE, redirect allow-list, Shopify HMAC, provider errors', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { adminKey } = await app.seedTeam('acme')
  const other = await app.seedTeam('other')
  const rowCounts = async () => (await app.database.rows<{ n: string }>(sql`select (select count(*) from integrations) || '/' || (select count(*) from integration_credentials) as n`))[0]!.n
  /** startOAuth, then the browser opens authUrl: `authUrl` below is the provider URL it lands on, `cookie` its jar. */
  const start = async (input: Record<string, unknown>, key = adminKey) => {
    const r = await app.gql(START, { auth: key, variables: { input: { redirectTo: REDIRECT_TO, ...input } } })
    const s = r.body.data!.startOAuth as { authUrl: string, state: string }
    const l = await launch(app, s.authUrl)
    return { launchUrl: s.authUrl, state: s.state, authUrl: l.providerUrl, cookie: l.cookie }
  }
  let jar = ''
  const callback = (provider: string, params: Record<string, string>, cookie = jar) =>
    app.app.inject({ method: 'GET', url: `/oauth/callback/${provider}?${new URLSearchParams(params).toString()}`, headers: { cookie } })
  const useJar = <T extends { cookie: string }>(s: T): T => { jar = s.cookie; return s }
  const tokenCalls = () => fakes.google_drive.server.count('POST /token')

  await t.test('missing, altered, expired, replayed and foreign state → 400, zero token calls, nothing written', async (t) => {
    const before = await rowCounts()
    const s = useJar(await start({ provider: 'google_drive' }))
    const code = new URL(fakes.google_drive.oauth.approve(s.authUrl)).searchParams.get('code')!
    const cases: Array<[string, Record<string, string>, string]> = [
      ['missing', { code }, 'google_drive'],
      ['altered', { code, state: s.state.slice(0, -2) + (s.state.endsWith('AA') ? 'BB' : 'AA') }, 'google_drive'],
      ['foreign provider', { code, state: s.state }, 'dropbox']
    ]
    for (const [name, params, provider] of cases) {
      const res = await callback(provider, params)
      t.equal(res.statusCode, 400, name)
      t.equal(res.json().error.reason, 'invalid_state', name)
      t.equal(res.headers['referrer-policy'], 'no-referrer')
    }
    t.equal(tokenCalls(), 0, 'no token-endpoint call')
    const ok = await callback('google_drive', { code, state: s.state })
    t.equal(ok.statusCode, 302, 'the untouched state still works once')
    t.equal(tokenCalls(), 1)
    const replay = await callback('google_drive', { code, state: s.state })
    t.equal(replay.statusCode, 400, 'replayed callback URL')
    t.equal(tokenCalls(), 1, 'replay made no token call')
    const s2 = useJar(await start({ provider: 'google_drive' }))
    const code2 = new URL(fakes.google_drive.oauth.approve(s2.authUrl)).searchParams.get('code')!
    clock.advance(10 * 60_000 + 1000)
    const expired = await callback('google_drive', { code: code2, state: s2.state })
    t.equal(expired.statusCode, 400, 'expired after 10 minutes')
    t.equal(tokenCalls(), 1)
    t.not(await rowCounts(), before, 'only the one valid connect wrote rows')
  })

  await t.test('browser binding: the callback needs the cookie set by the launch route in the same browser', async (t) => {
    const before = await rowCounts()
    const calls = tokenCalls()
    const r = await app.gql(START, { auth: adminKey, variables: { input: { provider: 'google_drive', redirectTo: REDIRECT_TO } } })
    const { authUrl: launchUrl, state } = r.body.data!.startOAuth as { authUrl: string, state: string }
    t.match(launchUrl, /^https:\/\/switchboard\.example\/oauth\/start\?session=[A-Za-z0-9_-]{43}$/, 'authUrl is the gateway launch route on PUBLIC_URL')
    t.notOk(launchUrl.includes(state), 'the launch URL does not carry the state')
    const [stored] = await app.database.rows<{ launch_hash: string, authorize_url: string, browser_binding_hash: string | null }>(sql`select launch_hash, authorize_url, browser_binding_hash from oauth_states order by created_at desc, id desc limit 1`)
    const handle = new URL(launchUrl).searchParams.get('session')!
    t.equal(stored!.launch_hash, createHash('sha256').update(handle).digest('hex'), 'launch handle stored hashed')
    t.match(stored!.authorize_url, /^sb1\./, 'provider authorize URL (holds the raw state) stored encrypted')
    t.notOk(stored!.authorize_url.includes(state))
    t.equal(stored!.browser_binding_hash, null, 'not bound before a browser opens it')

    // A flow never opened through the launch route cannot complete, even with a forged cookie.
    const code0 = new URL(fakes.google_drive.oauth.approve(await (async () => {
      const u = new URL('https://provider.example/'); u.searchParams.set('client_id', fakes.google_drive.oauth.d.clientId); u.searchParams.set('redirect_uri', 'https://switchboard.example/oauth/callback/google_drive'); u.searchParams.set('state', state); return u.toString()
    })())).searchParams.get('code')!
    const forgedName = `sb_oauth_${createHash('sha256').update(state).digest('hex').slice(0, 24)}`
    const unlaunched = await callback('google_drive', { code: code0, state }, `${forgedName}=${'A'.repeat(43)}`)
    t.equal(unlaunched.statusCode, 400, 'never launched → 400')
    t.equal(unlaunched.json().error.reason, 'invalid_state')

    const res = await app.app.inject({ method: 'GET', url: new URL(launchUrl).pathname + new URL(launchUrl).search })
    t.equal(res.statusCode, 302, 'launch redirects to the provider')
    t.equal(res.headers['referrer-policy'], 'no-referrer')
    const providerUrl = new URL(String(res.headers.location))
    t.equal(providerUrl.origin, fakes.google_drive.server.origin)
    t.equal(providerUrl.searchParams.get('state'), state)
    const setCookie = String(res.headers['set-cookie'])
    t.match(setCookie, new RegExp(`^${forgedName}=[A-Za-z0-9_-]{43}; Path=/oauth/callback/google_drive; Max-Age=600; HttpOnly; SameSite=Lax; Secure$`), 'HttpOnly, SameSite=Lax, Secure, scoped to the callback, state TTL')
    const cookie = setCookie.split(';')[0]!
    const nonce = cookie.split('=')[1]!
    const [bound] = await app.database.rows<{ browser_binding_hash: string }>(sql`select browser_binding_hash from oauth_states where launch_hash = ${stored!.launch_hash}`)
    t.equal(bound!.browser_binding_hash, createHash('sha256').update(nonce).digest('hex'), 'only the nonce hash is stored')
    const again = await app.app.inject({ method: 'GET', url: new URL(launchUrl).pathname + new URL(launchUrl).search })
    t.equal(again.statusCode, 400, 'the launch link is single use: a second browser cannot bind itself')
    t.equal(again.headers['set-cookie'], undefined)

    const code = new URL(fakes.google_drive.oauth.approve(providerUrl.toString())).searchParams.get('code')!
    const attacks: Array<[string, string]> = [
      ['no cookie at all', ''],
      ['another browser\'s cookie for this flow', `${forgedName}=${'B'.repeat(43)}`],
      ['a cookie of another flow', (await start({ provider: 'google_drive' })).cookie],
      ['right value under another name', `sb_oauth_${'0'.repeat(24)}=${nonce}`]
    ]
    for (const [name, jarOf] of attacks) {
      const bad = await callback('google_drive', { code, state }, jarOf)
      t.equal(bad.statusCode, 400, name)
      t.equal(bad.json().error.reason, 'invalid_state', name)
    }
    t.equal(tokenCalls(), calls, 'zero token-endpoint calls')
    t.equal(await rowCounts(), before, 'nothing written')
    const good = await callback('google_drive', { code, state }, `other=1; ${cookie}`)
    t.equal(good.statusCode, 302, 'the browser that launched the flow completes it (refusals did not burn the state)')
    t.equal(new URL(String(good.headers.location)).searchParams.get('connected'), 'google_drive')
    t.match(String(good.headers['set-cookie']), new RegExp(`^${forgedName}=; Path=/oauth/callback/google_drive; Max-Age=0; HttpOnly; SameSite=Lax`), 'cookie cleared')
    t.equal(tokenCalls(), calls + 1)

    const r2 = await app.gql(START, { auth: adminKey, variables: { input: { provider: 'google_drive', redirectTo: REDIRECT_TO } } })
    clock.advance(10 * 60_000 + 1000)
    const expired = await app.app.inject({ method: 'GET', url: new URL(r2.body.data!.startOAuth.authUrl).pathname + new URL(r2.body.data!.startOAuth.authUrl).search })
    t.equal(expired.statusCode, 400, 'launch link expires with the state')
  })

  await t.test('state is stored hashed; PKCE challenge = BASE64URL(SHA256(verifier)); verifier never in a URL', async (t) => {
    const s = useJar(await start({ provider: 'dropbox' }))
    const stored = await app.database.rows<{ state_hash: string, code_verifier: string }>(sql`select state_hash, code_verifier from oauth_states order by id desc limit 1`)
    t.equal(stored[0]!.state_hash, createHash('sha256').update(s.state).digest('hex'))
    t.notOk(JSON.stringify(stored).includes(s.state), 'raw state not stored')
    t.equal(Buffer.from(s.state, 'base64url').length, 32, '32 random bytes')
    const callbackUrl = fakes.dropbox.oauth.approve(s.authUrl)
    const u = new URL(callbackUrl)
    await callback('dropbox', Object.fromEntries(u.searchParams))
    const verifier = fakes.dropbox.server.requests.find((x) => x.route === 'POST /oauth2/token')!.req.body.code_verifier!
    t.equal(verifier.length, 43)
    t.equal(new URL(s.authUrl).searchParams.get('code_challenge'), createHash('sha256').update(verifier).digest('base64url'))
    t.notOk(s.authUrl.includes(verifier) || callbackUrl.includes(verifier), 'verifier in no URL')
    t.notOk(stored[0]!.code_verifier.includes(verifier), 'verifier encrypted at rest')
  })

  await t.test('redirectTo outside the allow-list → 400 BAD_USER_INPUT, nothing stored', async (t) => {
    const [{ n: before }] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from oauth_states`) as [{ n: number }]
    for (const redirectTo of ['https://evil.example/integrations', 'https://app.example.evil.example/x', 'https://app.example/other', 'https://user@app.example/integrations', 'javascript:alert(1)']) {
      const r = await app.gql(START, { auth: adminKey, variables: { input: { provider: 'slack', redirectTo } } })
      t.equal(r.status, 400, redirectTo)
      t.equal(r.body.errors![0]!.extensions.code, 'BAD_USER_INPUT')
    }
    const ok = await app.gql(START, { auth: adminKey, variables: { input: { provider: 'slack', redirectTo: REDIRECT_TO + '/done?x=1' } } })
    t.ok(ok.body.data?.startOAuth.authUrl, 'a path under the allowed prefix is fine')
    const [{ n: after }] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from oauth_states`) as [{ n: number }]
    t.equal(after, before + 1)
  })

  await t.test('state of another team\'s flow cannot connect into this team (it connects the starter\'s team only)', async (t) => {
    const s = useJar(await start({ provider: 'figma' }, other.adminKey))
    const u = new URL(fakes.figma.oauth.approve(s.authUrl))
    const res = await callback('figma', Object.fromEntries(u.searchParams))
    const id = new URL(String(res.headers.location)).searchParams.get('integrationId')!
    const mine = await app.gql('query($id: ID!) { integration(id: $id) { id } }', { auth: adminKey, variables: { id } })
    t.equal(mine.body.errors![0]!.extensions.code, 'NOT_FOUND', 'bound to the team that started it')
  })

  await t.test('Shopify: bad hmac or bad shop → 400 with no token call; good one connects', async (t) => {
    const calls = () => fakes.shopify.server.count(fakes.shopify.tokenRoute)
    for (const [name, mutate] of [
      ['bad hmac', (q: URLSearchParams) => q.set('hmac', '0'.repeat(64))],
      ['tampered param', (q: URLSearchParams) => q.set('timestamp', '1')],
      ['shop mismatch', (q: URLSearchParams) => { q.set('shop', 'other-shop.myshopify.com'); q.set('hmac', signShopifyQuery(q)) }],
      ['shop not myshopify', (q: URLSearchParams) => { q.set('shop', 'evil.example.com'); q.set('hmac', signShopifyQuery(q)) }],
      ['no hmac', (q: URLSearchParams) => q.delete('hmac')]
    ] as const) {
      const s = useJar(await start({ provider: 'shopify', shop: 'ada-shop' }))
      const q = new URL(fakes.shopify.callbackExtras!(fakes.shopify.oauth.approve(s.authUrl))).searchParams
      mutate(q)
      const res = await callback('shopify', Object.fromEntries(q))
      t.equal(res.statusCode, 400, name)
      t.match(res.json().error.reason, /invalid_(hmac|shop)/)
    }
    t.equal(calls(), 0)
    const bad = await app.gql(START, { auth: adminKey, variables: { input: { provider: 'shopify', shop: 'evil.example.com', redirectTo: REDIRECT_TO } } })
    t.equal(bad.body.errors![0]!.extensions.code, 'BAD_USER_INPUT', 'startOAuth refuses a non-myshopify shop')
    const good = await connect(app, fakes.shopify, adminKey, { provider: 'shopify', shop: 'ada-shop' })
    t.equal(good.location!.searchParams.get('connected'), 'shopify')
    t.equal(calls(), 1)
  })

  await t.test('provider errors: access_denied and invalid_grant redirect with ?error and write nothing', async (t) => {
    const before = await rowCounts()
    const s = useJar(await start({ provider: 'slack' }))
    const denied = await callback('slack', Object.fromEntries(new URL(fakes.slack.oauth.deny(s.authUrl)).searchParams))
    const loc = new URL(String(denied.headers.location))
    t.equal(loc.searchParams.get('error'), 'OAUTH_ERROR')
    t.equal(loc.searchParams.get('reason'), 'access_denied')
    t.equal(fakes.slack.server.count(fakes.slack.tokenRoute), 0)
    const s2 = useJar(await start({ provider: 'slack' }))
    const u = new URL(fakes.slack.oauth.approve(s2.authUrl))
    fakes.slack.oauth.codes.clear() // the code is already used/expired at the provider
    const res = await callback('slack', Object.fromEntries(u.searchParams))
    const loc2 = new URL(String(res.headers.location))
    t.equal(loc2.searchParams.get('error'), 'OAUTH_ERROR')
    t.equal(loc2.searchParams.get('reason'), 'invalid_grant', 'Slack 200 {ok:false} parsed as an error')
    t.equal(await rowCounts(), before, 'no partial row')
  })

  await t.test('same account twice: a second connect reconnects the same integration', async (t) => {
    const a = await connect(app, fakes.notion, adminKey, { provider: 'notion' })
    const b = await connect(app, fakes.notion, adminKey, { provider: 'notion' })
    t.equal(a.integrationId, b.integrationId)
    const list = await app.gql('{ integrations(filter: { provider: "notion" }) { totalCount } }', { auth: adminKey })
    t.equal(list.body.data!.integrations.totalCount, 1)
  })
  await t.test('a provider segment outside the catalog: 404 in our error shape, no cookie, no 500', async (t) => {
    for (const segment of ['evil%0Ax', 'google_drive%3B%20Domain%3Devil.example', 'nope']) {
      const res = await app.app.inject({ method: 'GET', url: `/oauth/callback/${segment}?state=abc&code=def` })
      t.equal(res.statusCode, 404, `${segment}: 404`)
      t.equal(res.json().error.code, 'NOT_FOUND', `${segment}: our error shape`)
      t.equal(res.headers['set-cookie'], undefined, `${segment}: no Set-Cookie`)
      t.equal(res.headers['referrer-policy'], 'no-referrer', `${segment}: still no referrer`)
    }
  })
})
