/** Expected failures are values inside the domain; the GraphQL edge unwraps them into errors. */
import type { AppError } from '../errors.ts'

export type Result<T> = { ok: true, value: T } | { ok: false, error: AppError }

export const ok = <T>(value: T): Result<T> => ({ ok: true, value })
export const fail = <T = never>(error: AppError): Result<T> => ({ ok: false, error })
