/**
 * The rules of an Idempotency-Key request that need no database: which keys are accepted, what
 * makes two requests "the same", and which answers are kept for replay.
 */
import { createHash } from 'node:crypto'
import { badInput, ERROR_CODES, type ErrorCode } from '../../errors.ts'
import { fail, ok, type Result } from '../result.ts'

/** Stripe's limit, and the IETF draft's advice to bound keys. */
export const MAX_KEY_LENGTH = 255

/** Printable ASCII, as the draft's sf-string: safe to store, log and compare byte for byte. */
const KEY_CHARACTERS = /^[\x20-\x7e]+$/

export function checkKey (value: string | string[]): Result<string> {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH || !KEY_CHARACTERS.test(value)) {
    return fail(badInput(`Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters`, { header: 'Idempotency-Key' }))
  }
  return ok(value)
}

export interface OperationRequest { query: string, operationName?: string | null | undefined, variables?: unknown }

/**
 * Hex SHA-256 of what the operation does: its text, the operation chosen and the variables, the
 * variables with their object keys sorted (a client that re-serialises its retry in another key
 * order sends the same request). Absent, null and empty variables are the same.
 */
export function requestHash (op: OperationRequest): string {
  const variables = op.variables == null ? {} : canonical(op.variables)
  return createHash('sha256').update(JSON.stringify([op.query, op.operationName ?? null, variables])).digest('hex')
}

function canonical (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== 'object') return value
  const o = value as Record<string, unknown>
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, canonical(o[k])]))
}

/**
 * Whether an answer is stored for replay. Every outcome is (a success, and a client error such as
 * BAD_USER_INPUT or FORBIDDEN: the same request would get it again), except a failure the client
 * is told to retry — 429, a 5xx, or an answer without data whose errors are retryable: replaying
 * it would turn "retry later" into "never". Such a claim is released and a retry runs again.
 * With data (HTTP 200) the mutation ran, so even a partly failed answer is kept.
 */
export function keepsAnswer (status: number, codes: readonly ErrorCode[]): boolean {
  if (status < 400) return true
  if (status === 429 || status >= 500) return false
  return !codes.some((c) => ERROR_CODES[c].retryable)
}
