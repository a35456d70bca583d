/**
 * A PostgreSQL 15 cluster of a test's own, in a temporary directory on a free port, that the test
 * may stop and start at will (the shared server on 5432 is never touched). PostgreSQL refuses to
 * run as root: when the tests run as root, initdb and pg_ctl run as the `postgres` user.
 */
import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { userInfo } from 'node:os'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../helper.ts'

const run = promisify(execFile)
export const PG_BIN = '/usr/lib/postgresql/15/bin'

export interface ThrowAwayPostgres {
  url: string
  /** `pg_ctl stop`: `fast` terminates sessions (57P01), `immediate` drops them without a word. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  start(): Promise<void>
  remove(): Promise<void>
}

/** Why a throw-away cluster cannot be made here, or undefined when it can. */
export function throwAwayUnavailable (): string | undefined {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl'))) return `no PostgreSQL 15 binaries in ${PG_BIN}`
  return undefined
}

export async function throwAwayPostgres (): Promise<ThrowAwayPostgres> {
  const asRoot = userInfo().uid === 0
  const dir = mkdtempSync(join(tmpdir(), 'sb-pg-'))
  const data = join(dir, 'data')
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  const pg = (bin: string, args: string[]): Promise<unknown> => asRoot
    ? run('runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args], { cwd: dir })
    : run(join(PG_BIN, bin), args, { cwd: dir })
  const port = await freePort()
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--no-instructions'])
  // Sockets in the temp dir (not /var/run/postgresql), TCP on loopback only, no fsync: a test cluster.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off`
  const start = async (): Promise<void> => { await pg('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '20', 'start']) }
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    async stop (mode = 'fast') { await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '20', 'stop']) },
    async remove () {
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
