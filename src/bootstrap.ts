/**
 * First start on an empty embedded database: a `default` team and one admin key, shown once.
 * In development the key is printed. In production it is never printed (stdout is shipped to a
 * log store there): it is written once to a file only this user can read, and the path is printed.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'

export interface BootstrapOptions {
  port: number
  /** Set in production: where the key is written (created with mode 0600, never overwritten). */
  keyFile?: string
}

export const bootstrapKeyFile = (dataDir: string): string => join(dataDir, 'bootstrap-admin-key')

export async function bootstrapEmbedded (app: FastifyInstance, opts: BootstrapOptions, print: (text: string) => void): Promise<void> {
  if (!(await app.services.teams.isEmpty())) return
  // The file is claimed before anything is created: a key that cannot be stored is not made.
  let fd = opts.keyFile === undefined ? undefined : claimKeyFile(opts.keyFile)
  let created: { teamId: string, secret: string }
  try {
    created = await createDefaultTeam(app)
    if (fd !== undefined) {
      writeSync(fd, created.secret + '\n')
      closeSync(fd)
      fd = undefined
    }
  } catch (err) {
    if (fd !== undefined) { closeSync(fd); rmSync(opts.keyFile!, { force: true }) }
    throw err
  }
  const shown = opts.keyFile === undefined
    ? ['It is shown this once; store it now:', '', '  ' + created.secret]
    : [`It was written to ${opts.keyFile} (readable by this user only) and is not shown.`, 'Store it somewhere safe, then delete that file.']
  print([
    '',
    'Created team "default" (' + created.teamId + ') with an admin API key.',
    ...shown,
    '',
    'Try: curl -s localhost:' + String(opts.port) + '/graphql -H "authorization: Bearer <key>" -H "content-type: application/json" -d \'{"query":"{ viewer { team { name } scopes } }"}\'',
    ''
  ].join('\n'))
}

async function createDefaultTeam (app: FastifyInstance): Promise<{ teamId: string, secret: string }> {
  const team = await app.services.teams.create('default')
  if (!team.ok) throw team.error
  const { secret } = await app.services.apiKeys.createForTeam(team.value.id, { name: 'bootstrap admin', scopes: ['admin:full'] }, { type: 'system', id: 'bootstrap' })
  return { teamId: team.value.id, secret }
}

/** Creates the key file, refusing to replace one: it may hold the only copy of an earlier key. */
function claimKeyFile (file: string): number {
  try {
    return openSync(file, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    throw new BootstrapKeyFileExistsError(file)
  }
}

export class BootstrapKeyFileExistsError extends Error {
  constructor (file: string) {
    super(`${file} already exists from an earlier bootstrap, and the database is empty. ` +
      'Move that file away (store the key it holds if you still need it), then start again.')
    this.name = 'BootstrapKeyFileExistsError'
  }
}
