/**
 * Documents and request bodies shaped to hurt the server rather than to ask for data: fragment
 * trees that double at every level, fragment cycles, bodies whose fields have the wrong type, NUL
 * bytes in string inputs. Each is answered 400 before anything executes, without an error-level
 * log line; and a database error's log line never carries the query's parameter values.
 */
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { Writable } from 'node:stream'
import pino from 'pino'
import { parse } from 'graphql'
import { loggerOptions } from '../../src/logger.ts'
import { analyzeOperation, findOperation } from '../../src/graphql/limits/analyze-operation.ts'
import { buildSchema } from '../../src/graphql/schema.ts'
import { build } from '../helper.ts'
import { snapshot, tableRows } from '../security-cases.ts'

interface LogLine { level: number, msg?: string, err?: { stack?: string, message?: string, type?: string } }

let logText = ''
const sink = new Writable({ write (chunk, _enc, cb) { logText += chunk.toString(); cb() } })
const app = await build(t, { app: { loggerInstance: pino({ ...loggerOptions({ logLevel: 'info' }) }, sink) } })
const { adminKey } = await app.seedTeam('abuse')

/** Log lines written since `mark` (a length of logText taken earlier). */
const linesSince = (mark: number): LogLine[] =>
  logText.slice(mark).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogLine)

const post = async (payload: string) => {
  const res = await app.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, payload })
  return { status: res.statusCode, body: res.json() as { data?: unknown, errors?: Array<{ message: string, extensions: { code: string, [k: string]: unknown } }> } }
}

/** Twenty fragments, each spreading the next twice: 2^19 copies of the last one when expanded. */
function doublingFragments (type: string, leaf: string): string {
  const levels = Array.from({ length: 19 }, (_, i) => `fragment F${i + 1} on ${type} { ...F${i + 2} ...F${i + 2} }`)
  return `${levels.join('\n')}\nfragment F20 on ${type} { ${leaf} }`
}
const doubling = `query { ...F1 }\n${doublingFragments('Query', 'viewer { scopes }')}`

t.test('a fragment tree that doubles at every level is measured in linear time', async (t) => {
  t.ok(doubling.length < 1000, `a small document (${doubling.length} bytes)`)
  const schema = buildSchema()
  const document = parse(doubling, { noLocation: true, maxTokens: app.config.graphql.maxTokens })
  const operation = findOperation(document, undefined)!
  const started = performance.now()
  const shape = analyzeOperation(schema, document, operation, undefined, app.config.graphql.defaultPageSize)
  const elapsed = performance.now() - started
  // The target is < 5 ms; 50 leaves room for a loaded CI machine (the old walk took seconds).
  t.ok(elapsed < 50, `analysed in ${elapsed.toFixed(2)} ms`)
  t.ok(shape.cost >= 2 ** 19, 'every expanded copy is charged')
  t.equal(shape.depth, 1, 'fragment spreads add no depth')

  const res = await post(JSON.stringify({ query: doubling }))
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.equal(res.body.errors?.[0]?.extensions.limit, 'cost')
})

t.test('a page size of 0 does not hide what a selection would walk', async (t) => {
  const hidden = `{ apiKeys(first: 0) { nodes { ...F1 } } }\n${doublingFragments('ApiKey', 'id')}`
  const res = await post(JSON.stringify({ query: hidden }))
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.limit, 'cost')
})

t.test('every spread costs at least 1, and a fragment spread twice counts its aliases twice', async (t) => {
  const schema = buildSchema()
  const measure = (q: string) => {
    const document = parse(q, { noLocation: true })
    return analyzeOperation(schema, document, findOperation(document, undefined)!, undefined, 20)
  }
  t.equal(measure('{ ...T ...T ...T } fragment T on Query { __typename }').cost, 3, 'a spread of a free fragment still costs 1')
  const eight = Array.from({ length: 8 }, (_, i) => `a${i}: scopes { name }`).join(' ')
  t.equal(measure(`{ ...A ...A } fragment A on Query { ${eight} }`).aliases, 16)
  const res = await post(JSON.stringify({ query: `{ ...A ...A } fragment A on Query { ${eight} }` }))
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.limit, 'aliases')
})

t.test('the walk stops at a visit cap and the operation is then over any cost limit', async (t) => {
  const schema = buildSchema()
  const document = parse('{ viewer { scopes } scopes { name } graphqlPolicy { depthLimit costLimit } }', { noLocation: true })
  const capped = analyzeOperation(schema, document, findOperation(document, undefined)!, undefined, 20, 3)
  t.equal(capped.cost, Number.POSITIVE_INFINITY)
  const whole = analyzeOperation(schema, document, findOperation(document, undefined)!, undefined, 20, 100)
  t.equal(whole.cost, 7)
})

t.test('fragment cycles answer 400 with the NoFragmentCycles message, and nothing overflows', async (t) => {
  const cases = [
    'fragment A on Query { ...B } fragment B on Query { ...A } query { ...A }',
    'query { viewer { ...V } } fragment V on Viewer { team { id } ...V }'
  ]
  for (const query of cases) {
    const mark = logText.length
    const res = await post(JSON.stringify({ query }))
    t.equal(res.status, 400, query)
    t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
    t.match(res.body.errors?.[0]?.message, /^Cannot spread fragment "[AV]" within itself/)
    t.same(linesSince(mark).filter((l) => l.level >= 50 || l.err?.stack !== undefined), [], 'no error line, no stack')
  }
  const mark = logText.length
  const unknown = await post(JSON.stringify({ query: '{ viewer { scopes } ...Missing }' }))
  t.equal(unknown.status, 400, 'a spread of an unknown fragment')
  t.match(unknown.body.errors?.[0]?.message, /Unknown fragment "Missing"/)
  t.same(linesSince(mark).filter((l) => l.level >= 50), [])
})

t.test('a body field of the wrong type is 400 BAD_USER_INPUT, never 500', async (t) => {
  const q = '{ viewer { scopes } }'
  const bodies = [
    { query: 12 }, { query: true }, { query: ['{ viewer { scopes } }'] }, { query: { kind: 'Document', definitions: [] } },
    { query: q, operationName: 5 }, { query: q, operationName: false }, { query: q, operationName: {} },
    { query: q, variables: 5 }, { query: q, variables: 'x' }, { query: q, variables: [1] }, { query: q, variables: true },
    { query: q, extensions: 5 }, { query: q, extensions: 'x' }, { query: q, extensions: [1] }
  ]
  for (const body of bodies) {
    const mark = logText.length
    const res = await post(JSON.stringify(body))
    t.equal(res.status, 400, JSON.stringify(body))
    t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
    t.equal(res.body.data ?? null, null)
    t.same(linesSince(mark).filter((l) => l.level >= 50), [], 'nothing logged as an error')
  }
  const get = await app.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(q)}&variables=5`, headers: { authorization: `Bearer ${adminKey}` } })
  t.equal(get.statusCode, 400, 'GET variables that are not a JSON object')
  t.equal(get.json().errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
})

t.test('a query text must be GraphQL: a JSON syntax tree in its place is refused, not executed', async (t) => {
  // Mercurius falls back to JSON.parse for a text that does not parse as GraphQL; the document
  // would then skip the token limit and the team's cost limit.
  const ast = JSON.stringify(parse('{ viewer { scopes } }', { noLocation: true }))
  const res = await post(JSON.stringify({ query: ast }))
  t.equal(res.status, 400)
  t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.match(res.body.errors?.[0]?.message, /^Syntax Error/)
  t.equal(res.body.data ?? null, null)
})

t.test('null operationName, variables and extensions are accepted', async (t) => {
  const res = await post(JSON.stringify({ query: '{ viewer { scopes } }', operationName: null, variables: null, extensions: null }))
  t.equal(res.status, 200)
  t.same(res.body, { data: { viewer: { scopes: ['admin:full'] } } })
})

t.test('a NUL byte in any string input is BAD_USER_INPUT before execution, on every database', async (t) => {
  const CREATE = 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }'
  const tables = ['api_keys', 'audit_events', 'integrations', 'teams']
  const attempts: Array<{ query: string, variables?: Record<string, unknown> }> = [
    { query: 'mutation($n: String!) { createApiKey(input: { name: $n, scopes: ["keys:read"] }) { secret } }', variables: { n: 'a\u0000b' } },
    { query: CREATE, variables: { input: { name: 'in an object\u0000', scopes: ['keys:read'] } } },
    { query: CREATE, variables: { input: { name: 'nested', scopes: ['keys:read', 'keys:\u0000write'] } } },
    { query: 'mutation { createApiKey(input: { name: "a\\u0000b", scopes: ["keys:read"] }) { secret } }' },
    { query: 'mutation { createIntegration(input: { provider: "rest_api", name: "n", config: { deep: { list: ["x", "\\u0000"] } } }) { id } }' }
  ]
  for (const { query, variables } of attempts) {
    const before = await tableRows(app, tables)
    const mark = logText.length
    const res = await post(JSON.stringify({ query, variables }))
    t.equal(res.status, 400, query)
    t.equal(res.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
    t.match(res.body.errors?.[0]?.message, /NUL/)
    t.same(await tableRows(app, tables), before, 'nothing written')
    t.same(linesSince(mark).filter((l) => l.level >= 50), [], 'nothing logged as an error')
  }
  const before = await snapshot(app)
  const clean = await post(JSON.stringify({ query: CREATE, variables: { input: { name: 'a\\u0000 as text', scopes: ['keys:read'] } } }))
  t.equal(clean.status, 200, 'the six characters \\u0000 (no NUL) are an ordinary string')
  t.notSame(await snapshot(app), before)
})

t.test("a database error's log line carries no query parameter values", async (t) => {
  const value = 'cfg-VALUE-7f3a9c-ciphertext'
  let thrown: unknown
  try {
    await app.app.services.teams.create(`${value}\u0000`) // the database refuses the NUL byte
  } catch (err) {
    thrown = err
  }
  t.ok(thrown instanceof Error, 'the database refused the value')
  t.ok(String((thrown as Error).message).includes(value), 'the driver error itself quotes the parameters')
  const mark = logText.length
  app.app.log.error({ err: thrown }, 'database write failed')
  const lines = linesSince(mark)
  t.equal(lines.length, 1)
  t.equal(lines[0]?.msg, 'database write failed')
  t.match(lines[0]?.err?.message, /Failed query/, 'the statement is still there to debug with')
  t.notOk(logText.slice(mark).includes(value), 'the parameter value is not logged')
  t.notOk(logText.slice(mark).includes('"params"') || logText.slice(mark).includes('"parameters"'), 'no parameter fields')

  // Logged as the first argument, pino files the error under `err` too.
  const second = logText.length
  app.app.log.error(thrown as Error)
  t.equal(linesSince(second).length, 1)
  t.notOk(logText.slice(second).includes(value), 'nor when the error is logged on its own')
})
