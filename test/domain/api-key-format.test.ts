import t from 'tap'
import { displayPrefix, generateApiKey, hashApiKey, isWellFormedApiKey } from '../../src/domain/api-keys/api-key-format.ts'

t.test('format: sb_live_ + 43 base62 + 6 checksum characters', async (t) => {
  const keys = new Set<string>()
  for (let i = 0; i < 500; i++) {
    const k = generateApiKey()
    t.match(k, /^sb_live_[0-9A-Za-z]{49}$/)
    t.ok(isWellFormedApiKey(k))
    keys.add(k)
  }
  t.equal(keys.size, 500, 'no repeats')
})

t.test('every single-character change is caught by the checksum', async (t) => {
  const k = generateApiKey()
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
  let caught = 0
  let tried = 0
  for (let i = 8; i < k.length; i++) {
    for (const c of alphabet) {
      if (c === k[i]) continue
      tried++
      if (!isWellFormedApiKey(k.slice(0, i) + c + k.slice(i + 1))) caught++
    }
  }
  t.equal(caught, tried, `${tried} single-character typos all refused`)
  // Swap two neighbours that differ (equal ones, 1 key in 62 at a fixed place, swap into the same key).
  let i = 20
  while (k[i] === k[i + 1]) i++
  t.notOk(isWellFormedApiKey(k.slice(0, i) + k[i + 1] + k[i] + k.slice(i + 2)), `a transposition (at ${i}) is refused`)
  t.notOk(isWellFormedApiKey(k + 'x'), 'too long')
  t.notOk(isWellFormedApiKey(k.replace('sb_live_', 'sb_test_')), 'other prefix')
})

t.test('hash and display prefix', async (t) => {
  const k = generateApiKey()
  t.match(hashApiKey(k), /^[0-9a-f]{64}$/)
  t.not(hashApiKey(k), hashApiKey(generateApiKey()))
  t.equal(displayPrefix(k), k.slice(0, 12))
})
