/** HubSpot CRM (providers.md §8): 30-min tokens, non-rotating refresh, revoke = DELETE /oauth/v1/refresh_tokens/{token}. */
import { RFC6749_DEFAULTS } from '../types.ts'
import { RevokeFailed } from '../oauth-defaults.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const hubspot = comingSoon({
  id: 'hubspot', name: 'HubSpot', description: 'Contacts and companies in HubSpot CRM.', category: 'crm', logoUrl: logo('hubspot'), authMode: 'oauth2',
  urls: { authorize: 'https://app.hubspot.com/oauth/authorize', token: 'https://api.hubapi.com/oauth/v1/token', revoke: 'https://api.hubapi.com/oauth/v1/refresh_tokens/{token}', api: 'https://api.hubapi.com' },
  oauth: { ...RFC6749_DEFAULTS, defaultScopes: ['crm.objects.contacts.read', 'oauth'], rotatesRefreshToken: false, revocation: 'custom' },
  async revoke (ctx, token) {
    const res = await ctx.http.request(ctx.urls.revoke!.replace('{token}', encodeURIComponent(token)), { method: 'DELETE' })
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
  }
})
