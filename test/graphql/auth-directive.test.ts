/**
 * The @auth directive on its own schema: field and object-type placement, the check running
 * before the resolver (which therefore never runs for a caller without the scope), admin:full,
 * and a directive that names no scope (refused when the schema is built).
 */
import t from 'tap'
import { graphql } from 'graphql'
import { makeExecutableSchema } from '@graphql-tools/schema'
import { enforceAuthDirective } from '../../src/graphql/auth-directive.ts'
import { AppError } from '../../src/errors.ts'

/** The AppError a resolver threw (the app's error formatter turns it into extensions.code). */
const appError = (res: { errors?: readonly { originalError?: Error | null | undefined }[] | undefined }, i = 0): AppError | undefined => {
  const e = res.errors?.[i]?.originalError
  return e instanceof AppError ? e : undefined
}

/** What Mercurius passes resolvers (graphql/context.ts): its { reply, app }, the principal on the request. */
const mercuriusContext = (scopes: string[]) => ({ reply: { request: { principal: { kind: 'api_key', teamId: 't', scopes } } }, app: {} })

function setup () {
  const ran: string[] = []
  const schema = enforceAuthDirective(makeExecutableSchema({
    typeDefs: `
      directive @auth(requires: String) on FIELD_DEFINITION | OBJECT
      type Query {
        open: String
        keys: String @auth(requires: "keys:read")
        vault: Vault @auth(requires: "tokens:read")
      }
      type Vault @auth(requires: "admin:full") { name: String }
      type Mutation { revoke: Boolean @auth(requires: "keys:write") }`,
    resolvers: {
      Query: {
        open: () => { ran.push('open'); return 'o' },
        keys: () => { ran.push('keys'); return 'k' },
        vault: () => { ran.push('vault'); return { name: 'v' } }
      },
      Mutation: { revoke: () => { ran.push('revoke'); return true } }
    }
  }))
  const run = (source: string, scopes: string[]) => graphql({ schema, source, contextValue: mercuriusContext(scopes) })
  return { ran, run }
}

t.test('a field directive guards its resolver; unguarded fields run for anyone', async (t) => {
  const { ran, run } = setup()
  const denied = await run('{ open keys }', ['tokens:read'])
  t.same(denied.data, { open: 'o', keys: null })
  t.equal(appError(denied)?.code, 'FORBIDDEN')
  t.same(appError(denied)?.details, { requiredScope: 'keys:read' })
  t.same(ran, ['open'], 'the guarded resolver never ran')
  t.same((await run('{ keys }', ['keys:read'])).data, { keys: 'k' })
  t.same((await run('{ keys }', ['admin:full'])).data, { keys: 'k' }, 'admin:full implies every scope')
})

t.test('a mutation without its scope is refused before it runs', async (t) => {
  const { ran, run } = setup()
  const res = await run('mutation { revoke }', ['keys:read'])
  t.equal(appError(res)?.code, 'FORBIDDEN')
  t.same(ran, [], 'nothing written')
})

t.test('an object-type directive guards every field of the type, on top of the field that returns it', async (t) => {
  const { run } = setup()
  const partial = await run('{ vault { name } }', ['tokens:read'])
  t.same(partial.data, { vault: { name: null } }, 'the field returning Vault passes, Vault.name does not')
  t.equal(appError(partial)?.code, 'FORBIDDEN')
  t.same((await run('{ vault { name } }', ['admin:full'])).data, { vault: { name: 'v' } })
})

t.test('a directive that names no scope stops the schema from being built', async (t) => {
  t.throws(() => enforceAuthDirective(makeExecutableSchema({
    typeDefs: 'directive @auth(requires: String) on FIELD_DEFINITION | OBJECT\ntype Query { broken: String @auth }',
    resolvers: { Query: { broken: () => 'b' } }
  })), /@auth on broken must name a scope/)
})
