/**
 * The batched request-log writer. `push` only appends to a bounded in-memory buffer; rows are
 * written by a sink (COPY) every `flushMs`, or as soon as `batchSize` rows
 * wait, never on the request path. When the database is slow or down the buffer stops at
 * `maxBuffer`: further rows are dropped, counted (`onDropped`, a metric) and logged, and the
 * API keeps serving. A failed batch goes back to the front of the buffer while there is room,
 * so a short outage loses nothing. `close` writes what is left, within a deadline.
 */
import type { Logger } from '../logger.ts'
import type { LogEntry } from './log-entry.ts'
import type { LogSink } from './log-sinks.ts'

export type DropReason = 'buffer_full' | 'shutdown'

export interface RequestLogWriterDeps {
  sink: LogSink
  log: Logger
  flushMs: number
  batchSize: number
  maxBuffer: number
  onFlushed?: (rows: number) => void
  onDropped?: (rows: number, reason: DropReason) => void
}

const DROP_LOG_INTERVAL_MS = 5000
/** Smallest batch worth a transaction of its own when several can run at once. */
const MIN_PARALLEL_ROWS = 1000

export class RequestLogWriter {
  readonly #d: RequestLogWriterDeps
  #buffer: LogEntry[] = []
  #draining: Promise<void> | undefined
  #soon = false
  #closed = false
  #timer: NodeJS.Timeout
  #droppedUnlogged = 0
  #lastDropLog = 0
  #failing = false

  constructor (deps: RequestLogWriterDeps) {
    this.#d = deps
    this.#timer = setInterval(() => { void this.flush() }, deps.flushMs)
    this.#timer.unref()
  }

  /** Rows waiting to be written. */
  get depth (): number { return this.#buffer.length }

  push (entry: LogEntry): void {
    if (this.#closed) { this.#drop(1, 'shutdown'); return }
    if (this.#buffer.length >= this.#d.maxBuffer) { this.#drop(1, 'buffer_full'); return }
    this.#buffer.push(entry)
    if (this.#buffer.length >= this.#d.batchSize && !this.#soon && !this.#failing) {
      this.#soon = true
      setImmediate(() => { this.#soon = false; void this.flush() })
    }
  }

  /** Write everything buffered so far (one drain at a time; callers share it). Never rejects. */
  flush (): Promise<void> {
    this.#draining ??= this.#drain().finally(() => { this.#draining = undefined })
    return this.#draining
  }

  /** Stop taking rows, write what is left within `timeoutMs`, count the rest as dropped. */
  async close (timeoutMs: number): Promise<void> {
    clearInterval(this.#timer)
    this.#closed = true
    const deadline = Date.now() + timeoutMs
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    try {
      // A drain already under way has taken its rows out of the buffer: wait for it too, or
      // the sink would be closed under rows still being written.
      while ((this.#buffer.length > 0 || this.#draining !== undefined) && Date.now() < deadline) {
        const before = this.#buffer.length
        if (await Promise.race([this.flush(), expired]) === 'timeout') break
        if (this.#failing && this.#buffer.length >= before) await Promise.race([new Promise((resolve) => setTimeout(resolve, 200)), expired])
      }
    } finally {
      clearTimeout(timer)
    }
    const left = this.#buffer.length
    this.#buffer = []
    if (left > 0) this.#drop(left, 'shutdown')
    this.#logDrops(true)
    await this.#d.sink.close().catch((err: unknown) => this.#d.log.warn({ err }, 'request-log sink close failed'))
  }

  async #drain (): Promise<void> {
    // Up to `sink.concurrency` batches in flight; a batch is split across them only when each
    // part still has MIN_PARALLEL_ROWS rows (small flushes stay one transaction).
    const lanes = Math.max(1, this.#d.sink.concurrency ?? 1)
    let failed = false
    const lane = async (): Promise<void> => {
      while (this.#buffer.length > 0 && !failed) {
        const size = Math.min(this.#d.sink.maxRows, Math.max(MIN_PARALLEL_ROWS, Math.ceil(this.#buffer.length / lanes)))
        const chunk = this.#buffer.splice(0, size)
        try {
          // Cross-team (runs as the owner): a batch mixes many teams' rows; the sink writes them and their rollup sums.
          await this.#d.sink.write(chunk)
          this.#d.onFlushed?.(chunk.length)
          if (this.#failing) this.#d.log.info({ rows: chunk.length }, 'request-log writes succeed again')
          this.#failing = false
        } catch (err) {
          failed = true
          // Keep what fits for the next attempt (oldest first); the overflow is dropped and counted.
          const room = Math.max(0, this.#d.maxBuffer - this.#buffer.length)
          const kept = chunk.length <= room ? chunk : chunk.slice(chunk.length - room)
          this.#buffer = kept.concat(this.#buffer)
          if (kept.length < chunk.length) this.#drop(chunk.length - kept.length, 'buffer_full')
          if (!this.#failing) this.#d.log.warn({ err, rows: chunk.length, buffered: this.#buffer.length }, 'request-log write failed; rows kept for retry while the buffer has room')
          this.#failing = true
        }
      }
    }
    await Promise.all(Array.from({ length: lanes }, lane))
    this.#logDrops(false)
  }

  #drop (rows: number, reason: DropReason): void {
    this.#d.onDropped?.(rows, reason)
    this.#droppedUnlogged += rows
  }

  #logDrops (force: boolean): void {
    if (this.#droppedUnlogged === 0) return
    const now = Date.now()
    if (!force && now - this.#lastDropLog < DROP_LOG_INTERVAL_MS) return
    this.#d.log.error({ droppedRows: this.#droppedUnlogged, buffered: this.#buffer.length, maxBuffer: this.#d.maxBuffer }, 'request-log rows dropped: the database is slow or unavailable')
    this.#droppedUnlogged = 0
    this.#lastDropLog = now
  }
}
