/**
 * Long connector operations on the job queue: the worker of `operations.run` jobs (one queued
 * run each, executed as the run's team; its outcome is recorded on the run, so the job itself
 * never retries), and on close a wait for runs executing in this process when jobs are disabled.
 */
import fp from 'fastify-plugin'
import { RUN_JOB } from '../domain/operations/operation.service.ts'

export const operationsPlugin = fp(async (app) => {
  const { operations } = app.services
  await app.jobs.work(RUN_JOB, async (data) => {
    await operations.executeJob({ runId: String(data.runId), ...(typeof data.teamId === 'string' && { teamId: data.teamId }) })
  })
  app.addHook('onClose', async () => { await operations.drain() })
}, { name: 'switchboard-operations', fastify: '5.x', dependencies: ['switchboard-services', 'switchboard-jobs'] })
