/**
 * Seed 003's generic integration types: configured entirely by the integration (base URL and
 * credentials), so they need no provider-specific connector and are available now.
 * `testIntegration` sends one GET to `config.baseUrl` (+ `config.testPath`) with the credential.
 */
import type { ProviderDefinition } from '../types.ts'
import { logo } from './coming-soon.ts'

export const generic = (id: string, name: string, description: string, authMode: ProviderDefinition['authMode']): ProviderDefinition =>
  ({ id, name, description, category: 'automation', logoUrl: logo(id), status: 'active', authMode, urls: {}, urlsFromIntegration: true, operations: [{ name: 'request', description: 'Send a request with the stored credential' }] })

