/** Shared set-up of the row-level-security tests: two teams, `a` and `b`, each with one integration (`a-int`, `b-int`). */
import type { Db } from '../../src/db/client.ts'
import { integrations, teams } from '../../src/db/schema.ts'
import { newId } from '../../src/domain/ids.ts'

export async function twoTeams (db: Db): Promise<{ a: string, b: string }> {
  const a = newId(); const b = newId()
  await db.insert(teams).values([{ id: a, name: 'a' }, { id: b, name: 'b' }])
  await db.insert(integrations).values([
    { id: newId(), teamId: a, provider: 'rest_api', name: 'a-int', status: 'connected', authMode: 'api_key' },
    { id: newId(), teamId: b, provider: 'rest_api', name: 'b-int', status: 'connected', authMode: 'api_key' }
  ])
  return { a, b }
}
