/**
 * Idempotency-Key on GraphQL mutations (docs/idempotency.md). A POST /graphql whose operation is
 * a mutation and which carries the header is run once per key, team and credential for
 * IDEMPOTENCY_TTL_SECONDS:
 *   preHandler (after authentication and body parsing, before the team limits and Mercurius):
 *     claim the key → run; or replay the stored answer (same status and body, plus
 *     `Idempotency-Replayed: true`) without running anything; or refuse: 409 while the first
 *     request runs, 409 (IDEMPOTENCY_KEY_REUSED) when the key was used for a different request;
 *   onSend: store the answer before it leaves (so a retry after a lost response finds it), or
 *     release the key when the answer says "retry" (domain/idempotency/idempotency-request.ts).
 * Requests without the header cost one header lookup per hook. Queries ignore the header: they
 * change nothing, so running them again is already safe.
 *
 * Instance-level hooks rather than Mercurius hooks: those are async and copied onto every
 * request's context, and the operation is recognised from the shared parse (query-documents.ts).
 */
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { Config } from '../config.ts'
import type { Clock } from '../domain/clock.ts'
import { actorOf } from '../domain/auth/principal.ts'
import { checkKey, keepsAnswer, requestHash } from '../domain/idempotency/idempotency-request.ts'
import { IdempotencyService, type Claim, type ClaimOutcome } from '../domain/idempotency/idempotency.service.ts'
import { Vault } from '../domain/vault/vault.ts'
import { AppError } from '../errors.ts'
import { findOperation } from '../graphql/limits/analyze-operation.ts'
import type { QueryDocuments } from '../graphql/query-documents.ts'

declare module 'fastify' {
  interface FastifyInstance { idempotency: IdempotencyService }
  interface FastifyRequest {
    /** Set when this request holds an Idempotency-Key: its answer is stored (or the key released) on send. */
    idempotencyClaim: Claim | undefined
  }
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'
export const REPLAYED_HEADER = 'idempotency-replayed'
export const PURGE_JOB = 'idempotency.purge-expired'
const GRAPHQL_ROUTE = '/graphql'
/**
 * How long a claim holds its key without an answer. Far above any mutation's run time (provider
 * calls time out and long imports run as jobs), so only a claim whose process died runs out.
 */
export const CLAIM_LEASE_MS = 5 * 60_000

interface GraphQLBody { query?: unknown, operationName?: unknown, variables?: unknown }

export interface IdempotencyPluginOptions { config: Config, clock: Clock, queryDocuments: QueryDocuments }

export const idempotencyPlugin = fp<IdempotencyPluginOptions>(async (app, { config, clock, queryDocuments }) => {
  const service = new IdempotencyService({
    db: app.database.db,
    clock,
    vault: new Vault(config.encryption.keys),
    ttlMs: config.idempotency.ttlSeconds * 1000,
    leaseMs: CLAIM_LEASE_MS
  })
  app.decorate('idempotency', service)
  app.decorateRequest('idempotencyClaim', undefined)

  /** The body's operation when it is a mutation (a text that does not parse is Mercurius's to report). */
  const mutationOf = (body: GraphQLBody | undefined): { query: string, operationName: string | undefined, variables: unknown } | undefined => {
    if (typeof body?.query !== 'string') return undefined
    const document = queryDocuments.get(body.query)
    if (document === null) return undefined
    const operationName = typeof body.operationName === 'string' ? body.operationName : undefined
    if (findOperation(document, operationName)?.operation !== 'mutation') return undefined
    return { query: body.query, operationName, variables: body.variables }
  }

  const settle = (req: FastifyRequest, reply: FastifyReply, outcome: ClaimOutcome, done: HookHandlerDoneFunction): void => {
    switch (outcome.kind) {
      case 'claimed':
        req.idempotencyClaim = outcome.claim
        done()
        return
      case 'replay': {
        const { status, contentType, body } = outcome.answer
        // Answered from the hook: the chain stops here, nothing is parsed or run.
        reply.code(status).header('content-type', contentType).header(REPLAYED_HEADER, 'true').send(body)
        return
      }
      case 'in_progress':
        done(new AppError('IDEMPOTENCY_KEY_IN_USE', undefined, { details: { retryAfterSeconds: 1 } }))
        return
      case 'mismatch':
        done(new AppError('IDEMPOTENCY_KEY_REUSED'))
    }
  }

  // Callback style, like the other per-request hooks: a request without the header makes no promise.
  app.addHook('preHandler', function claimIdempotencyKey (req, reply, done) {
    const header = req.headers[IDEMPOTENCY_KEY_HEADER]
    const principal = req.principal
    if (header === undefined || principal === undefined || req.method !== 'POST' || req.routeOptions.url !== GRAPHQL_ROUTE) { done(); return }
    const operation = mutationOf(req.body as GraphQLBody | undefined)
    if (operation === undefined) { done(); return }
    const key = checkKey(header)
    if (!key.ok) { done(key.error); return }
    service.claim({
      teamId: principal.teamId,
      principal: actorOf(principal).label,
      key: key.value,
      requestHash: requestHash(operation),
      requestId: req.id
    }).then((outcome) => { settle(req, reply, outcome, done) }, done)
  })

  app.addHook('onSend', function answerIdempotencyKey (req, reply, payload, done) {
    const claim = req.idempotencyClaim
    if (claim === undefined) { done(null, payload); return }
    req.idempotencyClaim = undefined
    const status = reply.statusCode
    const recorded = typeof payload === 'string' && keepsAnswer(status, req.errorCodes ?? [])
      ? service.complete(claim, { status, contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'), body: payload })
      : service.release(claim)
    // The answer goes out either way; a claim left behind ends with its lease.
    recorded.then((stored) => {
      if (stored === false) req.log.warn({ idempotencyKey: claim.key }, 'idempotency: the claim was taken over before the answer was stored')
      done(null, payload)
    }, (err: unknown) => {
      req.log.error({ err }, 'idempotency: could not record the answer')
      done(null, payload)
    })
  })

  await app.jobs.schedule(PURGE_JOB, '23 * * * *', async () => {
    const deleted = await service.purgeExpired()
    app.log.info({ deleted }, 'idempotency keys purged')
  })
}, { name: 'switchboard-idempotency', fastify: '5.x', dependencies: ['switchboard-db', 'switchboard-jobs'] })
