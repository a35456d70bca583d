/**
 * Our security checklist, §1.4 test 6 at the application layer: 200 requests for 20 teams,
 * interleaved and all in flight at once over the pool (5 connections on PostgreSQL), each
 * reading its team's keys, integrations and audit events: not one row of another team comes back.
 * (Row-level security, the second wall under this filter, is not built yet.)
 */
import t from 'tap'
import { build } from '../helper.ts'

const TEAMS = 20
const PER_TEAM = 10
const READ = '{ viewer { team { id } } apiKeys(first: 100) { nodes { id } } integrations(first: 100) { nodes { id name } } auditEvents(first: 100) { nodes { targetId } } }'

t.test('200 interleaved requests for 20 teams: 0 cross-tenant rows', async (t) => {
  const app = await build(t)
  const teams: Array<{ teamId: string, adminKey: string, adminKeyId: string, integrationId: string, name: string }> = []
  for (let i = 0; i < TEAMS; i++) {
    const team = await app.seedTeam(`tenant-${i}`)
    const created = await app.gql('mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id } }', {
      auth: team.adminKey,
      variables: { input: { provider: 'rest_api', name: `tenant-${i}`, config: { baseUrl: `https://api-${i}.example.com` }, credentials: { apiKey: `k-${i}` } } }
    })
    t.equal(created.status, 200, `tenant ${i} has an integration`)
    teams.push({ ...team, integrationId: created.body.data!.createIntegration.id as string, name: `tenant-${i}` })
  }

  // Round-robin: request k belongs to team k % 20, so neighbours in flight are always other teams.
  const calls = Array.from({ length: TEAMS * PER_TEAM }, (_, k) => teams[k % TEAMS]!)
  const answers = await Promise.all(calls.map(async (team) => ({ team, res: await app.gql(READ, { auth: team.adminKey }) })))

  const foreign: string[] = []
  for (const { team, res } of answers) {
    const d = res.body.data
    if (res.status !== 200 || d == null) { foreign.push(`${team.name}: status ${res.status}`); continue }
    if (d.viewer.team.id !== team.teamId) foreign.push(`${team.name}: viewer of ${d.viewer.team.id}`)
    for (const k of d.apiKeys.nodes) if (k.id !== team.adminKeyId) foreign.push(`${team.name}: key ${k.id}`)
    for (const i of d.integrations.nodes) if (i.id !== team.integrationId || i.name !== team.name) foreign.push(`${team.name}: integration ${i.name}`)
    const own = new Set([team.adminKeyId, team.integrationId])
    for (const e of d.auditEvents.nodes) if (!own.has(e.targetId)) foreign.push(`${team.name}: audit event on ${e.targetId}`)
  }
  t.same(foreign, [], 'every answer holds its own team\'s rows only')
  t.equal(answers.length, 200)
  t.ok(answers.every(({ res }) => res.body.data?.integrations.nodes.length === 1), 'each team sees its one integration')
})
