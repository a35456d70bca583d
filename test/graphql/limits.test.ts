import t from 'tap'
import { sql } from 'drizzle-orm'
import { build } from '../helper.ts'
import { runSecurityCases } from '../security-cases.ts'

const app = await build(t)
const { gql, seedTeam, keyWith } = app
const { adminKey, teamId } = await seedTeam('limits')

t.test('depth beyond the server maximum is a validation error and nothing runs', async (t) => {
  const shallow = await build(t, { env: { GRAPHQL_MAX_DEPTH: '2' } })
  const { adminKey } = await shallow.seedTeam('depth')
  const count = async () => (await shallow.gql('{ apiKeys { totalCount } }', { auth: adminKey })).body.data?.apiKeys.totalCount
  t.equal(await count(), 1)
  const res = await shallow.gql('mutation { createApiKey(input: { name: "deep", scopes: ["keys:read"] }) { apiKey { rateLimit { requests } } } }', { auth: adminKey })
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.match(res.body.errors?.[0]?.message, /exceeds maximum operation depth/)
  t.equal(res.body.data ?? null, null)
  t.equal(await count(), 1, 'the mutation did not run')
  // Too deep for the server and over the team's cost limit: refused (the team's other limits are
  // still checked when validation is left to report the depth).
  await shallow.gql('mutation { updateGraphQLPolicy(input: { costLimit: 50 }) { costLimit } }', { auth: adminKey })
  const both = await shallow.gql('{ apiKeys(first: 60) { nodes { rateLimit { requests } } } }', { auth: adminKey })
  t.equal(both.status, 400)
  t.equal(both.body.data ?? null, null)
})

t.test('a long query text (not memoised) is measured like any other', async (t) => {
  // Long, but under GRAPHQL_MAX_QUERY_LENGTH (15,000): the text is measured, not refused for its length.
  const padding = `# ${'x'.repeat(14_000)}\n`
  const aliases = Array.from({ length: 11 }, (_, i) => `a${i}: apiKeys(first: 100) { nodes { id name prefix scopes } }`).join(' ')
  const res = await gql(`${padding}{ ${aliases} }`, { auth: adminKey }) // 11 * (1 + 100 * 5) = 5511
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.limit, 'cost')
})

t.test('per-team depth and cost policy', async (t) => {
  const deep = '{ viewer { team { id } principal { kind } } }' // depth 2 (root fields are depth 0)
  t.equal((await gql(deep, { auth: adminKey })).status, 200)
  const upd = await gql('mutation { updateGraphQLPolicy(input: { depthLimit: 1, costLimit: 50 }) { depthLimit costLimit maxDepthLimit maxCostLimit introspection } }', { auth: adminKey })
  t.same(upd.body.data?.updateGraphQLPolicy, { depthLimit: 1, costLimit: 50, maxDepthLimit: 10, maxCostLimit: 5000, introspection: true })
  const tooDeep = await gql(deep, { auth: adminKey })
  t.equal(tooDeep.status, 400)
  t.equal(tooDeep.body.errors?.[0]?.extensions.limit, 'depth')
  const costly = await gql('{ apiKeys(first: 60) { totalCount } }', { auth: adminKey }) // depth 1; cost 1 + 60 * 1 = 61
  t.equal(costly.status, 400)
  t.equal(costly.body.errors?.[0]?.extensions.limit, 'cost')
  t.equal(costly.body.errors?.[0]?.extensions.cost, 61, 'list fields cost by their page size')
  const viaVariable = await gql('query($n: Int) { apiKeys(first: $n) { totalCount } }', { auth: adminKey, variables: { n: 10 } }) // 11
  t.equal(viaVariable.status, 200, 'a page size given as a variable is costed by its value')
  const bigVariable = await gql('query($n: Int) { apiKeys(first: $n) { totalCount } }', { auth: adminKey, variables: { n: 90 } }) // 91
  t.equal(bigVariable.body.errors?.[0]?.extensions.cost, 91)
  // Over GET the variables arrive as JSON text in the query string, and are costed the same way.
  const viaGet = await app.app.inject({
    method: 'GET',
    url: `/graphql?query=${encodeURIComponent('query($n: Int) { apiKeys(first: $n) { totalCount } }')}&variables=${encodeURIComponent(JSON.stringify({ n: 70 }))}`,
    headers: { authorization: `Bearer ${adminKey}` }
  })
  t.equal(viaGet.statusCode, 400)
  t.equal(viaGet.json().errors?.[0]?.extensions.cost, 71, 'GET variables are costed by their value')
  const stillFine = await gql('{ viewer { scopes } }', { auth: adminKey })
  t.equal(stillFine.status, 200, 'a query within the policy runs')
  const above = await gql('mutation { updateGraphQLPolicy(input: { depthLimit: 11 }) { depthLimit } }', { auth: adminKey })
  t.equal(above.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'never above the server maximum')
  const read = await gql('{ graphqlPolicy { depthLimit costLimit } }', { auth: adminKey })
  t.same(read.body.data?.graphqlPolicy, { depthLimit: 1, costLimit: 50 })
  const member = await keyWith(teamId, ['keys:write', 'keys:read'])
  const forbidden = await gql('mutation { updateGraphQLPolicy(input: { depthLimit: 10 }) { depthLimit } }', { auth: member.key })
  t.equal(forbidden.status, 403, 'only admins change the policy')
  await gql('mutation { updateGraphQLPolicy(input: { depthLimit: 10, costLimit: 5000 }) { depthLimit } }', { auth: adminKey })
})

t.test('server cost maximum', async (t) => {
  const aliases = Array.from({ length: 14 }, (_, i) => `a${i}: apiKeys(first: 100) { nodes { id name prefix scopes } }`).join(' ')
  const res = await gql(`{ ${aliases} }`, { auth: adminKey }) // 14 * (1 + 100 * 5) = 7014
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.limit, 'cost')
})

t.test('aliases, directives, tokens', async (t) => {
  const sixteen = Array.from({ length: 16 }, (_, i) => `a${i}: scopes { name }`).join(' ')
  const aliases = await gql(`{ ${sixteen} }`, { auth: adminKey })
  t.equal(aliases.status, 400)
  t.equal(aliases.body.errors?.[0]?.extensions.limit, 'aliases')
  const fifteen = Array.from({ length: 15 }, (_, i) => `a${i}: scopes { name }`).join(' ')
  t.equal((await gql(`{ ${fifteen} }`, { auth: adminKey })).status, 200, '15 aliases are fine')
  const directives = await gql(`{ viewer { scopes ${'@include(if: true) '.repeat(51)} } }`, { auth: adminKey })
  t.equal(directives.status, 400)
  const tokens = await gql(`{ viewer { ${'scopes '.repeat(2100)} } }`, { auth: adminKey })
  t.equal(tokens.status, 400, 'documents over the token limit are refused by the parser')
})

t.test('page size over the maximum is BAD_USER_INPUT', async (t) => {
  const res = await gql('{ apiKeys(first: 1000) { totalCount } }', { auth: adminKey })
  t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
})

t.test('batched queries, GET mutations and oversized bodies are refused', async (t) => {
  const batch = await app.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, payload: JSON.stringify([{ query: '{ scopes { name } }' }, { query: '{ scopes { name } }' }]) })
  t.equal(batch.statusCode, 400, 'a JSON array of operations is refused')
  const get = await app.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('mutation { revokeApiKey(id: "x") { id } }')}`, headers: { authorization: `Bearer ${adminKey}` } })
  t.equal(get.statusCode, 405, 'mutation over GET → 405')
  const big = await app.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ query: `{ scopes { name } } # ${'x'.repeat(300 * 1024)}` }) })
  t.equal(big.statusCode, 413, 'a 300 KiB body → 413')
  t.equal(big.json().errors?.[0]?.extensions?.code, 'BAD_USER_INPUT')
  const getQuery = await app.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('{ scopes { name } }')}`, headers: { authorization: `Bearer ${adminKey}` } })
  t.equal(getQuery.statusCode, 200, 'queries over GET still work')
})

t.test('misspelled fields get no suggestions', async (t) => {
  const res = await gql('{ viewr { scopes } }', { auth: adminKey })
  t.equal(res.status, 400)
  t.notMatch(res.body.errors?.[0]?.message ?? '', /Did you mean/)
  t.match(res.body.errors?.[0]?.message ?? '', /Cannot query field "viewr"/)
})

t.test('introspection needs admin:full and a policy that allows it', async (t) => {
  const q = '{ __schema { queryType { name } } }'
  t.equal((await gql(q, { auth: adminKey })).status, 200, 'admin may introspect outside production')
  const reader = await keyWith(teamId, ['keys:read'])
  const res = await gql(q, { auth: reader.key })
  t.equal(res.status, 403)
  t.equal(res.body.errors?.[0]?.extensions.code, 'FORBIDDEN')
  await gql('mutation { updateGraphQLPolicy(input: { introspection: false }) { introspection } }', { auth: adminKey })
  t.equal((await gql(q, { auth: adminKey })).status, 403, 'team policy can turn it off')
  await gql('mutation { updateGraphQLPolicy(input: { introspection: true }) { introspection } }', { auth: adminKey })
  t.equal((await gql('{ __typename viewer { scopes } }', { auth: reader.key })).status, 200, '__typename is not introspection')
})

t.test('production: introspection and GraphiQL are off', async (t) => {
  const prod = await build(t, { env: { NODE_ENV: 'production', EMBEDDED_IN_PRODUCTION: 'true', LOG_LEVEL: 'silent', ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 7).toString('base64')}` } })
  const { adminKey } = await prod.seedTeam('prod')
  const res = await prod.gql('{ __schema { queryType { name } } }', { auth: adminKey })
  t.equal(res.status, 400, 'introspection is a validation error in production, even for admins')
  const ui = await prod.app.inject({ method: 'GET', url: '/graphiql' })
  t.equal(ui.statusCode, 404, 'no GraphiQL in production')
})

t.test('a database failure inside a resolver is masked', async (t) => {
  const broken = await build(t)
  const { adminKey } = await broken.seedTeam('broken')
  t.equal((await broken.gql('{ viewer { scopes } }', { auth: adminKey })).status, 200, 'key is now cached')
  // A query that fails (not an outage): the table it reads is gone.
  await broken.database.rows(sql`alter table api_keys rename to api_keys_gone`)
  const res = await broken.gql('{ apiKeys { totalCount } }', { auth: adminKey })
  t.equal(res.status, 500)
  t.equal(res.body.errors?.[0]?.extensions.code, 'INTERNAL_SERVER_ERROR')
  t.equal(res.body.errors?.[0]?.message, 'Something went wrong on our side.')
  t.notMatch(JSON.stringify(res.body), /select|api_keys|stack|at /i, 'no SQL or stack in the response')
  // A database that cannot be reached is an outage: 503, retryable, and just as masked.
  await broken.database.rows(sql`alter table api_keys_gone rename to api_keys`)
  await broken.database.close()
  const down = await broken.gql('{ apiKeys { totalCount } }', { auth: adminKey })
  t.equal(down.status, 503)
  t.equal(down.body.errors?.[0]?.extensions.code, 'SERVICE_UNAVAILABLE')
  t.notMatch(JSON.stringify(down.body), /select|api_keys|stack|at /i, 'no SQL or stack in the outage response either')
})

await runSecurityCases(t, app, [
  { name: 'viewer', scope: 'authenticated', query: '{ viewer { scopes } }' },
  { name: 'scopes', scope: 'authenticated', query: '{ scopes { name description } }' },
  { name: 'graphqlPolicy', scope: 'authenticated', query: '{ graphqlPolicy { depthLimit } }' },
  { name: 'updateGraphQLPolicy', scope: 'admin:full', query: 'mutation { updateGraphQLPolicy(input: { depthLimit: 5 }) { depthLimit } }' }
])
