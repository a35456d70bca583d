/**
 * security.md §1.7 test 3: a flipped bit in a stored token's ciphertext or GCM tag → decryption
 * fails, the integration is marked `error` with an audit event, NO request reaches the provider,
 * and the GraphQL caller gets INVALID_CREDENTIALS (`reason: credentials_unreadable`), not a
 * masked INTERNAL_SERVER_ERROR.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { build, testClock, type TestApp } from '../helper.ts'
import type { FakeProvider } from '../fakes/base.ts'
import { connect, fakeEnv, startFakes } from '../oauth/oauth-helper.ts'

const REFRESH = 'mutation($id: ID!) { refreshIntegrationToken(id: $id) { status } }'
const TEST = 'mutation($id: ID!) { testIntegration(id: $id) { success message } }'
const GET = 'query($id: ID!) { integration(id: $id) { status lastError credential { status } } }'

/** Without userinfoUrl the integrations have no account id, so several can be connected to the one fake account. */
async function customIntegration (app: TestApp, fake: FakeProvider, key: string): Promise<string> {
  const o = fake.server.origin
  const created = await app.gql('mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }', {
    auth: key,
    variables: { input: { provider: 'custom_oauth2', name: 'idp', config: { authorizeUrl: `${o}/authorize`, tokenUrl: `${o}/oauth/token`, revokeUrl: `${o}/oauth/revoke`, clientId: 'custom-client', clientSecret: 'custom-secret' } } }
  })
  const id = created.body.data!.createIntegration.id as string
  const r = await connect(app, fake, key, { provider: 'custom_oauth2', integrationId: id })
  if (r.location?.searchParams.get('connected') !== 'custom_oauth2') throw new Error('connect failed')
  return id
}

/** Flip one bit of part 3 (tag) or 4 (ciphertext) of the envelope stored in `column`. */
async function flip (app: TestApp, id: string, column: 'access_token' | 'refresh_token', part: 3 | 4): Promise<void> {
  const [row] = await app.database.rows<{ v: string }>(sql`select ${sql.raw(column)} as v from integration_credentials where integration_id = ${id}`)
  const parts = row!.v.split('.')
  const bytes = Buffer.from(parts[part]!, 'base64url')
  bytes[0]! ^= 0x01
  parts[part] = bytes.toString('base64url')
  await app.database.rows(sql`update integration_credentials set ${sql.raw(column)} = ${parts.join('.')} where integration_id = ${id}`)
}

t.test('tampered token ciphertext or tag: integration error, audit event, no provider request, clear GraphQL error', async (t) => {
  const fakes = await startFakes(t)
  const clock = testClock()
  const app = await build(t, { env: fakeEnv(fakes), clock })
  const { adminKey } = await app.seedTeam('acme')
  const fake = fakes.custom
  const providerCalls = () => fake.server.requests.length

  const cases: Array<[string, 'access_token' | 'refresh_token', 3 | 4]> = [
    ['access token ciphertext bit', 'access_token', 4],
    ['access token tag bit', 'access_token', 3],
    ['refresh token ciphertext bit', 'refresh_token', 4],
    ['refresh token tag bit', 'refresh_token', 3]
  ]
  for (const [name, column, part] of cases) {
    await t.test(name, async (t) => {
      const id = await customIntegration(app, fake, adminKey)
      await flip(app, id, column, part)
      const before = providerCalls()

      const refreshed = await app.gql(REFRESH, { auth: adminKey, variables: { id } })
      const err = refreshed.body.errors?.[0]
      t.equal(err?.extensions.code, 'INVALID_CREDENTIALS', 'a code from the closed set, not INTERNAL_SERVER_ERROR')
      t.equal(err?.extensions.reason, 'credentials_unreadable')
      t.match(err?.message, /cannot be read; please reconnect/)
      t.equal(refreshed.status, 401)

      const got = (await app.gql(GET, { auth: adminKey, variables: { id } })).body.data!.integration
      t.equal(got.status, 'ERROR', 'integration marked error')
      t.match(got.lastError, /cannot be decrypted/)

      // On-demand use (what a connector call does) and testIntegration: refused the same way, still no request.
      const onDemand = await app.app.services.tokens.accessToken((await app.database.rows<{ team_id: string }>(sql`select team_id from integrations where id = ${id}`))[0]!.team_id, id)
      t.equal(!onDemand.ok && onDemand.error.code, 'INVALID_CREDENTIALS')
      const tested = await app.gql(TEST, { auth: adminKey, variables: { id } })
      t.equal(tested.body.data!.testIntegration.success, false)
      clock.advance(3600_000) // expired: a refresh would be due, but the refresh token is never sent either
      await app.app.services.tokens.refreshDueTokens()
      t.equal(providerCalls(), before, 'no request sent to the provider')

      const audit = await app.database.rows<{ action: string, metadata: { column: string } }>(sql`select action, metadata from audit_events where target_id = ${id} and action = 'integration.credentials_unreadable'`)
      t.equal(audit.length, 1, 'one audit event, not one per attempt')
      t.equal(audit[0]!.metadata.column, `integration_credentials.${column}`)

      // Disconnect still deletes the local tokens; the unreadable token cannot be revoked, and that is recorded.
      const revokesBefore = fake.server.count('POST /oauth/revoke')
      const disc = await app.gql('mutation($id: ID!) { disconnectIntegration(id: $id) { status } }', { auth: adminKey, variables: { id } })
      if (column === 'refresh_token') {
        t.equal(disc.body.data!.disconnectIntegration.status, 'DISCONNECTED')
        t.equal(fake.server.count('POST /oauth/revoke'), revokesBefore, 'unreadable token: no revoke request')
        const [d] = await app.database.rows<{ metadata: { revocation: string } }>(sql`select metadata from audit_events where target_id = ${id} and action = 'integration.disconnected'`)
        t.equal(d!.metadata.revocation, 'unreadable')
      } else {
        t.equal(disc.body.data!.disconnectIntegration.status, 'DISCONNECTED', 'the refresh token (the one revoked) still decrypts')
      }
      const [left] = await app.database.rows<{ n: number }>(sql`select count(*)::int as n from integration_credentials where integration_id = ${id}`)
      t.equal(left!.n, 0, 'local tokens deleted')
    })
  }

  await t.test('reconnecting stores fresh tokens and clears the error', async (t) => {
    const id = await customIntegration(app, fake, adminKey)
    await flip(app, id, 'access_token', 4)
    await app.gql(REFRESH, { auth: adminKey, variables: { id } })
    await connect(app, fake, adminKey, { provider: 'custom_oauth2', integrationId: id })
    const got = (await app.gql(GET, { auth: adminKey, variables: { id } })).body.data!.integration
    t.same(got, { status: 'CONNECTED', lastError: null, credential: { status: 'VALID' } })
    const refreshed = await app.gql(REFRESH, { auth: adminKey, variables: { id } })
    t.equal(refreshed.body.data!.refreshIntegrationToken.status, 'VALID')
  })
})
