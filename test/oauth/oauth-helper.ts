/** Shared set-up of the OAuth tests: every provider fake started, the app pointed at them. */
import type { FakeProvider } from '../fakes/base.ts'
import { startCustomOAuth2 } from '../fakes/custom-oauth2.ts'
import { startDropbox } from '../fakes/dropbox.ts'
import { startFigma } from '../fakes/figma.ts'
import { startGoogleDrive } from '../fakes/google-drive.ts'
import { startNotion } from '../fakes/notion.ts'
import { startShopify } from '../fakes/shopify.ts'
import { startSlack } from '../fakes/slack.ts'
import type { TestApp } from '../helper.ts'

export const REDIRECT_TO = 'https://app.example/integrations'

export interface Fakes { shopify: FakeProvider, google_drive: FakeProvider, dropbox: FakeProvider, figma: FakeProvider, notion: FakeProvider, slack: FakeProvider, custom: FakeProvider }

export async function startFakes (t: { teardown(fn: () => unknown): void }): Promise<Fakes> {
  const [shopify, google_drive, dropbox, figma, notion, slack, custom] = await Promise.all([startShopify(), startGoogleDrive(), startDropbox(), startFigma(), startNotion(), startSlack(), startCustomOAuth2()])
  const fakes = { shopify, google_drive, dropbox, figma, notion, slack, custom }
  t.teardown(() => Promise.all(Object.values(fakes).map((f) => f.close())))
  return fakes
}

/**
 * Environment pointing every provider at its fake, with the fake's client credentials. The
 * catalog providers' fakes are deployment config (trusted origins); the custom OAuth2 fake is a
 * team-supplied URL on 127.0.0.1, which the outbound guard allows only with
 * OUTBOUND_ALLOW_PRIVATE (test/security/outbound-guard.test.ts runs without it).
 */
export function fakeEnv (f: Fakes, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    OUTBOUND_ALLOW_PRIVATE: 'true',
    OAUTH_REDIRECT_ALLOWLIST: REDIRECT_TO,
    PUBLIC_URL: 'https://switchboard.example',
    PROVIDER_URL_OVERRIDES: JSON.stringify({
      shopify: `${f.shopify.server.origin}/{shop}`,
      google_drive: f.google_drive.server.origin,
      dropbox: f.dropbox.server.origin,
      figma: f.figma.server.origin,
      notion: f.notion.server.origin,
      slack: f.slack.server.origin
    }),
    ...extra
  }
  for (const [id, fake] of Object.entries(f)) {
    if (id === 'custom') continue
    env[`${id.toUpperCase()}_CLIENT_ID`] = fake.oauth.d.clientId
    env[`${id.toUpperCase()}_CLIENT_SECRET`] = fake.oauth.d.clientSecret
  }
  return env
}

export const START = 'mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authUrl state expiresAt } }'

/**
 * The browser opening startOAuth's `authUrl` (our launch route): returns the provider authorize
 * URL it is redirected to and its cookie jar (the flow's binding cookie).
 */
export async function launch (app: TestApp, authUrl: string): Promise<{ providerUrl: string, cookie: string, setCookie: string }> {
  const u = new URL(authUrl)
  const res = await app.app.inject({ method: 'GET', url: u.pathname + u.search })
  if (res.statusCode !== 302) throw new Error(`launch answered ${res.statusCode}: ${res.body}`)
  const setCookie = String(res.headers['set-cookie'])
  return { providerUrl: String(res.headers.location), cookie: setCookie.split(';')[0]!, setCookie }
}

/** startOAuth, then the browser opens authUrl: the provider URL and the browser's cookie. */
export async function startFlow (app: TestApp, key: string, input: Record<string, unknown>) {
  const started = await app.gql(START, { auth: key, variables: { input: { redirectTo: REDIRECT_TO, ...input } } })
  if (started.body.errors !== undefined) throw new Error(JSON.stringify(started.body.errors))
  const s = started.body.data!.startOAuth as { authUrl: string, state: string, expiresAt: string }
  return { ...s, ...(await launch(app, s.authUrl)) }
}

/** GET our callback as a browser would, with (or without) a cookie jar. */
export function callbackRequest (app: TestApp, callbackUrl: string, cookie?: string) {
  const u = new URL(callbackUrl, 'https://switchboard.example')
  return app.app.inject({ method: 'GET', url: u.pathname + u.search, ...(cookie !== undefined && { headers: { cookie } }) })
}

/** startOAuth → the browser follows authUrl (cookie set) → the user approves at the fake → our callback with the cookie. */
export async function connect (app: TestApp, fake: FakeProvider, key: string, input: Record<string, unknown>) {
  const flow = await startFlow(app, key, input)
  let callback = fake.oauth.approve(flow.providerUrl)
  if (fake.callbackExtras !== undefined) callback = fake.callbackExtras(callback)
  const u = new URL(callback)
  const res = await callbackRequest(app, callback, flow.cookie)
  const location = res.headers.location === undefined ? undefined : new URL(String(res.headers.location))
  return { authUrl: flow.providerUrl, launchUrl: flow.authUrl, cookie: flow.cookie, callbackUrl: u.pathname + u.search, res, location, integrationId: location?.searchParams.get('integrationId') ?? undefined }
}
