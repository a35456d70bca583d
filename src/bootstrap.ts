/** First start on an empty embedded database: a `default` team and one admin key, shown once. */
import type { FastifyInstance } from 'fastify'

export async function bootstrapEmbedded (app: FastifyInstance, port: number, print: (text: string) => void): Promise<void> {
  const { teams, apiKeys } = app.services
  if (!(await teams.isEmpty())) return
  const team = await teams.create('default')
  if (!team.ok) throw team.error
  const { secret } = await apiKeys.createForTeam(team.value.id, { name: 'bootstrap admin', scopes: ['admin:full'] }, { type: 'system', id: 'bootstrap' })
  print([
    '',
    'Created team "default" (' + team.value.id + ') with an admin API key.',
    'It is shown this once; store it now:',
    '',
    '  ' + secret,
    '',
    'Try: curl -s localhost:' + String(port) + '/graphql -H "authorization: Bearer <key>" -H "content-type: application/json" -d \'{"query":"{ viewer { team { name } scopes } }"}\'',
    ''
  ].join('\n'))
}
