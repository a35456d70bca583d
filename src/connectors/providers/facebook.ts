/** Facebook Pages (Meta; not in providers.md, URLs unconfirmed). */
import { RFC6749_DEFAULTS } from '../types.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const facebook = comingSoon({
  id: 'facebook', name: 'Facebook', description: 'Post to Facebook Pages.', category: 'marketing', logoUrl: logo('facebook'), authMode: 'oauth2',
  urls: { authorize: 'https://www.facebook.com/v19.0/dialog/oauth', token: 'https://graph.facebook.com/v19.0/oauth/access_token', api: 'https://graph.facebook.com/v19.0' },
  oauth: { ...RFC6749_DEFAULTS, scopeSeparator: ',', pkce: 'none', revocation: 'none' }
})
