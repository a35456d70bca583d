import t from 'tap'
import type { NotionFake } from '../fakes/notion.ts'
import { integrationStatus, run, setup } from './connector-helper.ts'

t.test('notion connector', async (t) => {
  const s = await setup(t)
  const fake = s.fakes.notion as NotionFake
  const id = await s.connectTo('notion')
  for (let i = 0; i < 7; i++) fake.pages.push({ id: `00000000-0000-4000-8000-00000000000${i}`, object: i === 6 ? 'database' : 'page', title: i === 6 ? 'Mockup tracker' : `Mockup page ${i}`, parent: { type: 'workspace', workspace: true }, children: [] })

  await t.test('search follows next_cursor/has_more; Notion-Version sent', async (t) => {
    fake.pageSize = 3
    const before = fake.server.count('POST /v1/search')
    const r = await run(s, id, 'search', { query: 'mockup' })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.data.results.length, 7)
    t.equal(fake.server.count('POST /v1/search') - before, 3, 'three pages of 3')
    t.same(r.data.results[0], { id: '00000000-0000-4000-8000-000000000000', object: 'page', title: 'Mockup page 0', url: 'https://www.notion.so/00000000000040008000000000000000' })
    const only = await run(s, id, 'search', { query: 'mockup', filter: 'database' })
    t.same(!('errors' in only) && only.data.results.map((x: { title: string }) => x.title), ['Mockup tracker'])
    const req = fake.server.requests.filter((x) => x.route === 'POST /v1/search').at(-1)!.req
    t.equal(req.headers['notion-version'], '2022-06-28')
    t.same(req.body, { query: 'mockup', page_size: 100, filter: { property: 'object', value: 'database' } })
    fake.pageSize = 100
  })

  await t.test('create_page under a page and a database; unknown parent → API_ERROR', async (t) => {
    const r = await run(s, id, 'create_page', { parentPageId: fake.pages[0]!.id, title: 'Spring campaign', text: 'Mockups approved.' })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.data.page.title, 'Spring campaign')
    t.equal(fake.pages.at(-1)!.children.length, 1, 'the text as a paragraph block')
    const db = await run(s, id, 'create_page', { parentDatabaseId: fake.pages[6]!.id, title: 'Row' })
    t.equal(!('errors' in db) && db.data.page.title, 'Row')
    const neither = await run(s, id, 'create_page', { title: 'x' })
    t.equal('errors' in neither && neither.errors[0]!.extensions.code, 'BAD_USER_INPUT', 'a parent is required')
    const missing = await run(s, id, 'create_page', { parentPageId: 'nope', title: 'x' })
    t.equal(!('errors' in missing) && missing.error?.code, 'API_ERROR', '404 object_not_found is not retried')
  })

  await t.test('get_account: workspace name and bot id', async (t) => {
    const r = await run(s, id, 'get_account', {})
    t.same(!('errors' in r) && r.data, { botId: 'bot-1', name: 'Switchboard', workspaceName: 'Acme HQ', ownerType: 'workspace' })
  })

  await t.test('401 unauthorized → refresh (the refresh token rotates) → retried once', async (t) => {
    fake.oauth.expireAccessTokens()
    const rotatedBefore = [...fake.oauth.refreshTokens.values()].filter((v) => v === 'rotated').length
    const r = await run(s, id, 'get_account', {})
    t.equal(!('errors' in r) && r.success, true)
    t.equal([...fake.oauth.refreshTokens.values()].filter((v) => v === 'rotated').length - rotatedBefore, 1, 'old refresh token rotated out')
    fake.oauth.expireAccessTokens()
    const again = await run(s, id, 'get_account', {})
    t.equal(!('errors' in again) && again.success, true, 'the new refresh token was stored and works')
    t.equal(fake.oauth.reuseDetected, false, 'never presented a rotated refresh token')
  })

  await t.test('revoked → INVALID_CREDENTIALS and needs_reauth', async (t) => {
    fake.oauth.revokeEverything()
    const r = await run(s, id, 'search', { query: '' })
    t.equal(!('errors' in r) && r.error?.code, 'INVALID_CREDENTIALS')
    t.equal(await integrationStatus(s, id), 'needs_reauth')
  })
})
