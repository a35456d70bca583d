/** Microsoft identity platform + Graph (providers.md §10): `{tenant}` in URLs, `offline_access` for refresh, refresh rotates, no revoke endpoint. */
import { RFC6749_DEFAULTS } from '../types.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const microsoft = comingSoon({
  id: 'microsoft', name: 'Microsoft', description: 'OneDrive, Outlook and Teams through Microsoft Graph.', category: 'productivity', logoUrl: logo('microsoft'), authMode: 'oauth2',
  urls: { authorize: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize', token: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token', api: 'https://graph.microsoft.com/v1.0' },
  oauth: { ...RFC6749_DEFAULTS, defaultScopes: ['offline_access', 'User.Read'], extraAuthorizeParams: { response_mode: 'query' }, revocation: 'none' }
})
