import t from 'tap'
import type { SlackFake } from '../fakes/slack.ts'
import { integrationStatus, run, setup } from './connector-helper.ts'

t.test('slack connector', async (t) => {
  const s = await setup(t)
  const fake = s.fakes.slack as SlackFake
  const id = await s.connectTo('slack')

  await t.test('post_message; HTTP 200 with ok:false is an error, not retried', async (t) => {
    const r = await run(s, id, 'post_message', { channel: 'C002', text: 'New mockups are ready' })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.success, true)
    t.equal(r.data.channel, 'C002')
    t.same(fake.messages.at(-1), { channel: 'C002', text: 'New mockups are ready', ts: r.data.ts })
    const req = fake.server.requests.filter((x) => x.route === 'POST /api/chat.postMessage').at(-1)!.req
    t.equal(req.headers['content-type'], 'application/json; charset=utf-8')
    const before = fake.server.count('POST /api/chat.postMessage')
    const bad = await run(s, id, 'post_message', { channel: 'C003', text: 'hi' })
    t.equal(!('errors' in bad) && bad.error?.code, 'API_ERROR')
    t.match(!('errors' in bad) && bad.error?.message, /not_in_channel/)
    t.equal(fake.server.count('POST /api/chat.postMessage') - before, 1, 'not retried')
  })

  await t.test('list_channels follows next_cursor until ""', async (t) => {
    for (let i = 4; i <= 9; i++) fake.channels.push({ id: `C00${i}`, name: `chan-${i}`, member: false })
    fake.pageSize = 4
    const before = fake.server.count('GET /api/conversations.list')
    const r = await run(s, id, 'list_channels', {})
    fake.pageSize = 200
    if ('errors' in r) throw new Error('errors')
    t.equal(r.data.channels.length, 9)
    t.equal(fake.server.count('GET /api/conversations.list') - before, 3)
  })

  await t.test('get_account: team name', async (t) => {
    const r = await run(s, id, 'get_account', {})
    t.same(!('errors' in r) && r.data, { teamId: 'T123', teamName: 'Acme', url: 'https://acme.slack.example/', botUserId: 'U0BOT' })
  })

  await t.test('ok:false token_expired → refresh (rotating) → retried once', async (t) => {
    fake.oauth.expireAccessTokens()
    const before = fake.server.count('POST /api/oauth.v2.access')
    const r = await run(s, id, 'get_account', {})
    t.equal(!('errors' in r) && r.success, true)
    t.equal(fake.server.count('POST /api/oauth.v2.access') - before, 1)
  })

  await t.test('ok:false invalid_auth after revocation → INVALID_CREDENTIALS, needs_reauth', async (t) => {
    fake.oauth.revokeEverything()
    const r = await run(s, id, 'get_account', {})
    t.equal(!('errors' in r) && r.error?.code, 'INVALID_CREDENTIALS')
    t.equal(await integrationStatus(s, id), 'needs_reauth')
  })
})
