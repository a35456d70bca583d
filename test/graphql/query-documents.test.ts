/**
 * One parse per query text, shared by the limits hook and the request log's describer; bounded
 * by text length; what the describer derives is kept per document and per real operation only.
 */
import t from 'tap'
import { QueryDocuments } from '../../src/graphql/query-documents.ts'
import { OperationDescriber } from '../../src/domain/request-logs/graphql-operation.ts'

t.test('QueryDocuments: one parse per text; unparsable is null; long texts are not kept', async (t) => {
  const docs = new QueryDocuments({ maxTokens: 2000 })
  const q = 'query Who { viewer { scopes } }'
  const first = docs.get(q)
  t.ok(first !== null)
  t.equal(docs.get(q), first, 'the same document object for the same text')
  t.equal(docs.get('{ viewer { '), null, 'a syntax error is null (Mercurius reports it)')
  t.equal(docs.get(`{ ${'a '.repeat(3000)} }`), null, 'over the token limit is null')
  const long = `# ${'x'.repeat(20_000)}\n${q}`
  const a = docs.get(long)
  const b = docs.get(long)
  t.ok(a !== null && b !== null)
  t.not(a, b, 'a text over 16 KiB is parsed each time, not kept')
  t.same(a, b)
})

t.test('OperationDescriber reads the shared parse and keeps only real operations', async (t) => {
  const docs = new QueryDocuments({ maxTokens: 2000 })
  let gets = 0
  const describer = new OperationDescriber({ documents: { get: (q) => { gets++; return docs.get(q) } } })
  const q = 'query A { viewer { scopes } } mutation B { revokeApiKey(id: "x") { id } }'
  const a = describer.describe(q, 'A')
  t.same({ type: a.type, name: a.name, rootFields: a.rootFields, endpoint: a.endpoint }, { type: 'query', name: 'A', rootFields: ['viewer'], endpoint: 'query A' })
  t.equal(describer.describe(q, 'A'), a, 'the same info object for the same document and operation')
  t.equal(describer.describe(q, 'B').endpoint, 'mutation B')
  const unknown = describer.describe(q, 'Zed')
  t.equal(unknown.type, null)
  t.equal(unknown.endpoint, 'graphql Zed')
  t.not(describer.describe(q, 'Zed'), unknown, 'a name the document lacks is not kept')
  t.equal(describer.describe(q, undefined).type, null, 'two operations and no name: ambiguous')
  t.equal(describer.describe('{ broken', undefined).endpoint, 'graphql (unknown)')
  t.equal(describer.describe(undefined, 'X').endpoint, 'graphql X', 'no query text: the name only')
  t.equal(gets, 7, 'every described text went through the shared source')
})
