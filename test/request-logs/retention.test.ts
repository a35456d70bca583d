/**
 * Retention runs as a pg-boss job on the app's own database (PGlite adapter or Postgres pool):
 * rows older than REQUEST_LOG_RETENTION_DAYS go, newer ones stay; the schedule is registered.
 * Also the `app.jobs` interface other areas use.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { requestLogs } from '../../src/db/schema.ts'
import { logIdAt } from '../../src/domain/request-logs/log-ids.ts'
import { RETENTION_JOB } from '../../src/plugins/request-log.ts'
import { build } from '../helper.ts'

const DAY = 86_400_000

async function until (check: () => Promise<boolean>, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

t.test('jobs and retention on pg-boss', async (t) => {
  const a = await build(t, { env: { JOBS_ENABLED: 'true', JOBS_POLL_INTERVAL_SECONDS: '1', REQUEST_LOG_RETENTION_DAYS: '7' } })
  const { app } = a

  t.test('the daily retention job deletes only rows past retention, in batches', async (t) => {
    const now = Date.now()
    const ages = [30, 10, 8, 6.9, 1, 0]
    const rows = []
    for (const age of ages) {
      for (let i = 0; i < 3; i++) {
        const at = new Date(now - age * DAY + i)
        rows.push({ id: logIdAt(at), createdAt: at, direction: 'inbound', requestId: `age-${age}`, endpoint: 'GET /x', method: 'GET', path: '/x', success: true, durationMs: 1 })
      }
    }
    await app.database.db.insert(requestLogs).values(rows)
    const schedules = await app.database.rows<{ name: string, cron: string }>(sql`select name, cron from pgboss.schedule`)
    t.same(schedules.find((s) => s.name === RETENTION_JOB), { name: RETENTION_JOB, cron: '17 3 * * *' }, 'scheduled daily')

    await app.jobs.send(RETENTION_JOB, {})
    const left = async (): Promise<string[]> => (await app.database.rows<{ request_id: string }>(sql`select distinct request_id from request_logs where request_id like 'age-%' order by 1`)).map((r) => r.request_id)
    t.ok(await until(async () => (await left()).length === 3), 'the job ran')
    t.same(await left(), ['age-0', 'age-1', 'age-6.9'], 'rows younger than 7 days stay')
  })

  t.test('purge works in batches', async (t) => {
    const old = Date.now() - 40 * DAY
    await app.database.db.insert(requestLogs).values(Array.from({ length: 25 }, (_, i) => {
      const at = new Date(old + i)
      return { id: logIdAt(at), createdAt: at, direction: 'inbound', requestId: 'batch', endpoint: 'GET /x', method: 'GET', path: '/x', success: true, durationMs: 1 }
    }))
    t.equal(await app.services.requestLogs!.purgeOlderThan(new Date(Date.now() - 30 * DAY), 10), 25)
  })

  t.test('app.jobs: work and send, with retries', async (t) => {
    const seen: Array<Record<string, unknown>> = []
    let failures = 0
    await app.jobs.work('test.echo', async (data) => {
      if (data.failOnce === true && failures === 0) { failures++; throw new Error('first try fails') }
      seen.push(data)
    })
    const id = await app.jobs.send('test.echo', { n: 1, failOnce: true, nonce: randomUUID() }, { retryLimit: 2, retryDelaySeconds: 1 })
    t.type(id, 'string')
    t.ok(await until(async () => seen.length === 1), 'handled after one retry')
    t.equal(failures, 1)
    t.equal(seen[0]!.n, 1)
    const later = await app.jobs.send('test.later', { x: 1 }, { startAfterSeconds: 3600 })
    const [job] = await app.database.rows<{ late: boolean }>(sql`select start_after > now() + interval '50 minutes' as late from pgboss.job where id = ${later}::uuid`)
    t.equal(job?.late, true, 'startAfterSeconds delays the job')
  })
})

t.test('a job wakes its worker through LISTEN/NOTIFY, long before the next poll', async (t) => {
  // Polling every 60 s (and the notify backstop every 30 s): only a notification can deliver within seconds.
  const a = await build(t, { env: { JOBS_ENABLED: 'true', JOBS_POLL_INTERVAL_SECONDS: '60' } })
  const handled: number[] = []
  await a.app.jobs.work('test.notify', async () => { handled.push(Date.now()) })
  await new Promise((resolve) => setTimeout(resolve, 1500)) // past the worker's first (empty) fetch
  const sentAt = Date.now()
  await a.app.jobs.send('test.notify', { nonce: randomUUID() })
  t.ok(await until(async () => handled.length === 1, 10_000), 'handled')
  t.ok(handled[0]! - sentAt < 10_000, `handled ${handled[0]! - sentAt} ms after send`)
})

t.test('JOBS_ENABLED=false: nothing starts, send answers null', async (t) => {
  const a = await build(t, { env: { JOBS_ENABLED: 'false' } })
  t.equal(await a.app.jobs.send('anything', {}), null)
  const [schema] = await a.database.rows<{ n: number }>(sql`select count(*)::int as n from pg_namespace where nspname = 'pgboss'`)
  t.equal(schema?.n, 0, 'no pg-boss schema was installed')
})
