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

/** Environment pointing every provider at its fake, with the fake's client credentials. */
export function fakeEnv (f: Fakes, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
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

/** startOAuth → the user approves at the fake → our callback. Returns the callback response. */
export async function connect (app: TestApp, fake: FakeProvider, key: string, input: Record<string, unknown>) {
  const started = await app.gql(START, { auth: key, variables: { input: { redirectTo: REDIRECT_TO, ...input } } })
  if (started.body.errors !== undefined) throw new Error(JSON.stringify(started.body.errors))
  const authUrl = started.body.data!.startOAuth.authUrl as string
  let callback = fake.oauth.approve(authUrl)
  if (fake.callbackExtras !== undefined) callback = fake.callbackExtras(callback)
  const u = new URL(callback)
  const res = await app.app.inject({ method: 'GET', url: u.pathname + u.search })
  const location = res.headers.location === undefined ? undefined : new URL(String(res.headers.location))
  return { authUrl, callbackUrl: u.pathname + u.search, res, location, integrationId: location?.searchParams.get('integrationId') ?? undefined }
}
