/** Etsy Open API v3 (providers.md §2): PKCE required, public-client exchange (no secret), rotating refresh tokens, no revoke endpoint. */
import { RFC6749_DEFAULTS } from '../types.ts'
import { comingSoon, logo } from './coming-soon.ts'

export const etsy = comingSoon({
  id: 'etsy', name: 'Etsy', description: 'Listings and listing images of an Etsy shop.', category: 'ecommerce', logoUrl: logo('etsy'), authMode: 'oauth2',
  urls: { authorize: 'https://www.etsy.com/oauth/connect', token: 'https://api.etsy.com/v3/public/oauth/token', api: 'https://openapi.etsy.com/v3/application' },
  oauth: { ...RFC6749_DEFAULTS, defaultScopes: ['listings_r', 'listings_w', 'shops_r'], pkce: 'required', clientAuth: 'none', revocation: 'none' }
})
