/**
 * Our security checklist, §1.3 tests 1 and 2 at the checklist's own numbers (depth 6, 1,000
 * tokens). Our configured defaults are depth 10 and 2,000 tokens (README); these tests show what
 * that means:
 * - depth: no selection of our schema's own fields goes deeper than 6, so a depth-7 query cannot
 *   be valid whatever GRAPHQL_MAX_DEPTH says (a new recursive type fails this test, which is the
 *   moment to lower the default);
 * - tokens: set to 1,000, a document of exactly 1,000 tokens (as graphql-js counts them) runs
 *   and one of 1,001 is a 400 before execution.
 * (Depth over the server maximum with a mutation that must not run, 16 aliases and 51 directives
 * are in test/graphql/limits.test.ts.)
 */
import t from 'tap'
import { getNamedType, isObjectType, type GraphQLObjectType } from 'graphql'
import { Parser } from 'graphql/language/parser.js'
import { buildSchema } from '../../src/graphql/schema.ts'
import { build } from '../helper.ts'

/** The deepest leaf reachable from `type`, counting as graphql-depth-limit does (root fields are 0). */
function deepest (type: GraphQLObjectType, path: string[]): number {
  if (path.includes(type.name)) return Infinity // a cycle: unbounded depth
  let max = 0
  for (const field of Object.values(type.getFields())) {
    const named = getNamedType(field.type)
    max = Math.max(max, isObjectType(named) ? 1 + deepest(named, [...path, type.name]) : 0)
  }
  return max
}

t.test('depth: no query over our schema can be deeper than 6, so depth 7 is never valid', async (t) => {
  const schema = buildSchema()
  const depths: Record<string, number> = {}
  for (const root of [schema.getQueryType()!, schema.getMutationType()!]) {
    for (const field of Object.values(root.getFields())) {
      const named = getNamedType(field.type)
      depths[`${root.name}.${field.name}`] = isObjectType(named) ? 1 + deepest(named, []) : 0
    }
  }
  const over = Object.entries(depths).filter(([, d]) => d > 6)
  t.same(over, [], 'every root field\'s deepest leaf is at depth ≤ 6')
  t.ok(Math.max(...Object.values(depths)) >= 3, 'the walk does reach nested fields')
})

t.test('tokens: with GRAPHQL_MAX_TOKENS=1000, 1,000 run and 1,001 are refused by the parser', async (t) => {
  const app = await build(t, { env: { GRAPHQL_MAX_TOKENS: '1000' } })
  const { adminKey } = await app.seedTeam('checklist-tokens')
  const tokens = (query: string): number => { const p = new Parser(query); p.parseDocument(); return p.tokenCount }
  // Repeated leaf fields spread over three parents: graphql-js meters the pairwise comparisons of
  // repeated fields (about 500,000), and a thousand under one parent would abort validation.
  const shape = (c: number): string => `{ viewer { ${'scopes '.repeat(330)}} scopes { ${'name '.repeat(330)}} graphqlPolicy { ${'depthLimit '.repeat(c)}} }`
  const query = (n: number): string => shape(n - tokens(shape(1)) + 1)
  t.equal(tokens(query(1000)), 1000, 'exactly 1,000 tokens')
  t.equal(tokens(query(1001)), 1001)
  const at = await app.gql(query(1000), { auth: adminKey })
  t.equal(at.status, 200, '1,000 tokens run')
  const over = await app.gql(query(1001), { auth: adminKey })
  t.equal(over.status, 400, '1,001 tokens')
  t.equal(over.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.match(over.body.errors?.[0]?.message, /more that 1000 tokens/)
  t.equal(over.body.data ?? null, null, 'nothing executed')
})

t.test('characters: a query of 15,000 characters runs, one of 15,001 is refused before parsing', async (t) => {
  const app = await build(t)
  const { adminKey } = await app.seedTeam('checklist-characters')
  // Padding is whitespace: it is not a token, so only the character limit can refuse it.
  const query = (n: number): string => { const core = '{ scopes { name } }'; return core + ' '.repeat(n - core.length) }
  t.equal(query(15_000).length, 15_000)
  const at = await app.gql(query(15_000), { auth: adminKey })
  t.equal(at.status, 200, '15,000 characters run')
  t.ok(Array.isArray(at.body.data?.scopes))
  const over = await app.gql(query(15_001), { auth: adminKey })
  t.equal(over.status, 400, '15,001 characters')
  t.equal(over.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.match(over.body.errors?.[0]?.message, /longer than 15000 characters/)
  t.equal(over.body.data ?? null, null, 'nothing executed')
})
