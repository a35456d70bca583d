/**
 * Shared shape of providers whose connector is not written yet: catalog entry only. Their OAuth
 * settings (from shared/providers.md) are kept so enabling one is a status change plus a
 * connector, not a research task.
 */
import type { ProviderDefinition } from '../types.ts'

export const comingSoon = (def: Omit<ProviderDefinition, 'status' | 'operations'> & { operations?: ProviderDefinition['operations'] }): ProviderDefinition =>
  ({ operations: [], ...def, status: 'coming_soon' })

export const logo = (id: string): string => `https://cdn.switchboard.dev/logos/${id}.svg`
