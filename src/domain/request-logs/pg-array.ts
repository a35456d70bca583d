/**
 * Postgres array literals (`{"a","b\"c",NULL,3}`), for the COPY text of log rows and for the
 * rollup upsert's array parameters. Strings are always quoted (so `NULL`, `''` and commas stay
 * themselves); backslash and double quote are escaped.
 */
const SPECIAL = /[\\"]/
const SPECIALS = /[\\"]/g

const item = (v: string | number | null): string =>
  v === null ? 'NULL' : typeof v === 'number' ? String(v) : `"${SPECIAL.test(v) ? v.replace(SPECIALS, '\\$&') : v}"`

export function arrayLiteral (items: ReadonlyArray<string | number | null>): string {
  if (items.length === 0) return '{}'
  let out = '{' + item(items[0]!)
  for (let i = 1; i < items.length; i++) out += ',' + item(items[i]!)
  return out + '}'
}
