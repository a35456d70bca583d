/**
 * The token vault: AES-256-GCM with a random 12-byte IV per encryption and a versioned keyring
 * (newest key first). Every ciphertext is bound by its associated data (AAD) to the team, the
 * row and the column it was written for, so a ciphertext copied into another row, another
 * team's row or another column fails authentication instead of decrypting.
 *
 * Envelope (one text column): `sb1.<keyVersion>.<iv>.<tag>.<ciphertext>` (base64url parts).
 * Keys live outside the database (config); rotate-keys re-encrypts under the newest one.
 * With random 96-bit IVs NIST SP 800-38D caps a key at 2^32 encryptions: rotate well before.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export interface VaultKey { version: number, key: Buffer }

/** What a ciphertext is bound to. `column` names table and column, e.g. `integration_credentials.access_token`. */
export interface SealContext { teamId: string, rowId: string, column: string }

export class VaultError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'VaultError'
  }
}

const FORMAT = 'sb1'
const IV_BYTES = 12
const TAG_BYTES = 16

const aad = (c: SealContext): Buffer => Buffer.from(`switchboard/${FORMAT}|${c.column}|${c.teamId}|${c.rowId}`, 'utf8')

export class Vault {
  readonly #keys: ReadonlyMap<number, Buffer>
  readonly #current: VaultKey

  /** `keys` newest first: the first encrypts, all decrypt. */
  constructor (keys: readonly VaultKey[]) {
    if (keys.length === 0) throw new VaultError('The vault needs at least one key')
    for (const k of keys) if (k.key.length !== 32) throw new VaultError(`Key version ${k.version} is not 32 bytes`)
    this.#current = keys[0]!
    this.#keys = new Map(keys.map((k) => [k.version, k.key]))
  }

  get currentVersion (): number { return this.#current.version }

  seal (plaintext: string, ctx: SealContext): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(aad(ctx))
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    const tag = cipher.getAuthTag()
    return [FORMAT, String(this.#current.version), iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join('.')
  }

  /** Throws VaultError on a tampered, moved or unreadable ciphertext (never returns garbage). */
  open (envelope: string, ctx: SealContext): string {
    const parts = envelope.split('.')
    if (parts.length !== 5 || parts[0] !== FORMAT) throw new VaultError('Not a vault ciphertext')
    const key = this.#keys.get(Number(parts[1]))
    if (key === undefined) throw new VaultError(`No key with version ${parts[1]} in the keyring`)
    const iv = Buffer.from(parts[2]!, 'base64url')
    const tag = Buffer.from(parts[3]!, 'base64url')
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new VaultError('Malformed vault ciphertext')
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
      decipher.setAAD(aad(ctx))
      decipher.setAuthTag(tag)
      return Buffer.concat([decipher.update(Buffer.from(parts[4]!, 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      throw new VaultError('Ciphertext does not authenticate for this row and column')
    }
  }

  sealOptional (plaintext: string | null | undefined, ctx: SealContext): string | null {
    return plaintext == null ? null : this.seal(plaintext, ctx)
  }

  openOptional (envelope: string | null | undefined, ctx: SealContext): string | null {
    return envelope == null ? null : this.open(envelope, ctx)
  }

  /** Key version an envelope was written with (undefined if it is not one). */
  static versionOf (envelope: string): number | undefined {
    const parts = envelope.split('.')
    return parts.length === 5 && parts[0] === FORMAT ? Number(parts[1]) : undefined
  }

  /** Re-encrypt under the newest key when written with an older one; null when already current. */
  reseal (envelope: string, ctx: SealContext): string | null {
    if (Vault.versionOf(envelope) === this.#current.version) return null
    return this.seal(this.open(envelope, ctx), ctx)
  }
}
