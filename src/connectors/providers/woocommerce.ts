/** WooCommerce REST (providers.md §11): consumer key + secret over HTTP Basic, per-store host; no OAuth 2.0. */
import { comingSoon, logo } from './coming-soon.ts'

export const woocommerce = comingSoon({
  id: 'woocommerce', name: 'WooCommerce', description: 'Products of a WooCommerce store.', category: 'ecommerce', logoUrl: logo('woocommerce'), authMode: 'basic',
  urls: { api: 'https://{store}/wp-json/wc/v3' }
})
