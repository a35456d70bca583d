/** Instagram (Meta; not in providers.md, URLs unconfirmed). */
import { RFC6749_DEFAULTS } from '../types.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const instagram = comingSoon({
  id: 'instagram', name: 'Instagram', description: 'Publish media to an Instagram professional account.', category: 'marketing', logoUrl: logo('instagram'), authMode: 'oauth2',
  urls: { authorize: 'https://www.instagram.com/oauth/authorize', token: 'https://api.instagram.com/oauth/access_token', api: 'https://graph.instagram.com' },
  oauth: { ...RFC6749_DEFAULTS, scopeSeparator: ',', pkce: 'none', revocation: 'none' }
})
