/**
 * Where the writer's batches go. Each batch is one transaction: the rows, plus their sums added
 * to the hourly rollup (log-rollup.ts) that requestLogStats reads, so the two never disagree.
 * postgres.js: COPY … FROM STDIN on a small client of its own (the shared client is wrapped by
 * drizzle, which changes its type handling, and a slow COPY must not hold a pool slot requests
 * need). PGlite: one COPY from `/dev/blob` per batch on the
 * embedded instance (COPY FROM STDIN needs a client stream PGlite does not have).
 */
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { PGlite } from '@electric-sql/pglite'
import type { Sql } from 'postgres'
import type { Database } from '../../db/client.ts'
import { errorCodes, isDatabaseUnavailable } from '../../db/errors.ts'
import { LOG_COLUMNS, type LogEntry } from './log-entry.ts'
import { ROLLUP_STATE_INIT, ROLLUP_UPSERT, rollupParams } from './log-rollup.ts'
import { arrayLiteral } from './pg-array.ts'

export interface LogSink {
  /** Most rows one `write` should carry. */
  readonly maxRows: number
  /** How many `write`s may run at once (each on its own connection); 1 when absent. */
  readonly concurrency?: number
  write(rows: LogEntry[]): Promise<void>
  close(): Promise<void>
}

const COLUMN_LIST = LOG_COLUMNS.map(([, c]) => c).join(', ')
/** SQLSTATE 0A000: "COPY FROM not supported with row-level security" (a forced table, an owner without BYPASSRLS). */
const COPY_REFUSED_UNDER_RLS = '0A000'
/** Per session, emptied at every commit: the COPY target when request_logs itself refuses COPY. */
const STAGING_TABLE = 'create temporary table if not exists request_logs_staging (like request_logs including defaults) on commit delete rows'

// ---- postgres.js: COPY in text format ----

// Encoding is on the event loop, so it is written for speed: one template per row with a
// specialised encoder per column type (the generic per-field version with a regex callback per
// value cost ~20 µs a row, more than the COPY itself). NUL cannot be stored in text: dropped.
const COPY_SPECIALS = /[\\\t\n\r\0]/g
const copyEscapeChar = (c: string): string => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '')
function copyEscape (s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 92 || (c < 14 && (c === 9 || c === 10 || c === 13 || c === 0))) return s.replace(COPY_SPECIALS, copyEscapeChar)
  }
  return s
}

const N = '\\N'
const txt = (v: string | null): string => (v === null ? N : copyEscape(v))
/** Values this code makes itself (UUIDs from the database or logIdAt, fixed words): nothing to escape. */
const own = (v: string | null): string => (v === null ? N : v)
const int = (v: number | null): string => (v === null || !Number.isFinite(v) ? N : String(v))
const arr = (v: readonly string[]): string => copyEscape(arrayLiteral(v))

/** One COPY text line per row, in LOG_COLUMNS order (the tests pin the order against LOG_COLUMNS). */
export function copyLine (r: LogEntry): string {
  return `${own(r.id)}\t${r.createdAt.toISOString()}\t${own(r.direction)}\t${own(r.teamId)}\t${txt(r.requestId)}\t${own(r.principalKind)}\t${own(r.apiKeyId)}\t${txt(r.userId)}\t${txt(r.operationType)}\t${txt(r.operation)}\t${arr(r.rootFields)}\t${txt(r.endpoint)}\t${txt(r.method)}\t${txt(r.path)}\t${int(r.status)}\t${r.success ? 't' : 'f'}\t${arr(r.errorCodes)}\t${txt(r.errorMessage)}\t${int(r.durationMs)}\t${int(r.cost)}\t${txt(r.integrationId)}\t${txt(r.provider)}\t${int(r.attempt)}\t${txt(r.clientIp)}\t${txt(r.userAgent)}\n`
}

export function copyText (rows: readonly LogEntry[]): string {
  let out = ''
  for (let i = 0; i < rows.length; i++) out += copyLine(rows[i]!)
  return out
}

/** Rows per piece of the COPY stream: Postgres parses one piece while the next is encoded. */
const COPY_PIECE = 500

function * copyPieces (rows: readonly LogEntry[]): Generator<string> {
  for (let i = 0; i < rows.length; i += COPY_PIECE) {
    let out = ''
    const end = Math.min(rows.length, i + COPY_PIECE)
    for (let k = i; k < end; k++) out += copyLine(rows[k]!)
    yield out
  }
}

/**
 * COPY on `lanes` connections of its own, so two batches can be in flight: Postgres parses and
 * indexes one while Node encodes the next (on two cores: 1 lane ≈ 31k, 2 lanes ≈ 45k rows/s under load).
 */
export async function postgresCopySink (ownClient: NonNullable<Database['ownClient']>, maxRows = 5000, lanes = 2): Promise<LogSink> {
  // One client per lane with max: 1, which makes the explicit begin/commit below legal and keeps
  // them on one session (a COPY inside sql.begin() leaks the transaction when the server rejects
  // the data: porsager/postgres#1173). Their connect timeout and reconnect backoff are the pool's
  // bounded ones (db/client.ts): with postgres.js's default backoff a lane waited 10–20 s to
  // reconnect after an outage while its rows piled up and were dropped.
  const lane = (): Lane => {
    const l: Lane = {
      sql: ownClient({ applicationName: 'switchboard-request-log', max: 1, idleTimeoutSeconds: 60, onclose: () => l.lost?.() }),
      lost: undefined
    }
    return l
  }
  const idle = Array.from({ length: lanes }, lane)
  const busy = new Set<Lane>()
  let stateReady = false
  /** Set once COPY into request_logs was refused under forced row-level security (see write). */
  let viaStaging = false
  return {
    maxRows,
    concurrency: lanes,
    async write (rows) {
      let current = idle.pop()
      if (current === undefined) throw new Error(`more than ${lanes} concurrent request-log writes`)
      busy.add(current)
      // A COPY whose connection dies after its last piece never settles in postgres.js (the
      // stream waits for a CommandComplete that cannot come), which stalled the writer for good
      // after an outage: the lane's connection closing fails the write instead.
      const lost = new Promise<never>((_resolve, reject) => {
        current!.lost = () => { reject(Object.assign(new Error('request-log connection closed during a write'), { code: 'CONNECTION_CLOSED' })) }
      })
      lost.catch(() => {})
      try {
        const staged = viaStaging // the other lane may switch while this one copies
        try {
          await Promise.race([copyBatch(current.sql, rows, staged), lost])
        } catch (err) {
          if (staged || !errorCodes(err).includes(COPY_REFUSED_UNDER_RLS)) throw err
          // A table owner without BYPASSRLS may not COPY into a table with forced row-level
          // security: from now on this sink copies into a temporary table and moves the rows
          // with one INSERT … SELECT, which the owner's policy allows.
          await current.sql.unsafe('rollback').catch(() => {})
          viaStaging = true
          await Promise.race([copyBatch(current.sql, rows, true), lost])
        }
        stateReady = true
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          // Its connection is gone, and postgres.js may not reconnect it cleanly (db/client.ts,
          // RenewablePool): the next write gets a new client; nothing to roll back on this one.
          void current.sql.end({ timeout: 0 }).catch(() => {})
          busy.delete(current)
          current = lane()
        } else {
          await current.sql.unsafe('rollback').catch(() => {})
        }
        throw err
      } finally {
        current.lost = undefined
        busy.delete(current)
        idle.push(current)
      }
    },
    async close () { await Promise.all([...idle, ...busy].map((c) => c.sql.end({ timeout: 5 }))) }
  }

  async function copyBatch (sql: Sql, rows: LogEntry[], staging: boolean): Promise<void> {
    const params = rollupParams(rows)
    await sql.unsafe('begin')
    if (staging) await sql.unsafe(STAGING_TABLE)
    const stream = await sql.unsafe(`copy ${staging ? 'request_logs_staging' : 'request_logs'} (${COLUMN_LIST}) from stdin`).writable()
    await pipeline(Readable.from(copyPieces(rows)), stream)
    if (staging) await sql.unsafe(`insert into request_logs (${COLUMN_LIST}) select ${COLUMN_LIST} from request_logs_staging`)
    if (params !== undefined) await sql.unsafe(ROLLUP_UPSERT, params)
    if (!stateReady) await sql.unsafe(ROLLUP_STATE_INIT)
    await sql.unsafe('commit')
  }
}

interface Lane { sql: Sql, lost: (() => void) | undefined }

// ---- PGlite: COPY from a blob ----

/**
 * The COPY input, as the Blob PGlite reads with `arrayBuffer()`. Under load, each call of Node's
 * own `Blob#arrayBuffer` (an ArrayBuffer joined in C++), like taking the `.buffer` of a fresh
 * Uint8Array, made V8 discard optimised code of Node's HTTP and stream internals: ~80 functions
 * per 8 s at one flush every 250 ms, each then recompiled (`--trace-deopt`: "dependent prototype
 * chain changed"). An ArrayBuffer made with `new ArrayBuffer` and filled through a view does not,
 * so this Blob hands PGlite one of those; size, text() and stream() are a Blob's own.
 */
export class CopyInput extends Blob {
  readonly #bytes: Uint8Array

  constructor (text: string) {
    const bytes = new TextEncoder().encode(text)
    super([bytes])
    this.#bytes = bytes
  }

  override arrayBuffer (): Promise<ArrayBuffer> {
    const out = new ArrayBuffer(this.#bytes.byteLength)
    new Uint8Array(out).set(this.#bytes)
    return Promise.resolve(out)
  }
}

/**
 * PGlite has no client stream for COPY FROM STDIN, but reads COPY input from `/dev/blob`: the
 * same text lines as the postgres.js sink, one COPY per batch. Measured here about 3× cheaper a
 * row than a multi-row INSERT with bound parameters, which matters because on PGlite the write
 * runs on the event loop that serves requests.
 */
export function pgliteCopySink (pglite: PGlite, maxRows = 500): LogSink {
  const copy = `copy request_logs (${COLUMN_LIST}) from '/dev/blob'`
  let stateReady = false
  return {
    maxRows,
    async write (rows) {
      const blob = new CopyInput(copyText(rows))
      const rollup = rollupParams(rows)
      await pglite.transaction(async (tx) => {
        await tx.query(copy, [], { blob })
        if (rollup !== undefined) await tx.query(ROLLUP_UPSERT, rollup)
        if (!stateReady) await tx.query(ROLLUP_STATE_INIT)
      })
      stateReady = true
    },
    async close () {}
  }
}
