import t from 'tap'
import { build, signToken } from '../helper.ts'

t.test('viewer: API key principal sees its team and scopes', async (t) => {
  const { gql, seedTeam } = await build(t)
  const { teamId, adminKey, adminKeyId } = await seedTeam('acme')
  const res = await gql('{ viewer { team { id name } principal { kind userId apiKeyId } scopes } }', { auth: adminKey })
  t.equal(res.status, 200)
  t.same(res.body.data?.viewer, { team: { id: teamId, name: 'acme' }, principal: { kind: 'API_KEY', userId: null, apiKeyId: adminKeyId }, scopes: ['admin:full'] })
})

t.test('viewer: JWT user with a role gets the role scopes', async (t) => {
  const { gql, seedTeam } = await build(t)
  const { teamId } = await seedTeam('acme')
  const token = await signToken({ sub: 'user-1', team: teamId, role: 'operator' })
  const res = await gql('{ viewer { principal { kind userId } scopes } }', { auth: token })
  t.equal(res.status, 200)
  t.equal(res.body.data?.viewer.principal.kind, 'USER')
  t.equal(res.body.data?.viewer.principal.userId, 'user-1')
  t.ok(res.body.data?.viewer.scopes.includes('logs:read'))
  t.notOk(res.body.data?.viewer.scopes.includes('keys:write'))
})
