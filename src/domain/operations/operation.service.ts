/**
 * Provider operations for a team's integrations: `runIntegrationOperation` (any operation a
 * connector lists, input validated against its schema), the typed seed flows (import products,
 * publish a mockup, export a design, save files to cloud storage) written against capabilities,
 * and long operations queued as pg-boss jobs and tracked as operation runs.
 *
 * Provider failures are values: `run` answers `{success: false, error}`; the typed flows return
 * them as failed Results carrying `platform` (GraphQL extensions). Unknown and other teams'
 * integration or run ids are NOT_FOUND.
 */
import type { Connector, ConnectorContext, ConnectorOperation } from '../../connectors/connector.ts'
import { importProducts, need, saveFiles } from '../../connectors/flows.ts'
import type { OperationRunRow } from '../../db/schema.ts'
import { AppError, badInput, ERROR_CODES, type ErrorCode } from '../../errors.ts'
import { actorOf, type Principal } from '../auth/principal.ts'
import type { Logger } from '../logger.ts'
import { fail, ok, type Result } from '../result.ts'
import type { Bound, ConnectorContexts } from './connector-context.ts'
import type { InputValidator } from './input-validator.ts'
import type { ItemPage, OperationRuns } from './operation-runs.ts'

export const RUN_JOB = 'operations.run'
/** What a run's job carries: the run and its team, whose tenant role the job works as. Jobs queued before the team was added carry the run only. */
export interface RunJob { runId: string, teamId?: string }
/** Codes a provider call can end with: reported as `{success: false, error}`, not as GraphQL errors. */
const PROVIDER_CODES = new Set<ErrorCode>(['CONNECTION_FAILED', 'OAUTH_ERROR', 'TOKEN_EXPIRED', 'API_ERROR', 'SYNC_FAILED', 'INVALID_CREDENTIALS', 'RATE_LIMIT_EXCEEDED', 'NETWORK_ERROR', 'UPSTREAM_UNAVAILABLE'])

export interface OperationError { code: ErrorCode, message: string, userMessage: string, retryable: boolean, platform: string | null }
export interface OperationOutcome { success: boolean, data: unknown, error: OperationError | null, run: OperationRunRow | null }

/** Flows the typed mutations queue as runs, by the run's operation name. */
const CAPABILITY_FLOWS: Record<string, (ctx: ConnectorContext, c: Connector, input: Record<string, unknown>) => Promise<unknown>> = {
  'capability:import_products': (ctx, c) => importProducts(ctx, need(c.commerce, 'product import', ctx.provider)),
  'capability:save_files': (ctx, c, input) => saveFiles(ctx, need(c.storage, 'file storage', ctx.provider), input.fileUrls as string[], (input.folder as string | null) ?? null)
}

export interface OperationServiceDeps {
  contexts: ConnectorContexts
  runs: OperationRuns
  validator: InputValidator
  log: Logger
  /** Enqueues a run's job (its data: `RunJob`); null when jobs are disabled (the run then executes in this process). */
  enqueue(job: RunJob): Promise<string | null>
}

export function toOperationError (e: AppError): OperationError {
  const platform = e.details?.platform
  const retryable = typeof e.details?.retryable === 'boolean' ? e.details.retryable : ERROR_CODES[e.code].retryable
  return { code: e.code, message: e.message, userMessage: ERROR_CODES[e.code].userMessage, retryable, platform: typeof platform === 'string' ? platform : null }
}

export class OperationService {
  readonly #d: OperationServiceDeps
  readonly #inProcess = new Set<Promise<void>>()
  constructor (deps: OperationServiceDeps) { this.#d = deps }

  async run (p: Principal, integrationId: string, name: string, input: unknown, requestId: string): Promise<Result<OperationOutcome>> {
    const bound = await this.#d.contexts.open(p.teamId, integrationId, requestId)
    if (!bound.ok) return this.#providerFailure(bound.error)
    const op = bound.value.connector.operations.find((o) => o.name === name)
    if (op === undefined) return fail(badInput(`${bound.value.def.name} has no operation ${name}`, { field: 'operation' }))
    const invalid = this.#d.validator.check(op.inputSchema, input ?? {})
    if (invalid !== null) return fail(invalid)
    if (op.long === true) {
      const run = await this.#queue(p, bound.value.integration.id, bound.value.def.id, op.name, (input ?? {}) as Record<string, unknown>)
      return ok({ success: true, data: null, error: null, run })
    }
    return this.#settle(() => op.run(bound.value.ctx, (input ?? {}) as Record<string, unknown>))
  }

  async importProducts (p: Principal, integrationId: string, requestId: string): Promise<Result<OperationRunRow>> {
    const bound = await this.#d.contexts.open(p.teamId, integrationId, requestId)
    if (!bound.ok) return bound
    if (bound.value.connector.commerce === undefined) return fail(badInput(`${bound.value.def.name} has no products to import`, { field: 'integrationId' }))
    return ok(await this.#queue(p, integrationId, bound.value.def.id, 'capability:import_products', {}))
  }

  async saveToCloudStorage (p: Principal, integrationId: string, fileUrls: string[], folder: string | null, requestId: string): Promise<Result<OperationRunRow>> {
    if (fileUrls.length === 0 || fileUrls.length > 100) return fail(badInput('fileUrls must hold 1 to 100 URLs', { field: 'fileUrls' }))
    if (!fileUrls.every((u) => /^https?:\/\/\S+$/.test(u))) return fail(badInput('fileUrls must be http(s) URLs', { field: 'fileUrls' }))
    const bound = await this.#d.contexts.open(p.teamId, integrationId, requestId)
    if (!bound.ok) return bound
    if (bound.value.connector.storage === undefined) return fail(badInput(`${bound.value.def.name} is not a cloud storage provider`, { field: 'integrationId' }))
    return ok(await this.#queue(p, integrationId, bound.value.def.id, 'capability:save_files', { fileUrls, folder }))
  }

  async publishMockup (p: Principal, integrationId: string, productId: string, mockupUrls: string[], requestId: string): Promise<Result<unknown>> {
    if (mockupUrls.length === 0 || mockupUrls.length > 20 || !mockupUrls.every((u) => /^https?:\/\/\S+$/.test(u))) return fail(badInput('mockupUrls must hold 1 to 20 http(s) URLs', { field: 'mockupUrls' }))
    return this.#direct(p, integrationId, requestId, async (ctx, c) => need(c.commerce, 'publishing images', ctx.provider).addProductImages(ctx, productId, mockupUrls))
  }

  async exportDesign (p: Principal, integrationId: string, args: { fileKey: string, nodeIds: string[], format: 'png' | 'jpg' | 'svg' | 'pdf', scale?: number | null }, requestId: string): Promise<Result<{ fileKey: string, images: Array<{ nodeId: string, url: string | null }> }>> {
    if (args.nodeIds.length === 0 || args.nodeIds.length > 100) return fail(badInput('nodeIds must hold 1 to 100 ids', { field: 'nodeIds' }))
    if (args.scale != null && (args.scale < 0.01 || args.scale > 4)) return fail(badInput('scale must be between 0.01 and 4', { field: 'scale' }))
    return this.#direct(p, integrationId, requestId, async (ctx, c) => {
      const images = await need(c.design, 'design export', ctx.provider).exportImages(ctx, args.fileKey, args.nodeIds, args.format, args.scale ?? undefined)
      return { fileKey: args.fileKey, images: Object.entries(images).map(([nodeId, url]) => ({ nodeId, url })) }
    })
  }

  /** A connector bound to one integration (tests and tools that call capabilities directly). */
  bind (p: Principal, integrationId: string, requestId: string): Promise<Result<Bound>> { return this.#d.contexts.open(p.teamId, integrationId, requestId) }

  getRun (p: Principal, id: string): Promise<Result<OperationRunRow>> { return this.#d.runs.get(p.teamId, id) }
  runItems (run: OperationRunRow, args: { first?: number | null, after?: string | null }): Promise<Result<ItemPage>> { return this.#d.runs.items(run, args) }

  /** The job handler: a job is its team's work, so the run is executed as that team. */
  async executeJob (job: RunJob): Promise<void> {
    const teamId = job.teamId ?? await this.#d.runs.teamOf(job.runId)
    if (teamId !== undefined) await this.execute(teamId, job.runId)
  }

  /** Runs one queued run of the team to its end; failures are recorded on the run, never thrown (no job retry). */
  async execute (teamId: string, runId: string): Promise<void> {
    const { runs } = this.#d
    const run = await runs.start(teamId, runId)
    if (run === undefined) return
    let progress: Promise<void> = Promise.resolve()
    let seq = 0
    const hooks = {
      progress: (pr: Record<string, unknown>) => { progress = progress.then(() => runs.progress(teamId, runId, pr)).catch((err: unknown) => this.#d.log.warn({ err, runId }, 'run progress not saved')) },
      emit: async (items: unknown[]) => { await runs.appendItems(teamId, runId, seq, items); seq += items.length }
    }
    try {
      const bound = await this.#d.contexts.open(teamId, run.integrationId ?? '', run.jobId ?? run.id, hooks)
      if (!bound.ok) throw bound.error
      const flow = CAPABILITY_FLOWS[run.operation]
      const op: ConnectorOperation | undefined = bound.value.connector.operations.find((o) => o.name === run.operation)
      if (flow === undefined && op === undefined) throw new AppError('SYNC_FAILED', `Unknown operation ${run.operation}`)
      const result = flow !== undefined ? await flow(bound.value.ctx, bound.value.connector, run.input) : await op!.run(bound.value.ctx, run.input)
      await progress
      await runs.finish(teamId, runId, { result })
    } catch (err) {
      await progress
      const e = err instanceof AppError ? err : new AppError('SYNC_FAILED', 'The operation failed unexpectedly')
      if (!(err instanceof AppError)) this.#d.log.error({ err, runId }, 'operation run failed unexpectedly')
      await runs.finish(teamId, runId, { error: { ...toOperationError(e) } })
    }
  }

  /** Waits for runs executing in this process (jobs disabled) to end: on shutdown and in tests. */
  async drain (): Promise<void> { await Promise.all([...this.#inProcess]) }

  async #queue (p: Principal, integrationId: string, provider: string, operation: string, input: Record<string, unknown>): Promise<OperationRunRow> {
    const run = await this.#d.runs.create({ teamId: p.teamId, integrationId, provider, operation, input, createdBy: actorOf(p).label })
    // Enqueued after the run's transaction committed: the job's first read must find the run.
    const jobId = await this.#d.enqueue({ runId: run.id, teamId: run.teamId })
    if (jobId !== null) {
      await this.#d.runs.setJob(run.teamId, run.id, jobId)
      return { ...run, jobId }
    }
    const running = this.execute(run.teamId, run.id).finally(() => this.#inProcess.delete(running))
    this.#inProcess.add(running)
    return run
  }

  async #direct<T> (p: Principal, integrationId: string, requestId: string, fn: (ctx: ConnectorContext, c: Connector) => Promise<T>): Promise<Result<T>> {
    const bound = await this.#d.contexts.open(p.teamId, integrationId, requestId)
    if (!bound.ok) return bound
    try {
      return ok(await fn(bound.value.ctx, bound.value.connector))
    } catch (err) {
      if (err instanceof AppError) return fail(err)
      throw err
    }
  }

  async #settle (fn: () => Promise<unknown>): Promise<Result<OperationOutcome>> {
    try {
      return ok({ success: true, data: await fn(), error: null, run: null })
    } catch (err) {
      if (err instanceof AppError) return this.#providerFailure(err)
      throw err
    }
  }

  #providerFailure (e: AppError): Result<OperationOutcome> {
    return PROVIDER_CODES.has(e.code) ? ok({ success: false, data: null, error: toOperationError(e), run: null }) : fail(e)
  }
}
