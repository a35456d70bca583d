/**
 * Request-log ids are UUIDv7 made from the row's `created_at`, so id order is time order and a
 * time bound is an id bound: `created_at >= t` ⇔ `id >= idFloor(t)`. Queries and retention use
 * these bounds to stay on the btree indexes.
 */
import { randomFillSync } from 'node:crypto'

// One log id per request is on the hot path: random bits come from a pooled buffer refilled
// 4 KiB at a time rather than a crypto call per id (uuid's v7 made one each time), read in place
// (no Buffer view per id), and the time part is formatted once per millisecond.
const POOL = Buffer.alloc(4096)
let offset = POOL.length
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const NIBBLE = Array.from({ length: 16 }, (_, i) => i.toString(16))
let prefixMs = -1
let prefix = ''

/** RFC 9562 UUIDv7: 48-bit Unix ms, version 7, 12 random bits, variant 10, 62 random bits. */
export function logIdAt (at: Date): string {
  return uuidV7(Math.max(0, Math.floor(at.getTime())))
}

/**
 * A UUIDv7 of `ms` (now by default). Request ids are these too: unique across instances (74
 * random bits a millisecond), time-ordered for whoever reads logs, and cheaper than randomUUID.
 */
export function uuidV7 (ms: number = Date.now()): string {
  if (ms !== prefixMs) {
    const time = ms.toString(16).padStart(12, '0').slice(-12)
    prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-7`
    prefixMs = ms
  }
  if (offset + 10 > POOL.length) {
    randomFillSync(POOL)
    offset = 0
  }
  const o = offset
  offset += 10
  const p = POOL
  return prefix + NIBBLE[p[o]! & 0x0f]! + HEX[p[o + 1]!]! + '-' + HEX[(p[o + 2]! & 0x3f) | 0x80]! + HEX[p[o + 3]!]! + '-' +
    HEX[p[o + 4]!]! + HEX[p[o + 5]!]! + HEX[p[o + 6]!]! + HEX[p[o + 7]!]! + HEX[p[o + 8]!]! + HEX[p[o + 9]!]!
}

/** The smallest UUIDv7 of millisecond `at`: every id made at or after `at` sorts at or above it. */
export function idFloor (at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0').slice(-12)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`
}
