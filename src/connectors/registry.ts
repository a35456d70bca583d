/**
 * The only list of providers. Add a provider by writing src/connectors/providers/<id>.ts and
 * adding it here. The catalog also resolves, per integration, the URLs (templates + config
 * overrides) and the OAuth client (deployment app from config, or the team's own app).
 */
import type { IntegrationsConfig } from '../config.ts'
import { badInput } from '../errors.ts'
import type { ProviderDefinition } from './types.ts'
import { canva } from './providers/canva.ts'
import { customOAuth2 } from './providers/custom-oauth2.ts'
import { dropbox } from './providers/dropbox.ts'
import { etsy } from './providers/etsy.ts'
import { facebook } from './providers/facebook.ts'
import { figma } from './providers/figma.ts'
import { googleDrive } from './providers/google-drive.ts'
import { graphqlApi } from './providers/graphql-api.ts'
import { hubspot } from './providers/hubspot.ts'
import { instagram } from './providers/instagram.ts'
import { microsoft } from './providers/microsoft.ts'
import { notion } from './providers/notion.ts'
import { restApi } from './providers/rest-api.ts'
import { salesforce } from './providers/salesforce.ts'
import { shopify, SHOP_DOMAIN } from './providers/shopify.ts'
import { slack } from './providers/slack.ts'
import { webhook } from './providers/webhook.ts'
import { woocommerce } from './providers/woocommerce.ts'
import { zapier } from './providers/zapier.ts'

export const PROVIDERS: readonly ProviderDefinition[] = [
  shopify, etsy, woocommerce, figma, canva, instagram, facebook, googleDrive, dropbox, notion, slack,
  hubspot, salesforce, microsoft, zapier, customOAuth2, restApi, graphqlApi, webhook
]

/** Integration `config` keys that hold a custom provider's URLs. */
const INTEGRATION_URL_KEYS: Record<string, string> = { authorizeUrl: 'authorize', tokenUrl: 'token', revokeUrl: 'revoke', userinfoUrl: 'userinfo', baseUrl: 'api', issuer: 'issuer' }

/**
 * What a team-supplied template variable may be. `{shop}` becomes a host: only a
 * *.myshopify.com name, so a URL carrying the deployment's client secret can never be built
 * for another host (issue 15 §2). `{tenant}` is a path segment: a GUID or a domain-like name.
 */
export const URL_VARIABLES: Record<string, { pattern: RegExp, message: string }> = {
  shop: { pattern: SHOP_DOMAIN, message: 'shop must be a *.myshopify.com domain' },
  tenant: { pattern: /^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/, message: 'tenant must be a directory id or domain' }
}

/** The origin of a URL template when its scheme and host are fixed (no `{variable}` in them), else null. */
function fixedOrigin (template: string): string | null {
  const m = /^(https?):\/\/([^/?#]*)/i.exec(template)
  if (m === null || m[2]!.includes('{')) return null
  try { return new URL(`${m[1]}://${m[2]}`).origin } catch { return null }
}

export class ProviderCatalog {
  readonly #byId: ReadonlyMap<string, ProviderDefinition>
  readonly #cfg: Pick<IntegrationsConfig, 'providerUrlOverrides' | 'providerApps' | 'tokenLifetimes'>

  constructor (cfg: Pick<IntegrationsConfig, 'providerUrlOverrides' | 'providerApps' | 'tokenLifetimes'>, providers: readonly ProviderDefinition[] = PROVIDERS) {
    this.#cfg = cfg
    this.#byId = new Map(providers.map((p) => [p.id, p]))
  }

  list (): ProviderDefinition[] { return [...this.#byId.values()] }
  get (id: string): ProviderDefinition | undefined { return this.#byId.get(id) }

  /**
   * URLs for one integration: the provider's templates (or, for custom providers, the
   * integration's config), `{shop}`/`{tenant}` filled in, then config overrides applied:
   * a string override replaces scheme+host of every URL (keeping the path; `{shop}` allowed in
   * it), an object override replaces named URLs.
   *
   * Refuses to build (throws BAD_USER_INPUT naming `config.<variable>`) when a template needs a
   * variable that is missing or does not match URL_VARIABLES: a stored value that bypassed
   * write-time validation still never becomes a host.
   */
  urls (p: ProviderDefinition, vars: Record<string, string>, integrationConfig: Record<string, unknown> = {}): Record<string, string> {
    const fill = (tpl: string): string => tpl.replace(/\{(\w+)\}/g, (m, k: string) => {
      if (k === 'token') return m // filled at call time (HubSpot revoke)
      const v = vars[k] ?? (k === 'tenant' ? 'common' : undefined)
      const rule = URL_VARIABLES[k]
      if (v === undefined || rule === undefined || !rule.pattern.test(v)) throw badInput(rule?.message ?? `${k} is required for ${p.name}`, { field: `config.${k}` })
      return v
    })
    const out: Record<string, string> = {}
    if (p.urlsFromIntegration === true) {
      for (const [key, name] of Object.entries(INTEGRATION_URL_KEYS)) {
        const v = integrationConfig[key]
        if (typeof v === 'string' && v !== '') out[name] = v
      }
      return out
    }
    const override = this.#cfg.providerUrlOverrides[p.id]
    for (const [name, tpl] of Object.entries(p.urls)) {
      const url = fill(tpl)
      if (typeof override === 'string') {
        const u = new URL(url.replace('{token}', '__token__'))
        out[name] = fill(override).replace(/\/+$/, '') + (u.pathname === '/' ? '' : u.pathname.replace('__token__', '{token}')) + u.search
      } else {
        out[name] = override?.[name] !== undefined ? fill(override[name]!) : url
      }
    }
    return out
  }

  /**
   * Origins that come from deployment config alone: catalog templates and PROVIDER_URL_OVERRIDES
   * whose scheme and host have no team-supplied part. The outbound guard sends to these without
   * address checks (test fakes and internal proxies configured by the operator live on private
   * addresses); every other origin is checked where the socket is opened. Shopify's `{shop}`
   * host is not among them unless an override replaced it.
   */
  trustedOrigins (): Set<string> {
    const out = new Set<string>()
    for (const p of this.#byId.values()) {
      if (p.urlsFromIntegration === true) continue
      const override = this.#cfg.providerUrlOverrides[p.id]
      const templates = typeof override === 'string' ? [override] : [...Object.values({ ...p.urls, ...override })]
      for (const tpl of templates) {
        const origin = fixedOrigin(tpl)
        if (origin !== null) out.add(origin)
      }
    }
    return out
  }

  /** The deployment's OAuth app for a provider (`<PROVIDER>_CLIENT_ID` / `_CLIENT_SECRET`). */
  deploymentApp (p: ProviderDefinition): { clientId: string, clientSecret: string | null } | undefined {
    const app = this.#cfg.providerApps[p.id]
    return app === undefined ? undefined : { clientId: app.clientId, clientSecret: app.clientSecret ?? null }
  }

  /** Lifetime assumed for token responses without `expires_in`. */
  defaultLifetime (p: ProviderDefinition): number | null {
    return this.#cfg.tokenLifetimes[p.id] ?? p.oauth?.defaultTokenLifetimeSeconds ?? null
  }
}
