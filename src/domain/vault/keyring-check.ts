/**
 * Refuses to run with an encryption key that is not the one the database was written with.
 * Each configured key version is recorded on first use (vault_keys); afterwards a configured key
 * whose check value differs from the record is refused, so the process stops before listening
 * instead of failing on every sealed column later or sealing new rows under a stray key.
 * A recorded version that is no longer configured is fine (rotate-keys moved its rows).
 */
import { createHmac } from 'node:crypto'
import type { Db } from '../../db/client.ts'
import { errorCodes } from '../../db/errors.ts'
import { vaultKeys } from '../../db/schema.ts'
import { VaultError, type VaultKey } from './vault.ts'

const LABEL = 'switchboard/vault-key-check/v1'
const UNDEFINED_TABLE = '42P01'

export const keyCheck = (key: Buffer): string => createHmac('sha256', key).update(LABEL).digest('base64url')

export class KeyringMismatchError extends VaultError {
  readonly versions: number[]
  constructor (versions: number[]) {
    super(`ENCRYPTION_KEYS: key version ${versions.join(', ')} is not the key this database was encrypted with. ` +
      'Restore the original key (or, in development, the encryption-key file in DATA_DIR); to change keys, add a new version and run rotate-keys.')
    this.name = 'KeyringMismatchError'
    this.versions = versions
  }
}

/**
 * Records unknown versions and throws KeyringMismatchError naming every configured key that
 * differs from its record. Returns 'unmigrated' (and checks nothing) on a database whose
 * migrations have not been applied yet: the server may start before `switchboard migrate`
 * (readiness stays 503 until then), and the next start checks.
 */
export async function checkKeyring (db: Db, keys: readonly VaultKey[]): Promise<'checked' | 'unmigrated'> {
  const wanted = keys.map((k) => ({ version: k.version, check: keyCheck(k.key) }))
  try {
    // Concurrent first starts may race to record a version: the first wins, the others compare against it.
    await db.insert(vaultKeys).values(wanted).onConflictDoNothing({ target: vaultKeys.version })
  } catch (err) {
    if (errorCodes(err).includes(UNDEFINED_TABLE)) return 'unmigrated'
    throw err
  }
  const recorded = new Map((await db.select({ version: vaultKeys.version, check: vaultKeys.check }).from(vaultKeys)).map((r) => [r.version, r.check]))
  const mismatched = wanted.filter((w) => recorded.get(w.version) !== w.check).map((w) => w.version)
  if (mismatched.length > 0) throw new KeyringMismatchError(mismatched)
  return 'checked'
}
