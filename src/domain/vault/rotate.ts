/**
 * Re-encrypt every vault column under the newest key. Each row is locked, re-read, re-sealed
 * and written in its own short transaction, so it can run while the server serves traffic and
 * can be interrupted and resumed (rows already on the newest key are skipped). Old keys keep
 * decrypting until this has finished; drop them from ENCRYPTION_KEYS afterwards.
 */
import { eq, getTableColumns } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import type { Logger } from '../logger.ts'
import { ENCRYPTED_COLUMNS, notNullIn, sealCtx } from './encrypted-columns.ts'
import { Vault, VaultError } from './vault.ts'

export interface RotationReport {
  keyVersion: number
  /** Per column label: rows re-encrypted, rows already current, rows that failed to decrypt. */
  columns: Record<string, { reencrypted: number, current: number, failed: number }>
}

export async function reencryptAll (deps: { db: Db, vault: Vault, log?: Logger }): Promise<RotationReport> {
  const { db, vault, log } = deps
  const report: RotationReport = { keyVersion: vault.currentVersion, columns: {} }
  for (const c of ENCRYPTED_COLUMNS) {
    const counts = { reencrypted: 0, current: 0, failed: 0 }
    report.columns[c.label] = counts
    const rows = await db.select({ id: c.id, teamId: c.teamId, value: c.column }).from(c.table).where(notNullIn(c)) as Array<{ id: string, teamId: string, value: string }>
    for (const row of rows) {
      if (Vault.versionOf(row.value) === vault.currentVersion) { counts.current++; continue }
      try {
        await db.transaction(async (tx) => {
          const [fresh] = await tx.select({ value: c.column }).from(c.table).where(eq(c.id, row.id)).for('update') as Array<{ value: string | null }>
          if (fresh?.value == null) return
          const resealed = vault.reseal(fresh.value, sealCtx(c.label, row.teamId, row.id))
          if (resealed === null) { counts.current++; return }
          await tx.update(c.table).set({ [columnKey(c)]: resealed }).where(eq(c.id, row.id))
          counts.reencrypted++
        })
      } catch (err) {
        if (!(err instanceof VaultError)) throw err
        counts.failed++
        log?.error({ column: c.label, rowId: row.id, reason: err.message }, 'rotate-keys: row does not decrypt with any configured key')
      }
    }
  }
  return report
}

/** The Drizzle property name of a column in its table (update().set() takes property names). */
function columnKey (c: (typeof ENCRYPTED_COLUMNS)[number]): string {
  const entry = Object.entries(getTableColumns(c.table)).find(([, v]) => v === c.column)
  if (entry === undefined) throw new Error(`column ${c.label} not found in its table`)
  return entry[0]
}
