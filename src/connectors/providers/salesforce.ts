/** Salesforce (providers.md §9): no expires_in (session timeout, default 2 h → configured lifetime), RFC 7009-style revoke, instance_url per org. */
import { RFC6749_DEFAULTS } from '../types.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const salesforce = comingSoon({
  id: 'salesforce', name: 'Salesforce', description: 'Query Salesforce records.', category: 'crm', logoUrl: logo('salesforce'), authMode: 'oauth2',
  urls: { authorize: 'https://login.salesforce.com/services/oauth2/authorize', token: 'https://login.salesforce.com/services/oauth2/token', revoke: 'https://login.salesforce.com/services/oauth2/revoke' },
  oauth: { ...RFC6749_DEFAULTS, defaultScopes: ['api', 'refresh_token'], defaultTokenLifetimeSeconds: 7200, rotatesRefreshToken: false }
})
