/** Zapier (providers.md §12): Catch Hook URL is the only credential; REST hooks call our own API. */
import { comingSoon, logo } from './coming-soon.ts'

export const zapier = comingSoon({
  id: 'zapier', name: 'Zapier', description: 'Trigger Zaps from Switchboard events.', category: 'automation', logoUrl: logo('zapier'), authMode: 'webhook', urls: {}
})
