/**
 * A team's connections to providers, their OAuth tokens, pending OAuth states and revocations
 * still owed to a provider. Every secret column holds a vault envelope
 * (`sb1.<keyVersion>.<iv>.<tag>.<ciphertext>`, see src/domain/vault/vault.ts) whose associated
 * data binds it to team, row and column; src/domain/vault/encrypted-columns.ts lists them all
 * for `switchboard rotate-keys`.
 */
import { relations, sql } from 'drizzle-orm'
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { teams } from './core.ts'

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

/**
 * One connection of a team to a provider account. The same provider may be connected more than
 * once (two shops), never twice to the same account: `(team_id, provider, account_id)` is unique
 * once the account is known (after the OAuth callback or token import).
 */
export const integrations = pgTable('integrations', {
  id: uuid('id').primaryKey(),
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  /** Provider id from src/connectors/registry.ts (`shopify`, `custom_oauth2`, …). */
  provider: text('provider').notNull(),
  name: text('name').notNull(),
  /** pending | connected | needs_reauth | error | disconnected */
  status: text('status').notNull(),
  /** oauth2 | api_key | basic | webhook */
  authMode: text('auth_mode').notNull(),
  /** The provider's id for the connected account (shop domain, workspace id, user id…). */
  accountId: text('account_id'),
  accountName: text('account_name'),
  /** Non-secret account facts fetched on connect (plan, workspace icon, quota…), refreshed by a background job. */
  accountMetadata: jsonb('account_metadata').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  /** Last successful account-metadata refresh (connect or the background job). */
  accountRefreshedAt: ts('account_refreshed_at'),
  /** Last failed account-metadata refresh, and why; cleared by a success. Never changes `status` by itself. */
  accountRefreshFailedAt: ts('account_refresh_failed_at'),
  accountRefreshError: text('account_refresh_error'),
  /** Non-secret settings: custom OAuth2 URLs and client id, base URL, shop, chosen scopes. */
  config: jsonb('config').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  /** Vault: the team's own OAuth client secret (custom OAuth2 or bring-your-own app). */
  clientSecret: text('client_secret'),
  /** Vault: JSON of non-OAuth credentials (API key, basic user/password, webhook secret). */
  credentials: text('credentials'),
  /** Last failure shown to users (never a provider body verbatim). */
  lastError: text('last_error'),
  connectedAt: ts('connected_at'),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow()
}, (t) => [
  // integrations(filter, first, after): a team's integrations newest first
  index('integrations_team_id_id_idx').on(t.teamId, t.id.desc()),
  // never the same account twice per team and provider
  uniqueIndex('integrations_team_provider_account_uq').on(t.teamId, t.provider, t.accountId).where(sql`${t.accountId} IS NOT NULL`)
])

/**
 * OAuth tokens of an integration (1:1). Deleted at once on disconnect. A refresh locks this row
 * (`FOR UPDATE`) and re-reads it, so one refresh per integration runs at a time across
 * processes, and a rotated refresh token is written in the same transaction.
 */
export const integrationCredentials = pgTable('integration_credentials', {
  integrationId: uuid('integration_id').primaryKey().references(() => integrations.id, { onDelete: 'cascade' }),
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  /** Vault. */
  accessToken: text('access_token').notNull(),
  /** Vault; null when the provider gives none (Shopify offline, Slack without rotation). */
  refreshToken: text('refresh_token'),
  tokenType: text('token_type').notNull().default('Bearer'),
  scopes: text('scopes').array().notNull().default(sql`'{}'::text[]`),
  /** Null = does not expire. */
  expiresAt: ts('expires_at'),
  /** When the refresh token itself expires (Shopify expiring offline tokens: `refresh_token_expires_in`); null = unknown/never. */
  refreshTokenExpiresAt: ts('refresh_token_expires_at'),
  lastRefreshedAt: ts('last_refreshed_at'),
  /** Consecutive failed refreshes; reset by a success. */
  refreshFailures: integer('refresh_failures').notNull().default(0),
  /** Refresh (background and on demand) waits until then after a failure (backoff 1, 2, 4, 8 minutes). */
  nextRefreshAt: ts('next_refresh_at'),
  /** valid | needs_reauth */
  status: text('status').notNull().default('valid'),
  /** Provider-issued extras the connector needs (Salesforce instance_url, Etsy user id…), non-secret. */
  extra: jsonb('extra').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  updatedAt: ts('updated_at').notNull().defaultNow()
}, (t) => [
  // background refresh: valid tokens ordered by expiry
  index('integration_credentials_expiry_idx').on(t.expiresAt).where(sql`${t.status} = 'valid' AND ${t.refreshToken} IS NOT NULL`)
])

/**
 * One pending authorization (startOAuth → callback). The state itself is never stored: only its
 * SHA-256. Single use (`consumed_at`), expires after OAUTH_STATE_TTL_SECONDS, bound to the team
 * and the principal that started it and to the provider of the callback path.
 */
export const oauthStates = pgTable('oauth_states', {
  id: uuid('id').primaryKey(),
  stateHash: text('state_hash').notNull(),
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  /** `user` or `api_key`, and its id: the actor of the audit event written by the callback. */
  actorType: text('actor_type').notNull(),
  actorId: text('actor_id').notNull(),
  provider: text('provider').notNull(),
  /** Set when re-connecting or connecting a pre-created (custom OAuth2) integration. */
  integrationId: uuid('integration_id').references(() => integrations.id, { onDelete: 'cascade' }),
  name: text('name'),
  /** Checked against OAUTH_REDIRECT_ALLOWLIST at start. */
  redirectTo: text('redirect_to').notNull(),
  /** The exact redirect_uri sent in the authorize request, repeated in the code exchange. */
  redirectUri: text('redirect_uri').notNull(),
  /** Shopify: the shop domain the authorization was started for. */
  shop: text('shop'),
  scopes: text('scopes').array().notNull(),
  /** Vault: PKCE code verifier (never in a URL or a log). */
  codeVerifier: text('code_verifier'),
  /**
   * Browser binding (security.md §1.2, §2): `startOAuth` returns a gateway URL carrying a one-time
   * launch handle; only its SHA-256 is stored here. The launch route (routes/oauth-start.ts)
   * consumes it (`launched_at`), sets a random nonce in an HttpOnly SameSite=Lax cookie, stores
   * the nonce's SHA-256 in `browser_binding_hash` and redirects to the provider. The callback
   * must present that cookie. Nullable only so rows pending during the upgrade migrate (they expire).
   */
  launchHash: text('launch_hash'),
  launchedAt: ts('launched_at'),
  browserBindingHash: text('browser_binding_hash'),
  /** Vault: the provider authorize URL the launch route redirects to (it holds the raw state). */
  authorizeUrl: text('authorize_url'),
  /** Issuer expected in the callback's `iss` (RFC 9207): custom OAuth2 `config.issuer` or the provider's declared one. */
  issuer: text('issuer'),
  expiresAt: ts('expires_at').notNull(),
  consumedAt: ts('consumed_at'),
  createdAt: ts('created_at').notNull().defaultNow()
}, (t) => [
  // the callback looks a state up by its hash
  uniqueIndex('oauth_states_state_hash_uq').on(t.stateHash),
  // the launch route looks a flow up by its handle's hash
  uniqueIndex('oauth_states_launch_hash_uq').on(t.launchHash)
])

/**
 * Tokens still to be revoked at the provider after a disconnect whose revoke call failed (or has
 * not run yet). The integration's own token row is already gone; this row keeps the token,
 * encrypted, only until the provider confirms, then the token column is cleared.
 */
export const tokenRevocations = pgTable('token_revocations', {
  id: uuid('id').primaryKey(),
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  /** No FK: the integration may be deleted while the revoke is still owed. */
  integrationId: uuid('integration_id').notNull(),
  provider: text('provider').notNull(),
  /** Resolved provider URLs and non-secret client settings at disconnect time. */
  endpoint: jsonb('endpoint').$type<Record<string, unknown>>().notNull(),
  /** Vault; null once revoked or given up. */
  token: text('token'),
  /** access_token | refresh_token */
  tokenTypeHint: text('token_type_hint').notNull(),
  /** Vault: client secret needed to authenticate the revoke (custom OAuth2 / own app). */
  clientSecret: text('client_secret'),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: ts('next_attempt_at').notNull(),
  lastError: text('last_error'),
  /** revoked | failed, set when done. */
  outcome: text('outcome'),
  completedAt: ts('completed_at'),
  createdAt: ts('created_at').notNull().defaultNow()
}, (t) => [
  // the retry job claims due, unfinished revocations
  index('token_revocations_due_idx').on(t.nextAttemptAt).where(sql`${t.completedAt} IS NULL`)
])

export const integrationsRelations = relations(integrations, ({ one }) => ({
  team: one(teams, { fields: [integrations.teamId], references: [teams.id] }),
  credential: one(integrationCredentials, { fields: [integrations.id], references: [integrationCredentials.integrationId] })
}))

export type IntegrationRow = typeof integrations.$inferSelect
export type IntegrationCredentialRow = typeof integrationCredentials.$inferSelect
export type OAuthStateRow = typeof oauthStates.$inferSelect
export type TokenRevocationRow = typeof tokenRevocations.$inferSelect
