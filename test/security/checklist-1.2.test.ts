/**
 * Our security checklist, §1.2 test 3, the half the OAuth tests do not pin down: the PKCE
 * verifier appears in no URL (launch link, provider authorize URL, callback, redirect), not in
 * the state, not in the stored flow row, not in any log line (debug level, per-request lines on)
 * and not in request_logs, for a flow that connects and for one whose code exchange is refused.
 * (S256 and challenge = BASE64URL(SHA256(verifier)) are asserted in test/oauth/state-attacks.test.ts.)
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import pino from 'pino'
import { sql } from 'drizzle-orm'
import { loggerOptions } from '../../src/logger.ts'
import { build } from '../helper.ts'
import { callbackRequest, fakeEnv, startFakes, startFlow } from '../oauth/oauth-helper.ts'

t.test('the PKCE verifier is in no URL, state, stored row, log line or request-log row', async (t) => {
  const fakes = await startFakes(t)
  let logs = ''
  const sink = new Writable({ write (chunk, _e, cb) { logs += String(chunk); cb() } })
  const app = await build(t, {
    env: { ...fakeEnv(fakes), OUTBOUND_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'trace', LOG_REQUESTS: 'true' },
    app: { loggerInstance: pino(loggerOptions({ logLevel: 'trace' }), sink) as never }
  })
  const { adminKey } = await app.seedTeam('pkce')
  const fake = fakes.dropbox
  const tokenRequests = () => fake.server.requests.filter((x) => x.route === fake.tokenRoute)

  const seen: string[] = [] // every URL and state the flows exposed
  const flow = async (refuse: boolean) => {
    const f = await startFlow(app, adminKey, { provider: 'dropbox' })
    const cb = fake.oauth.approve(f.providerUrl)
    if (refuse) fake.oauth.codes.clear() // the code is already used at the provider: invalid_grant
    const res = await callbackRequest(app, cb, f.cookie)
    seen.push(f.authUrl, f.providerUrl, f.state, cb, String(res.headers.location))
    const verifier = tokenRequests().at(-1)!.req.body.code_verifier!
    t.equal(createHash('sha256').update(verifier).digest('base64url'), new URL(f.providerUrl).searchParams.get('code_challenge'), 'the verifier sent matches the challenge')
    return { verifier, location: new URL(String(res.headers.location)) }
  }

  const ok = await flow(false)
  t.equal(ok.location.searchParams.get('connected'), 'dropbox')
  const refused = await flow(true)
  t.equal(refused.location.searchParams.get('error'), 'OAUTH_ERROR', 'the refused exchange redirects with an error')
  t.match(logs, /OAuth code exchange refused/, 'the refusal was logged')

  await app.app.requestLog.flush()
  const [stored] = await app.database.rows<{ x: string }>(sql`select coalesce(string_agg(to_jsonb(s)::text, '|'), '') as x from oauth_states s`)
  const [logged] = await app.database.rows<{ x: string }>(sql`select coalesce(string_agg(to_jsonb(r)::text, '|'), '') as x from request_logs r`)
  t.ok(logged!.x.includes('/oauth/callback/dropbox'), 'request_logs holds the callbacks')
  for (const [name, { verifier }] of Object.entries({ ok, refused })) {
    t.equal(verifier.length, 43, `${name}: 32 random bytes, base64url`)
    t.notOk(seen.some((s) => s.includes(verifier)), `${name}: in no URL or state`)
    t.notOk(stored!.x.includes(verifier), `${name}: not in the stored flow row (kept encrypted)`)
    t.notOk(logs.includes(verifier), `${name}: in no log line`)
    t.notOk(logged!.x.includes(verifier), `${name}: not in request_logs`)
  }
})
