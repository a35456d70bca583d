/**
 * `switchboard rotate-keys`: re-encrypt every stored secret under the newest ENCRYPTION_KEYS
 * entry. Wired into src/cli.ts by the CLI; safe to re-run (current rows are skipped).
 */
import type { Config } from '../config.ts'
import { openDatabase, type Database } from '../db/client.ts'
import { reencryptAll, type RotationReport } from '../domain/vault/rotate.ts'
import { Vault } from '../domain/vault/vault.ts'
import { checkKeyring } from '../domain/vault/keyring-check.ts'
import type { Logger } from '../domain/logger.ts'

export async function rotateKeys (config: Config, opts: { database?: Database, log?: Logger, print?: (text: string) => void } = {}): Promise<RotationReport> {
  const database = opts.database ?? await openDatabase(config.database)
  try {
    if (opts.database === undefined && config.database.migrateOnStart) await database.migrate()
    await checkKeyring(database.db, config.encryption.keys)
    const report = await reencryptAll({ db: database.db, vault: new Vault(config.encryption.keys), ...(opts.log !== undefined && { log: opts.log }) })
    const print = opts.print ?? ((text: string) => process.stdout.write(text))
    const lines = Object.entries(report.columns).map(([col, c]) => `  ${col}: ${c.reencrypted} re-encrypted, ${c.current} already current, ${c.failed} failed`)
    print(`Re-encrypted under key version ${report.keyVersion}:\n${lines.join('\n')}\n`)
    return report
  } finally {
    if (opts.database === undefined) await database.close()
  }
}
