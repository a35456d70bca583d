import t from 'tap'
import type { ErrorCode } from '../../src/errors.ts'
import { checkKey, keepsAnswer, requestHash } from '../../src/domain/idempotency/idempotency-request.ts'

t.test('which answers are kept for replay and which release the key', async (t) => {
  const cases: Array<[number, ErrorCode[], boolean, string]> = [
    [200, [], true, 'a success'],
    [200, ['NETWORK_ERROR'], true, 'a partial success: the mutation ran'],
    [400, ['BAD_USER_INPUT'], true, 'invalid input gets the same answer again'],
    [403, ['FORBIDDEN'], true, 'a missing scope'],
    [404, ['NOT_FOUND'], true, 'a missing object'],
    [429, ['RATE_LIMITED'], false, 'rate limited: retry later'],
    [500, ['INTERNAL_SERVER_ERROR'], false, 'our failure'],
    [502, ['API_ERROR'], false, 'a provider failure'],
    [504, ['NETWORK_ERROR'], false, 'a provider that cannot be reached'],
    [401, ['TOKEN_EXPIRED'], false, 'a 4xx whose code says retry'],
    [400, ['BAD_USER_INPUT', 'CONNECTION_FAILED'], false, 'any retryable error without data']
  ]
  for (const [status, codes, kept, label] of cases) t.equal(keepsAnswer(status, codes), kept, `${status} ${codes.join(',')}: ${label}`)
})

t.test('the request hash: the same operation in any JSON key order, anything else differs', async (t) => {
  const q = 'mutation($a: Int, $b: Int) { x(a: $a, b: $b) }'
  const base = requestHash({ query: q, variables: { a: 1, b: { c: 2, d: [1, { e: 3, f: 4 }] } } })
  t.equal(requestHash({ query: q, variables: { b: { d: [1, { f: 4, e: 3 }], c: 2 }, a: 1 } }), base, 'key order does not matter')
  t.match(base, /^[0-9a-f]{64}$/)
  t.not(requestHash({ query: q, variables: { a: 2, b: { c: 2, d: [1, { e: 3, f: 4 }] } } }), base, 'another value')
  t.not(requestHash({ query: q, variables: { a: 1, b: { c: 2, d: [{ e: 3, f: 4 }, 1] } } }), base, 'array order matters')
  t.not(requestHash({ query: q + ' ', variables: { a: 1, b: { c: 2, d: [1, { e: 3, f: 4 }] } } }), base, 'another text')
  t.not(requestHash({ query: q, operationName: 'M', variables: { a: 1, b: { c: 2, d: [1, { e: 3, f: 4 }] } } }), base, 'another operation name')
  t.equal(requestHash({ query: q }), requestHash({ query: q, variables: null }), 'absent and null variables are the same')
  t.equal(requestHash({ query: q }), requestHash({ query: q, variables: {} }), 'and empty ones')
})

t.test('keys: 1 to 255 printable ASCII characters', async (t) => {
  t.ok(checkKey('8e03978e-40d5-43e8-bc93-6894a57f9324').ok)
  t.ok(checkKey('"quoted, with spaces"').ok)
  t.ok(checkKey('k'.repeat(255)).ok)
  for (const bad of ['', 'k'.repeat(256), 'tab\there', 'caf\u00e9', ['a', 'b']]) {
    const r = checkKey(bad)
    t.notOk(r.ok, JSON.stringify(bad))
    if (!r.ok) t.equal(r.error.code, 'BAD_USER_INPUT')
  }
})
