/**
 * Where the writer's batches go. postgres.js: COPY … FROM STDIN on a small client of its own
 * (the shared client is wrapped by drizzle, which changes its type handling, and a slow COPY must
 * not hold a pool slot requests need). PGlite: one multi-row INSERT per batch on the embedded
 * instance (COPY FROM STDIN needs a client stream PGlite does not have).
 */
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { PGlite } from '@electric-sql/pglite'
import { LOG_COLUMNS, type LogEntry } from './log-entry.ts'

export interface LogSink {
  /** Most rows one `write` should carry. */
  readonly maxRows: number
  write(rows: LogEntry[]): Promise<void>
  close(): Promise<void>
}

const COLUMN_LIST = LOG_COLUMNS.map(([, c]) => c).join(', ')

// ---- postgres.js: COPY in text format ----

const copyEscape = (s: string): string => s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
const arrayLiteral = (items: readonly string[]): string => `{${items.map((i) => `"${i.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`

function copyField (value: unknown): string {
  if (value === null || value === undefined) return '\\N'
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return copyEscape(arrayLiteral(value as string[]))
  if (typeof value === 'boolean') return value ? 't' : 'f'
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '\\N'
  return copyEscape(String(value))
}

export function copyText (rows: readonly LogEntry[]): string {
  let out = ''
  for (const row of rows) {
    let line = ''
    for (let i = 0; i < LOG_COLUMNS.length; i++) line += (i === 0 ? '' : '\t') + copyField(row[LOG_COLUMNS[i]![0]])
    out += line + '\n'
  }
  return out
}

export async function postgresCopySink (connectionString: string, maxRows = 5000): Promise<LogSink> {
  const { default: postgres } = await import('postgres')
  const sql = postgres(connectionString, {
    max: 1,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
    connection: { application_name: 'switchboard-request-log' }
  })
  return {
    maxRows,
    async write (rows) {
      const stream = await sql.unsafe(`copy request_logs (${COLUMN_LIST}) from stdin`).writable()
      await pipeline(Readable.from([copyText(rows)]), stream)
    },
    async close () { await sql.end({ timeout: 5 }) }
  }
}

// ---- PGlite: multi-row INSERT ----

export function pgliteInsertSink (pglite: PGlite, maxRows = 500): LogSink {
  const width = LOG_COLUMNS.length
  const casts = LOG_COLUMNS.map(([key]) => (key === 'rootFields' || key === 'errorCodes' ? '::text[]' : ''))
  const statements = new Map<number, string>()
  const statement = (n: number): string => {
    let text = statements.get(n)
    if (text === undefined) {
      const tuples: string[] = []
      for (let r = 0; r < n; r++) tuples.push(`(${casts.map((cast, c) => `$${r * width + c + 1}${cast}`).join(', ')})`)
      text = `insert into request_logs (${COLUMN_LIST}) values ${tuples.join(', ')}`
      if (statements.size < 8) statements.set(n, text)
    }
    return text
  }
  return {
    maxRows: Math.min(maxRows, Math.floor(65_535 / width)),
    async write (rows) {
      const params: unknown[] = []
      for (const row of rows) {
        for (const [key] of LOG_COLUMNS) {
          const v = row[key]
          params.push(Array.isArray(v) ? arrayLiteral(v) : v instanceof Date ? v.toISOString() : v)
        }
      }
      await pglite.query(statement(rows.length), params)
    },
    async close () {}
  }
}
