/**
 * `sb_live_` + 32 CSPRNG bytes in base62 (43 chars, 256 bits) + CRC32 checksum in base62
 * (6 chars). The checksum lets us refuse a mistyped or forged-looking key with no database
 * lookup, and lets secret scanners recognise our keys. Only the SHA-256 hash is stored.
 */
import { createHash, randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'

export const KEY_PREFIX = 'sb_live_'
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const BODY_LENGTH = 43 // ceil(256 / log2(62))
const CHECKSUM_LENGTH = 6 // 62^6 > 2^32
const KEY_PATTERN = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${BODY_LENGTH + CHECKSUM_LENGTH}}$`)
/** Characters kept for display: `sb_live_` + 4 characters of the random body. */
export const DISPLAY_PREFIX_LENGTH = 12

function base62 (value: bigint, width: number): string {
  let out = ''
  while (value > 0n) {
    out = ALPHABET[Number(value % 62n)] + out
    value /= 62n
  }
  return out.padStart(width, '0')
}

function checksum (body: string): string {
  return base62(BigInt(crc32(KEY_PREFIX + body)), CHECKSUM_LENGTH)
}

export function generateApiKey (): string {
  const body = base62(BigInt('0x' + randomBytes(32).toString('hex')), BODY_LENGTH)
  return KEY_PREFIX + body + checksum(body)
}

/** Shape and checksum only: true means "worth a lookup", not "valid". */
export function isWellFormedApiKey (key: string): boolean {
  if (!KEY_PATTERN.test(key)) return false
  const body = key.slice(KEY_PREFIX.length, KEY_PREFIX.length + BODY_LENGTH)
  return checksum(body) === key.slice(KEY_PREFIX.length + BODY_LENGTH)
}

export function looksLikeApiKey (credential: string): boolean {
  return credential.startsWith('sb_')
}

export function hashApiKey (key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

export function displayPrefix (key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH)
}
