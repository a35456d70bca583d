/**
 * Every vault-encrypted column in the database, in one list: `rotate-keys` walks it, and the
 * SealContext helpers below are the only way services name a column's associated data, so a
 * writer and a reader can never disagree about it.
 */
import { and, eq, isNotNull } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { integrationCredentials, integrations, oauthStates, tokenRevocations } from '../../db/schema.ts'
import type { SealContext } from './vault.ts'

export interface EncryptedColumn {
  /** `table.column`, the AAD column label. */
  label: string
  table: PgTable
  id: PgColumn
  teamId: PgColumn
  column: PgColumn
}

export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  { label: 'integrations.client_secret', table: integrations, id: integrations.id, teamId: integrations.teamId, column: integrations.clientSecret },
  { label: 'integrations.credentials', table: integrations, id: integrations.id, teamId: integrations.teamId, column: integrations.credentials },
  { label: 'integration_credentials.access_token', table: integrationCredentials, id: integrationCredentials.integrationId, teamId: integrationCredentials.teamId, column: integrationCredentials.accessToken },
  { label: 'integration_credentials.refresh_token', table: integrationCredentials, id: integrationCredentials.integrationId, teamId: integrationCredentials.teamId, column: integrationCredentials.refreshToken },
  { label: 'oauth_states.code_verifier', table: oauthStates, id: oauthStates.id, teamId: oauthStates.teamId, column: oauthStates.codeVerifier },
  { label: 'oauth_states.authorize_url', table: oauthStates, id: oauthStates.id, teamId: oauthStates.teamId, column: oauthStates.authorizeUrl },
  { label: 'token_revocations.token', table: tokenRevocations, id: tokenRevocations.id, teamId: tokenRevocations.teamId, column: tokenRevocations.token },
  { label: 'token_revocations.client_secret', table: tokenRevocations, id: tokenRevocations.id, teamId: tokenRevocations.teamId, column: tokenRevocations.clientSecret }
]

export const sealCtx = (label: string, teamId: string, rowId: string): SealContext => ({ teamId, rowId, column: label })

export const notNullIn = (c: EncryptedColumn, teamId?: string) =>
  teamId === undefined ? isNotNull(c.column) : and(isNotNull(c.column), eq(c.teamId, teamId))
