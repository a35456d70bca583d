import type { Result } from '../domain/result.ts'

/** The one place a domain failure becomes a GraphQL error (formatted by error-formatter.ts). */
export function unwrap<T> (result: Result<T>): T {
  if (result.ok) return result.value
  throw result.error
}
