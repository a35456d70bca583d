/**
 * The composition root of the domain: builds every service with its dependencies passed in,
 * and decorates `app.services`. Nothing in src/domain reaches for a singleton.
 */
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import type { Clock } from '../domain/clock.ts'
import { ApiKeyVerifier } from '../domain/api-keys/api-key-verifier.ts'
import { ApiKeyService } from '../domain/api-keys/api-key.service.ts'
import { UsageRecorder } from '../domain/api-keys/usage-recorder.ts'
import { Authenticator } from '../domain/auth/authenticator.ts'
import { JwtVerifier } from '../domain/auth/jwt-verifier.ts'
import { CachedTeamDirectory } from '../domain/auth/team-directory.ts'
import { GraphqlPolicyService } from '../domain/graphql-policy/graphql-policy.service.ts'
import { TeamService } from '../domain/teams/team.service.ts'
import { RequestLogService } from '../domain/request-logs/request-log.service.ts'
import { AuditEventService } from '../domain/request-logs/audit-event.service.ts'
import { fetchHttpClient } from '../connectors/http.ts'
import { ProviderCatalog } from '../connectors/registry.ts'
import { IntegrationService } from '../domain/integrations/integration.service.ts'
import { AccountMetadataService } from '../domain/integrations/account-metadata.service.ts'
import { OAuthClient } from '../domain/oauth/oauth-client.ts'
import { OAuthFlowService } from '../domain/oauth/oauth-flow.service.ts'
import { TokenService } from '../domain/oauth/token.service.ts'
import { Vault } from '../domain/vault/vault.ts'
import { checkKeyring } from '../domain/vault/keyring-check.ts'
import { Breakers } from '../connectors/outbound/breakers.ts'
import { fileSource } from '../connectors/outbound/files.ts'
import { OutboundGuard } from '../connectors/outbound/guard.ts'
import { RateGovernor } from '../connectors/outbound/governor.ts'
import { ConnectorContexts } from '../domain/operations/connector-context.ts'
import { InputValidator } from '../domain/operations/input-validator.ts'
import { OperationRuns } from '../domain/operations/operation-runs.ts'
import { OperationService, RUN_JOB } from '../domain/operations/operation.service.ts'

export interface Services {
  requestLogs: RequestLogService
  auditEvents: AuditEventService
  teams: TeamService
  apiKeys: ApiKeyService
  keyVerifier: ApiKeyVerifier
  usage: UsageRecorder
  authenticator: Authenticator
  policies: GraphqlPolicyService
  catalog: ProviderCatalog
  integrations: IntegrationService
  oauthFlow: OAuthFlowService
  tokens: TokenService
  accountMetadata: AccountMetadataService
  operations: OperationService
}

declare module 'fastify' {
  interface FastifyInstance { services: Services }
}

export interface ServicesPluginOptions { config: Config, clock: Clock }

export const servicesPlugin = fp<ServicesPluginOptions>(async (app, { config, clock }) => {
  const db = app.database.db
  const teams = new TeamService({ db })
  const keyVerifier = new ApiKeyVerifier({ db, clock, ttlMs: config.apiKeys.cacheTtlMs })
  const usage = new UsageRecorder({ db, log: app.log, flushMs: config.apiKeys.usageFlushMs })
  // Provider connections: vault, catalog, OAuth client, token and integration services.
  if (config.encryption.generated) app.log.warn('ENCRYPTION_KEYS is not set: provider secrets are encrypted with a generated development key stored in the data directory')
  const vault = new Vault(config.encryption.keys)
  if (await checkKeyring(db, config.encryption.keys) === 'unmigrated') app.log.warn('Encryption key check skipped: the database is not migrated yet (the next start checks)')
  const catalog = new ProviderCatalog(config.integrations)
  // Every outbound request goes through the one guard: only deployment-configured origins skip the address check.
  const guard = new OutboundGuard({ allowPrivate: config.outbound.allowPrivate, httpsOnly: config.nodeEnv === 'production', trustedOrigins: catalog.trustedOrigins() })
  app.addHook('onClose', async () => { await guard.close() })
  const http = fetchHttpClient({ timeoutMs: config.integrations.providerTimeoutMs, guard, log: app.log })
  const oauth = new OAuthClient({ http })
  const tokens = new TokenService({
    db, clock, vault, catalog, oauth, http, log: app.log, refreshMarginSeconds: config.integrations.refreshMarginSeconds,
    scheduleRevocationRetry: async (revocationId, afterSeconds) => {
      await app.jobs?.send('integrations.revoke-token', { revocationId }, { startAfterSeconds: afterSeconds, singletonKey: revocationId })
    }
  })
  const integrationServices = {
    catalog,
    tokens,
    integrations: new IntegrationService({ db, clock, vault, catalog, tokens, http, pages: config.graphql, urlRules: guard.rules }),
    accountMetadata: new AccountMetadataService({ db, clock, vault, catalog, tokens, http, log: app.log }),
    oauthFlow: new OAuthFlowService({
      db, clock, vault, catalog, oauth, tokens, http, log: app.log,
      publicUrl: config.integrations.publicUrl, redirectAllowList: config.integrations.redirectAllowList, stateTtlSeconds: config.integrations.stateTtlSeconds,
      secureCookies: config.nodeEnv === 'production' || config.integrations.publicUrl.startsWith('https:')
    })
  }
  // Connector operations: the shared outbound client (breakers and governor live in this process).
  const cc = config.integrations.connectors
  const operations = new OperationService({
    contexts: new ConnectorContexts({
      db, clock, catalog, tokens, log: app.log,
      files: fileSource({ maxBytes: cc.fileMaxBytes, timeoutMs: config.integrations.providerTimeoutMs, guard }),
      outbound: {
        http,
        breakers: new Breakers({ threshold: cc.breakerThreshold, halfOpenMs: cc.breakerHalfOpenMs }),
        governor: new RateGovernor({ maxWaitMs: cc.maxQueueWaitMs }),
        settings: { maxAttempts: cc.maxAttempts, backoffInitialMs: cc.backoffInitialMs, backoffMaxMs: cc.backoffMaxMs, timeoutMs: config.integrations.providerTimeoutMs },
        // request-log registers after this plugin; every call happens after ready
        recordOutbound: (call) => app.requestLog?.recordOutbound(call)
      }
    }),
    runs: new OperationRuns({ db, clock, pages: config.graphql }),
    validator: new InputValidator(),
    log: app.log,
    enqueue: async (job) => (await app.jobs?.send(RUN_JOB, { ...job }, { singletonKey: job.runId, retryLimit: 0 })) ?? null
  })
  const services: Services = {
    operations,
    requestLogs: new RequestLogService({ db, rows: app.database.rows, clock, pages: config.graphql }),
    auditEvents: new AuditEventService({ db, pages: config.graphql }),
    ...integrationServices,
    teams,
    keyVerifier,
    usage,
    apiKeys: new ApiKeyService({ db, clock, verifier: keyVerifier, pages: config.graphql, limits: config.apiKeys, defaultRateLimit: config.rateLimit }),
    authenticator: new Authenticator({
      keys: keyVerifier,
      jwt: new JwtVerifier(config.jwt),
      usage,
      teams: new CachedTeamDirectory({ teams, ttlMs: 60_000 }),
      clock,
      maxKeyRateLimit: config.apiKeys.maxRateLimitRequests
    }),
    policies: new GraphqlPolicyService({
      db,
      maxima: { maxDepth: config.graphql.maxDepth, maxCost: config.graphql.maxCost, introspection: config.graphql.introspection },
      ttlMs: config.apiKeys.cacheTtlMs
    })
  }
  app.decorate('services', services)
  app.addHook('onClose', async () => { await usage.close() })
}, { name: 'switchboard-services', fastify: '5.x', dependencies: ['switchboard-db'] })
