/**
 * Small statistics and markdown helpers shared by the benchmarks. Every benchmark prints one
 * markdown section (a heading and a table with a ratio/target column) to stdout.
 */

export function median (values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Nearest-rank percentile of unsorted samples (p in 0..100). */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const s = Float64Array.from(values).sort()
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return s[rank]!
}

export function fmtInt (n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'
}

export function fmtNum (n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–'
}

export function table (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const esc = (c: string): string => c.replaceAll('|', '\\|')
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)
  ].join('\n')
}

/**
 * "at least `target`" check on a ratio, saying by how much a miss falls short.
 * e.g. atLeast(0.70, 0.75, '× Mercurius') → "❌ 0.70 × Mercurius, needs ≥ 0.75: short by 6.7 %"
 */
export function atLeast (measured: number, target: number, unit: string): string {
  if (!Number.isFinite(measured)) return `? needs ≥ ${fmtNum(target)}${unit}`
  if (measured >= target) return `✅ ${fmtNum(measured)}${unit} (≥ ${fmtNum(target)})`
  const short = (1 - measured / target) * 100
  return `❌ ${fmtNum(measured)}${unit}, needs ≥ ${fmtNum(target)}: short by ${short.toFixed(1)} %`
}

/** "below `limit`" check, saying by how much a miss is over. */
export function below (measured: number, limit: number, unit: string): string {
  if (!Number.isFinite(measured)) return `? needs < ${fmtNum(limit, 0)} ${unit}`
  if (measured < limit) return `✅ ${fmtNum(measured, 0)} ${unit} (< ${fmtNum(limit, 0)} ${unit})`
  const over = (measured / limit - 1) * 100
  return `❌ ${fmtNum(measured, 0)} ${unit}, needs < ${fmtNum(limit, 0)}: over by ${over.toFixed(1)} %`
}

/** Positive integer from an environment variable (the benchmarks' knobs), else the default. */
export function envInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got "${raw}")`)
  return n
}

export function envFlag (name: string): boolean {
  const raw = process.env[name]
  return raw !== undefined && ['1', 'true', 'yes'].includes(raw.toLowerCase())
}
