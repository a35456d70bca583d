/**
 * Per-integration facts every service needs: which OAuth client to use (the team's own app
 * stored on the integration, else the deployment's from config), which URLs (catalog templates
 * + overrides, or the custom provider's own), and the vault contexts of its secret columns.
 */
import type { ProviderCatalog } from '../../connectors/registry.ts'
import type { ProviderDefinition } from '../../connectors/types.ts'
import type { IntegrationRow } from '../../db/schema.ts'
import { sealCtx } from '../vault/encrypted-columns.ts'
import type { Vault } from '../vault/vault.ts'

export const COL = {
  clientSecret: 'integrations.client_secret',
  credentials: 'integrations.credentials',
  accessToken: 'integration_credentials.access_token',
  refreshToken: 'integration_credentials.refresh_token',
  codeVerifier: 'oauth_states.code_verifier',
  authorizeUrl: 'oauth_states.authorize_url',
  revokeToken: 'token_revocations.token',
  revokeClientSecret: 'token_revocations.client_secret'
} as const

export type IntegrationRef = Pick<IntegrationRow, 'id' | 'teamId' | 'config' | 'clientSecret'>

export function clientFor (catalog: ProviderCatalog, vault: Vault, def: ProviderDefinition, row: IntegrationRef | undefined): { clientId: string, clientSecret: string | null } | undefined {
  const ownId = row?.config.clientId
  if (row !== undefined && typeof ownId === 'string' && ownId !== '') {
    return { clientId: ownId, clientSecret: vault.openOptional(row.clientSecret, sealCtx(COL.clientSecret, row.teamId, row.id)) }
  }
  return catalog.deploymentApp(def)
}

export function urlVars (config: Record<string, unknown>, shop?: string | null): Record<string, string> {
  const vars: Record<string, string> = {}
  const s = shop ?? config.shop
  if (typeof s === 'string') vars.shop = s
  if (typeof config.tenant === 'string') vars.tenant = config.tenant
  return vars
}
