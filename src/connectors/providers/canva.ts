/** Canva Connect (not in providers.md; URLs unconfirmed): OAuth 2.0 with PKCE S256. */
import { RFC6749_DEFAULTS } from '../types.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const canva = comingSoon({
  id: 'canva', name: 'Canva', description: 'Designs and exports from Canva.', category: 'design-tools', logoUrl: logo('canva'), authMode: 'oauth2',
  urls: { authorize: 'https://www.canva.com/api/oauth/authorize', token: 'https://api.canva.com/rest/v1/oauth/token', revoke: 'https://api.canva.com/rest/v1/oauth/revoke', api: 'https://api.canva.com/rest/v1' },
  oauth: { ...RFC6749_DEFAULTS, pkce: 'required', clientAuth: 'basic' }
})
