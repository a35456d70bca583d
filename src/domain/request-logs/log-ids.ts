/**
 * Request-log ids are UUIDv7 made from the row's `created_at`, so id order is time order and a
 * time bound is an id bound: `created_at >= t` ⇔ `id >= idFloor(t)`. Queries and retention use
 * these bounds to stay on the btree indexes.
 */
import { v7 } from 'uuid'

export const logIdAt = (at: Date): string => v7({ msecs: at.getTime() })

/** The smallest UUIDv7 of millisecond `at`: every id made at or after `at` sorts at or above it. */
export function idFloor (at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0').slice(-12)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`
}
