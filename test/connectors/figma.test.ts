import t from 'tap'
import type { FigmaFake } from '../fakes/figma.ts'
import { createHash } from 'node:crypto'
import { integrationStatus, run, setup } from './connector-helper.ts'

const EXPORT = 'mutation($id: ID!, $key: String!, $nodes: [String!]!, $format: DesignFormat) { exportDesign(integrationId: $id, fileKey: $key, nodeIds: $nodes, format: $format) { fileKey images { nodeId url } } }'

t.test('figma connector', async (t) => {
  const s = await setup(t)
  const fake = s.fakes.figma as FigmaFake
  const id = await s.connectTo('figma')

  await t.test('list_files: team → projects → files, one request per project', async (t) => {
    const r = await run(s, id, 'list_files', { teamId: 'team-1' })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.same(r.data.files.map((f: { key: string, projectId: string }) => [f.key, f.projectId]), [['FILEa', 'p1'], ['FILEb', 'p1'], ['FILEc', 'p2']])
    t.equal(r.data.files[0].thumbnailUrl, 'https://figma.example/thumb/FILEa.png')
    t.equal(fake.server.count('GET /v1/projects/{id}/files'), 2)
    const noTeam = await run(s, id, 'list_files', {})
    t.equal('errors' in noTeam && noTeam.errors[0]!.extensions.code, 'BAD_USER_INPUT', 'a team id is needed')
    const req = fake.server.requests.find((x) => x.route === 'GET /v1/teams/{team}/projects')!.req
    t.match(String(req.headers.authorization), /^Bearer at_/)
  })

  await t.test('export_design and the typed exportDesign mutation: format and scale passed', async (t) => {
    const r = await run(s, id, 'export_design', { fileKey: 'FILEa', nodeIds: ['1:2', 'missing:1'], format: 'svg', scale: 2 })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.match(r.data.images['1:2'], /\/renders\/FILEa\/1%3A2\.svg$/)
    t.equal(r.data.images['missing:1'], null, 'a node that cannot be rendered is null')
    const q = fake.server.requests.filter((x) => x.route === 'GET /v1/images/{key}').at(-1)!.req.query
    t.equal(q.get('ids'), '1:2,missing:1')
    t.equal(q.get('format'), 'svg')
    t.equal(q.get('scale'), '2')
    const typed = await s.app.gql(EXPORT, { auth: s.adminKey, variables: { id, key: 'FILEb', nodes: ['3:4'], format: 'JPG' } })
    t.equal(typed.body.errors, undefined)
    t.match(typed.body.data!.exportDesign.images[0].url, /3%3A4\.jpg$/)
    const missing = await s.app.gql(EXPORT, { auth: s.adminKey, variables: { id, key: 'NOPE', nodes: ['1:1'] } })
    t.equal(missing.body.errors?.[0]?.extensions.code, 'API_ERROR')
    t.equal(missing.body.errors?.[0]?.extensions.platform, 'figma')
  })

  await t.test('import_design: exports, downloads and fingerprints the render', async (t) => {
    const r = await run(s, id, 'import_design', { fileKey: 'FILEc', nodeIds: ['5:6'] })
    if ('errors' in r) throw new Error(JSON.stringify(r.errors))
    t.equal(r.data.name, 'T-shirt')
    const bytes = fake.render('FILEc', '5:6', 'png')
    t.same(r.data.images[0], { nodeId: '5:6', url: r.data.images[0].url, mimeType: 'image/png', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })
  })

  await t.test('get_account', async (t) => {
    const r = await run(s, id, 'get_account', {})
    t.same(!('errors' in r) && r.data, { id: '77', email: 'ada@example.com', handle: 'ada', imgUrl: 'https://figma.example/ada.png' })
  })

  await t.test('403 "Token expired" → refreshed at /v1/oauth/refresh, retried once', async (t) => {
    fake.oauth.expireAccessTokens()
    const before = fake.server.count('POST /v1/oauth/refresh')
    const r = await run(s, id, 'get_account', {})
    t.equal(!('errors' in r) && r.success, true)
    t.equal(fake.server.count('POST /v1/oauth/refresh') - before, 1)
  })

  await t.test('revoked: 403 "Invalid token", refresh refused → INVALID_CREDENTIALS, needs_reauth', async (t) => {
    fake.oauth.revokeEverything()
    const r = await run(s, id, 'get_account', {})
    t.equal(!('errors' in r) && r.error?.code, 'INVALID_CREDENTIALS')
    t.equal(await integrationStatus(s, id), 'needs_reauth')
  })
})
