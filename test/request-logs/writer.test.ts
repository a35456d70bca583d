/**
 * The batched writer: bounded when the database is slow or down, retries what fits, counts and
 * logs what it drops, writes the rest on close; COPY/INSERT round-trip awkward text exactly;
 * scrubbing of outbound error text. Then the whole app with the log table unavailable.
 */
import t from 'tap'
import { sql } from 'drizzle-orm'
import { CopyInput, copyText, pgliteCopySink, postgresCopySink, type LogSink } from '../../src/domain/request-logs/log-sinks.ts'
import type { LogEntry } from '../../src/domain/request-logs/log-entry.ts'
import { logIdAt, idFloor, uuidV7 } from '../../src/domain/request-logs/log-ids.ts'
import { RequestLogWriter, type DropReason } from '../../src/domain/request-logs/request-log-writer.ts'
import { scrubPath, scrubSecrets } from '../../src/domain/request-logs/scrub.ts'
import { build, testDatabase } from '../helper.ts'

const entry = (i: number, extra: Partial<LogEntry> = {}): LogEntry => {
  const createdAt = new Date(Date.now() - 1000 + i)
  return {
    id: logIdAt(createdAt), createdAt, direction: 'inbound', teamId: null, requestId: `r-${i}`, principalKind: null, apiKeyId: null,
    userId: null, operationType: 'rest', operation: null, rootFields: [], endpoint: 'GET /x', method: 'GET', path: '/x', status: 200,
    success: true, errorCodes: [], errorMessage: null, durationMs: 1.5, cost: null, integrationId: null, provider: null, attempt: null,
    clientIp: null, userAgent: null, ...extra
  }
}

const quietLog = { info () {}, warn () {}, error () {} }

/** A sink that fails or hangs on demand and remembers what it wrote. */
function fakeSink () {
  const written: LogEntry[] = []
  let mode: 'ok' | 'fail' | 'hang' = 'ok'
  let release: () => void = () => {}
  const sink: LogSink & { written: LogEntry[], set(m: 'ok' | 'fail' | 'hang'): void } = {
    maxRows: 10,
    written,
    set (m) { mode = m; if (m !== 'hang') release() },
    async write (rows) {
      if (mode === 'fail') throw new Error('connection refused')
      if (mode === 'hang') await new Promise<void>((resolve) => { release = resolve })
      written.push(...rows)
    },
    async close () {}
  }
  return sink
}

t.test('writer: stays bounded while the sink fails, retries what it kept, counts the rest', async (t) => {
  const sink = fakeSink()
  const drops: Record<DropReason, number> = { buffer_full: 0, shutdown: 0 }
  let flushed = 0
  const errors: object[] = []
  const writer = new RequestLogWriter({
    sink, log: { ...quietLog, error: (o: object) => { errors.push(o) } }, flushMs: 60_000, batchSize: 1000, maxBuffer: 25,
    onFlushed: (n) => { flushed += n }, onDropped: (n, reason) => { drops[reason] += n }
  })
  sink.set('fail')
  for (let i = 0; i < 40; i++) writer.push(entry(i))
  t.equal(writer.depth, 25, 'the buffer stops at maxBuffer')
  t.equal(drops.buffer_full, 15, 'the overflow is counted')
  await writer.flush()
  t.equal(writer.depth, 25, 'a failed batch goes back to the buffer')
  t.equal(flushed, 0)
  t.ok(errors.length > 0, 'drops are logged')
  sink.set('ok')
  await writer.flush()
  t.equal(writer.depth, 0)
  t.equal(flushed, 25)
  t.same(sink.written.map((e) => e.requestId), Array.from({ length: 25 }, (_, i) => `r-${i}`), 'kept rows are written oldest first, once')
  await writer.close(1000)
  t.equal(drops.shutdown, 0)
})

t.test('writer: a hanging database never blocks push; close gives up at its deadline and counts the rest', async (t) => {
  const sink = fakeSink()
  let dropped = 0
  const writer = new RequestLogWriter({ sink, log: quietLog, flushMs: 10, batchSize: 5, maxBuffer: 50, onDropped: (n) => { dropped += n } })
  sink.set('hang')
  const started = performance.now()
  for (let i = 0; i < 200; i++) writer.push(entry(i))
  t.ok(performance.now() - started < 50, 'push returns at once')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(writer.depth <= 50, 'bounded while the write hangs')
  const closing = performance.now()
  await writer.close(200)
  t.ok(performance.now() - closing < 1000, 'close respects its deadline')
  t.ok(dropped >= 150, `dropped rows counted (${dropped})`)
  t.equal(writer.depth, 0)
  sink.set('ok')
})

t.test('writer: flushes by size without waiting for the interval', async (t) => {
  const sink = fakeSink()
  const writer = new RequestLogWriter({ sink, log: quietLog, flushMs: 60_000, batchSize: 5, maxBuffer: 100 })
  for (let i = 0; i < 5; i++) writer.push(entry(i))
  await new Promise((resolve) => setImmediate(resolve))
  await writer.flush()
  t.equal(sink.written.length, 5)
  await writer.close(1000)
})

t.test('sinks round-trip awkward values exactly', async (t) => {
  const { database } = await testDatabase(t)
  const sink = database.kind === 'postgres' ? await postgresCopySink(database.ownClient!) : pgliteCopySink(database.pglite!)
  t.teardown(() => sink.close())
  const awkward = 'tab\there, newline\nthere, back\\slash, "quote", {brace}, comma, , é ünïcode, \r return'
  const rows = [
    entry(1, { userAgent: awkward, rootFields: ['a,b', 'c"d', 'e\\f', 'NULL', ''], errorCodes: ['X'], errorMessage: awkward, status: null, durationMs: 0.125, cost: 7 }),
    entry(2, { direction: 'outbound', provider: 'github', attempt: 3, integrationId: '00000000-0000-7000-8000-000000000001', success: false })
  ]
  await sink.write(rows)
  const stored = await database.rows<Record<string, any>>(sql`select * from request_logs order by request_id`)
  t.equal(stored.length, 2)
  t.equal(stored[0]!.user_agent, awkward)
  t.equal(stored[0]!.error_message, awkward)
  t.same(stored[0]!.root_fields, ['a,b', 'c"d', 'e\\f', 'NULL', ''])
  t.equal(stored[0]!.status, null)
  t.equal(stored[0]!.duration_ms, 0.125)
  t.equal(stored[0]!.cost, 7)
  t.equal(stored[0]!.id, rows[0]!.id)
  t.equal(new Date(stored[0]!.created_at).getTime(), rows[0]!.createdAt.getTime())
  t.match(stored[1], { direction: 'outbound', provider: 'github', attempt: 3, success: false, integration_id: '00000000-0000-7000-8000-000000000001' })
})

t.test('copyText escapes COPY specials', async (t) => {
  t.equal(copyText([entry(1, { userAgent: 'a\tb\nc\\d' })]).split('\n').length, 2, 'one line per row')
  t.match(copyText([entry(1, { userAgent: 'a\tb\nc\\d' })]), /a\\tb\\nc\\\\d/)
})

t.test('CopyInput: a Blob of the UTF-8 text, read whole by arrayBuffer() as often as asked', async (t) => {
  const text = 'é ünïcode\tline\n'
  const blob = new CopyInput(text)
  const bytes = Buffer.from(text)
  t.ok(blob instanceof Blob)
  t.equal(blob.size, bytes.byteLength)
  t.equal(await blob.text(), text)
  const first = await blob.arrayBuffer()
  t.ok(first instanceof ArrayBuffer)
  t.same(Buffer.from(first), bytes)
  new Uint8Array(first).fill(0)
  t.same(Buffer.from(await blob.arrayBuffer()), bytes, 'each read is a fresh copy: a reader cannot change the next one')
})

t.test('log ids: time order and time bounds', async (t) => {
  const at = new Date('2026-05-01T12:00:00.000Z')
  const id = logIdAt(at)
  t.ok(idFloor(at) <= id && id < idFloor(new Date(at.getTime() + 1)), 'the id lies within its millisecond bounds')
  t.ok(logIdAt(new Date(at.getTime() - 1)) < idFloor(at))
})

t.test('scrubbing outbound text and paths', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['Authorization: Bearer abc.def-123', /Bearer abc/],
    ['{"access_token":"tok-123","refresh_token":"ref-456"}', /tok-123|ref-456/],
    ['failed: client_secret=cs-789&code=c-000&state=s-111', /cs-789|c-000|s-111/],
    ['token sb_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 rejected', /sb_live_AbCd/],
    ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here', /eyJhbGci/],
    ['opaque ' + 'Zx9'.repeat(15) + ' end', /Zx9Zx9Zx9/],
    ['password: hunter2', /hunter2/]
  ]
  for (const [input, secret] of cases) t.notMatch(scrubSecrets(input), secret, input)
  t.equal(scrubSecrets('Not Found: repo 0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee at /repos/acme/widgets'), 'Not Found: repo 0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee at /repos/acme/widgets', 'ordinary text, UUIDs and paths stay')
  t.equal(scrubPath('/services/T000/B000/' + 'x'.repeat(24)), '/services/T000/B000/[REDACTED]')
  t.equal(scrubPath('/repos/acme/widgets/issues/12'), '/repos/acme/widgets/issues/12')
})

t.test('database unavailable: the API keeps answering, the drop counter rises, rows come back after', async (t) => {
  const a = await build(t, { env: { REQUEST_LOG_MAX_BUFFER: '5', REQUEST_LOG_FLUSH_MS: '20' } })
  const { adminKey } = await a.seedTeam('down')
  await a.gql('{ viewer { scopes } }', { auth: adminKey }) // warm the key cache
  await a.app.requestLog.flush()
  // The log table disappears (as when the database refuses the writer's statements).
  await a.database.rows(sql`alter table request_logs rename to request_logs_away`)
  const dropped = async (): Promise<number> => {
    const m = await a.app.metrics.registry.getSingleMetric('switchboard_request_log_rows_dropped_total')!.get()
    return m.values.reduce((n, v) => n + v.value, 0)
  }
  const before = await dropped()
  for (let i = 0; i < 20; i++) {
    const res = await a.gql('{ viewer { scopes } }', { auth: adminKey })
    t.equal(res.status, 200, `call ${i} answered`)
  }
  await a.app.requestLog.flush()
  t.ok(a.app.requestLog.depth <= 5, 'the buffer stays bounded')
  t.ok(await dropped() - before >= 15, 'dropped rows are counted')
  const scrape = await a.app.metrics.registry.metrics()
  t.match(scrape, /switchboard_request_log_rows_dropped_total\{reason="buffer_full"\} [1-9]/)

  await a.database.rows(sql`alter table request_logs_away rename to request_logs`)
  // A flush already under way when the table came back still fails; the next ones succeed.
  const deadline = Date.now() + 5000
  do await a.app.requestLog.flush()
  while (a.app.requestLog.depth > 0 && Date.now() < deadline)
  t.equal(a.app.requestLog.depth, 0, 'the kept rows are written once the table is back')
  const [n] = await a.database.rows<{ n: number }>(sql`select count(*)::int as n from request_logs`)
  t.ok((n?.n ?? 0) >= 5, 'kept rows arrived')
})

t.test('uuidV7 (request ids): RFC 9562 layout, unique within one millisecond, ordered by time', async (t) => {
  const layout = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  const ms = Date.UTC(2026, 10, 23)
  const ids = Array.from({ length: 5000 }, () => uuidV7(ms))
  t.ok(ids.every((id) => layout.test(id)), 'every id has the v7 layout')
  t.equal(new Set(ids).size, ids.length, '5,000 ids in one millisecond, no repeats')
  t.ok(uuidV7(ms + 1) > ids[0]! && uuidV7(ms + 1) >= idFloor(new Date(ms + 1)), 'a later millisecond sorts after')
  t.ok(layout.test(uuidV7()), 'now by default')
})
