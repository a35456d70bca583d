/**
 * Rules over the whole SDL, so a new schema file cannot forget them:
 * - every Query and Mutation field declares `@auth(requires: …)` with a known scope;
 * - no output type exposes a token, secret, hash or password (the one-time `secret` of a
 *   newly created API key is the single, deliberate exception).
 */
import t from 'tap'
import { getNamedType, isObjectType, type GraphQLField } from 'graphql'
import { requiredScope } from '../../src/graphql/auth-directive.ts'
import { buildSchema } from '../../src/graphql/schema.ts'
import { AUTHENTICATED, isScope } from '../../src/domain/auth/scopes.ts'

const schema = buildSchema()

const requires = (field: GraphQLField<unknown, unknown>): string | undefined => requiredScope(field.astNode)

t.test('every root field declares the scope it requires', async (t) => {
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.values(root!.getFields())) {
      const scope = requires(field)
      t.ok(scope !== undefined && (scope === AUTHENTICATED || isScope(scope)), `${root!.name}.${field.name} requires ${scope ?? 'nothing!'}`)
    }
  }
})

t.test('no output type exposes a credential', async (t) => {
  const allowed = new Set(['ApiKeyWithSecret.secret'])
  const offenders: string[] = []
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue
    for (const field of Object.values(type.getFields())) {
      const name = `${type.name}.${field.name}`
      if (allowed.has(name)) continue
      const scalar = getNamedType(field.type).name
      if (/(token|secret|hash|password|verifier)$/i.test(field.name) && ['String', 'JSON'].includes(scalar)) offenders.push(name)
    }
  }
  t.same(offenders, [], 'no credential-shaped string fields')
})
