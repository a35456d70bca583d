/**
 * Background jobs and schedules on pg-boss, in the application's own database: on Postgres
 * through pg-boss's own small pool (connection string), on PGlite through pg-boss's PGlite
 * adapter over the one embedded connection, so the same code path serves both.
 *
 * Other plugins register handlers while the app boots (`schedule`, `work`); they take effect
 * when pg-boss starts, on ready. `send` is for after ready (resolvers, other jobs). On close
 * pg-boss stops gracefully: no new fetches, running handlers get the shutdown grace to finish.
 * With JOBS_ENABLED=false (the default under NODE_ENV=test) nothing starts: `schedule` and
 * `work` register nothing and `send` enqueues nothing and answers null.
 */
import fp from 'fastify-plugin'
import { PgBoss, fromPglite, type Job, type SendOptions } from 'pg-boss'
import type { Config } from '../config.ts'

export type JobHandler = (data: Record<string, unknown>) => Promise<void>

export interface Jobs {
  /** Run `handler` on a cron schedule (UTC); across instances pg-boss runs each tick once. */
  schedule(name: string, cron: string, handler: JobHandler): Promise<void>
  /** Handle one-off jobs of this name. */
  work(name: string, handler: JobHandler): Promise<void>
  /** Enqueue a one-off job. */
  send(name: string, data: Record<string, unknown>, opts?: { startAfterSeconds?: number, singletonKey?: string, retryLimit?: number, retryDelaySeconds?: number, retryBackoff?: boolean }): Promise<string | null>
}

declare module 'fastify' {
  interface FastifyInstance { jobs: Jobs }
}

const PG_BOSS_SCHEMA = 'pgboss'

export const jobsPlugin = fp<{ config: Config }>(async (app, { config }) => {
  if (!config.jobs.enabled) {
    app.decorate('jobs', {
      schedule: async () => {},
      work: async () => {},
      send: async (name) => { app.log.debug({ job: name }, 'jobs disabled: job not enqueued'); return null }
    } satisfies Jobs)
    return
  }

  const { database } = app
  // LISTEN/NOTIFY (one dedicated connection on PostgreSQL; in-process on PGlite): a new job wakes
  // its workers, on every instance, at once. Polling every JOBS_POLL_INTERVAL_SECONDS remains for
  // what no notification announces (a retry or a delayed job coming due) and if the listener drops.
  const boss = database.kind === 'postgres'
    ? new PgBoss({ connectionString: database.connectionString!, max: 3, application_name: 'switchboard-jobs', schema: PG_BOSS_SCHEMA, useListenNotify: true })
    : new PgBoss({ db: fromPglite(database.pglite!), backend: 'pglite', schema: PG_BOSS_SCHEMA, useListenNotify: true })
  boss.on('error', (err) => app.log.error({ err }, 'pg-boss error'))
  boss.on('warning', (warning) => app.log.warn({ warning }, 'pg-boss warning'))

  const poll = config.jobs.pollingIntervalSeconds
  const workOptions = { pollingIntervalSeconds: poll, notifyPollingIntervalSeconds: poll }
  const queues = new Set<string>()
  const ensureQueue = async (name: string): Promise<void> => {
    if (queues.has(name)) return
    await boss.createQueue(name, { notify: true })
    await boss.updateQueue(name, { notify: true }) // a queue made before notify was on
    queues.add(name)
  }
  const handle = (name: string, handler: JobHandler) => async (batch: Array<Job<Record<string, unknown>>>): Promise<void> => {
    for (const job of batch) {
      try {
        await handler(job.data ?? {})
      } catch (err) {
        app.log.error({ err, job: name, jobId: job.id }, 'job failed')
        throw err // pg-boss retries per the queue's or the job's retry options
      }
    }
  }

  let started = false
  const pending: Array<() => Promise<void>> = []
  const whenStarted = async (step: () => Promise<void>): Promise<void> => {
    if (started) await step()
    else pending.push(step)
  }

  const jobs: Jobs = {
    schedule: (name, cron, handler) => whenStarted(async () => {
      await ensureQueue(name)
      await boss.schedule(name, cron, {}, { tz: 'UTC' })
      await boss.work(name, workOptions, handle(name, handler))
    }),
    work: (name, handler) => whenStarted(async () => {
      await ensureQueue(name)
      await boss.work(name, workOptions, handle(name, handler))
    }),
    async send (name, data, opts = {}) {
      if (!started) throw new Error(`jobs: send("${name}") before the app is ready`)
      await ensureQueue(name)
      const options: SendOptions = {
        ...(opts.startAfterSeconds !== undefined && { startAfter: opts.startAfterSeconds }),
        ...(opts.singletonKey !== undefined && { singletonKey: opts.singletonKey }),
        ...(opts.retryLimit !== undefined && { retryLimit: opts.retryLimit }),
        ...(opts.retryDelaySeconds !== undefined && { retryDelay: opts.retryDelaySeconds }),
        ...(opts.retryBackoff !== undefined && { retryBackoff: opts.retryBackoff })
      }
      return boss.send(name, data, options)
    }
  }
  app.decorate('jobs', jobs)

  app.addHook('onReady', async () => {
    await boss.start()
    started = true
    for (const step of pending.splice(0)) await step()
  })
  app.addHook('onClose', async () => {
    if (started) await boss.stop({ graceful: true, timeout: config.shutdownGraceMs })
  })
}, { name: 'switchboard-jobs', fastify: '5.x', dependencies: ['switchboard-db'] })
