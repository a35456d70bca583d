/**
 * Set-up shared by the connector tests: every provider fake (with its data API) started, one app
 * pointed at them with millisecond retry/backoff/breaker timings, a team, and `connectTo` to
 * connect an integration through the real OAuth flow.
 */
import { sql } from 'drizzle-orm'
import type { FakeProvider } from '../fakes/base.ts'
import { build, type TestApp } from '../helper.ts'
import { connect, fakeEnv, startFakes, type Fakes } from '../oauth/oauth-helper.ts'

/** Test timings: retries and backoff in milliseconds, a breaker that opens after 3 failed attempts. */
export const FAST_ENV: Record<string, string> = {
  CONNECTOR_MAX_ATTEMPTS: '3',
  CONNECTOR_BACKOFF_INITIAL_MS: '5',
  CONNECTOR_BACKOFF_MAX_MS: '20',
  CONNECTOR_BREAKER_THRESHOLD: '3',
  CONNECTOR_BREAKER_HALF_OPEN_MS: '300',
  CONNECTOR_MAX_QUEUE_WAIT_MS: '5000',
  OUTBOUND_ALLOW_PRIVATE: 'true',
  PROVIDER_TIMEOUT_MS: '400'
}

export const RUN = 'mutation($id: ID!, $op: String!, $input: JSON) { runIntegrationOperation(integrationId: $id, operation: $op, input: $input) { success data error { code message userMessage retryable platform } run { id status } } }'
export const RUN_STATUS = 'query($id: ID!) { operationRun(id: $id) { id status progress result itemCount error { code platform } items(first: 100) { nodes totalCount pageInfo { hasNextPage endCursor } } } }'

export interface Setup { app: TestApp, fakes: Fakes, teamId: string, adminKey: string, connectTo(provider: keyof Fakes, input?: Record<string, unknown>): Promise<string> }

export async function setup (t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<Setup> {
  const fakes = await startFakes(t)
  const app = await build(t, { env: { ...fakeEnv(fakes), ...FAST_ENV, ...env } })
  const { teamId, adminKey } = await app.seedTeam('acme')
  return {
    app, fakes, teamId, adminKey,
    async connectTo (provider, input = {}) {
      const r = await connect(app, fakes[provider] as FakeProvider, adminKey, { provider, ...input })
      if (r.integrationId === undefined) throw new Error(`connect ${provider} failed: ${r.res.statusCode} ${String(r.res.headers.location)}`)
      return r.integrationId
    }
  }
}

/** Runs an operation through GraphQL and returns `runIntegrationOperation`. */
export async function run (s: Setup, id: string, op: string, input: Record<string, unknown> = {}) {
  const res = await s.app.gql(RUN, { auth: s.adminKey, variables: { id, op, input } })
  if (res.body.errors !== undefined) return { errors: res.body.errors, status: res.status } as const
  return res.body.data!.runIntegrationOperation as { success: boolean, data: any, error: { code: string, message: string, userMessage: string, retryable: boolean, platform: string } | null, run: { id: string, status: string } | null }
}

export async function integrationStatus (s: Setup, id: string): Promise<string> {
  const rows = await s.app.database.rows<{ status: string }>(sql`select status from integrations where id = ${id}`)
  return rows[0]!.status
}

/** Outbound request-log rows written so far (flushes the writer first). */
export async function outboundRows (s: Setup, provider: string): Promise<Array<{ status: number | null, attempt: number, error_codes: string[], path: string, request_id: string }>> {
  await s.app.app.requestLog.flush()
  return s.app.database.rows(sql`select status, attempt, error_codes, path, request_id from request_logs where direction = 'outbound' and provider = ${provider} order by created_at, attempt`)
}

/** Polls operationRun until it leaves queued/running. */
export async function waitForRun (s: Setup, runId: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = await s.app.gql(RUN_STATUS, { auth: s.adminKey, variables: { id: runId } })
    const runRow = r.body.data?.operationRun
    if (runRow !== undefined && runRow !== null && (runRow.status === 'SUCCEEDED' || runRow.status === 'FAILED')) return runRow
    if (Date.now() > deadline) throw new Error(`run ${runId} did not finish: ${JSON.stringify(r.body)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
