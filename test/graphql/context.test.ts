/**
 * withGraphQLContext: resolvers that declare a context parameter get a GraphQLContext made from
 * Mercurius's own { reply, app }, once per request; resolvers that take no context run unwrapped.
 * Through the real app, a mutation's resolver still sees the caller and the request id (the audit
 * event it writes carries the x-request-id of the call).
 */
import t from 'tap'
import { graphql } from 'graphql'
import { makeExecutableSchema } from '@graphql-tools/schema'
import { withGraphQLContext, type GraphQLContext } from '../../src/graphql/context.ts'
import { build } from '../helper.ts'

const services = { marker: 'services' }
const rateLimitRemaining = async (): Promise<number> => 7
/** What Mercurius passes when it has no context function. */
const mercuriusContext = (teamId: string, id: string) => ({
  reply: { request: { principal: { kind: 'api_key', teamId, scopes: [] }, id, log: { marker: `log ${id}` } } },
  app: { services, rateLimitRemaining }
})

function setup () {
  const seen: GraphQLContext[] = []
  const built = makeExecutableSchema({
    typeDefs: 'type Query { who: String, again: String, plain: String }',
    resolvers: {
      Query: {
        who: (_: unknown, __: unknown, ctx: GraphQLContext) => { seen.push(ctx); return ctx.principal.teamId },
        again: (_: unknown, __: unknown, ctx: GraphQLContext) => { seen.push(ctx); return ctx.requestId },
        plain: () => 'no context'
      }
    }
  })
  const fields = built.getQueryType()!.getFields()
  const before = { who: fields.who!.resolve, plain: fields.plain!.resolve }
  const schema = withGraphQLContext(built)
  return { seen, schema, before, run: (source: string, ctx: object) => graphql({ schema, source, contextValue: ctx }) }
}

t.test('a resolver with a context parameter gets the GraphQLContext, made once per request', async (t) => {
  const { seen, run } = setup()
  const res = await run('{ who again plain }', mercuriusContext('team-a', 'req-a'))
  t.same(res.data, { who: 'team-a', again: 'req-a', plain: 'no context' })
  t.equal(seen.length, 2)
  t.equal(seen[0], seen[1], 'both resolvers of one request share one context object')
  t.equal(seen[0]!.services, services)
  t.equal(seen[0]!.rateLimitRemaining, rateLimitRemaining)
  t.same(seen[0]!.log, { marker: 'log req-a' })

  t.same((await run('{ who again }', mercuriusContext('team-b', 'req-b'))).data, { who: 'team-b', again: 'req-b' })
  t.not(seen[2], seen[0], 'another request gets its own context')
})

t.test('a resolver that takes no context is left as it was', async (t) => {
  const { schema, before } = setup()
  const fields = schema.getQueryType()!.getFields()
  t.equal(fields.plain!.resolve, before.plain, 'not wrapped')
  t.not(fields.who!.resolve, before.who, 'wrapped')
})

t.test('through the app: a mutation resolver sees the caller and the request id', async (t) => {
  const { gql, seedTeam } = await build(t)
  const { adminKey, adminKeyId } = await seedTeam('acme')
  const res = await gql('mutation { updateGraphQLPolicy(input: { depthLimit: 7 }) { depthLimit } }', { auth: adminKey })
  t.equal(res.status, 200)
  t.equal(res.body.data?.updateGraphQLPolicy.depthLimit, 7)
  const events = await gql('{ auditEvents(first: 5) { nodes { action actorType actorId requestId } } }', { auth: adminKey })
  const policy = events.body.data?.auditEvents.nodes.find((e: { action: string }) => e.action.includes('policy'))
  t.ok(policy, 'the policy change was audited')
  t.equal(policy.requestId, res.headers['x-request-id'], 'with the request id of the call')
  t.equal(policy.actorId, adminKeyId, 'by the calling key')
})
