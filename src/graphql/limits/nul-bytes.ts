/**
 * NUL bytes (U+0000) in GraphQL inputs. PostgreSQL stores no NUL in text or jsonb, so a NUL that
 * reached a query failed there, as a 500 whose log line quoted the statement's parameters. They
 * are refused once, before execution (limits-hook.ts): in variables at any depth, keys included,
 * and in the document's string literals, where `\u0000` (or `\u{0}`) is the only way to write
 * one: a raw NUL in the text is already a syntax error.
 */
import { Kind, visit, BREAK, type DocumentNode } from 'graphql'

export const NUL_MESSAGE = 'String inputs must not contain NUL (\\u0000) characters'

export const hasNul = (s: string): boolean => s.includes('\u0000')

/**
 * Whether a JSON value holds a NUL in any string or key. Iterative: a body within the size limit
 * can nest deeper than the call stack.
 */
export function valueHasNul (value: unknown): boolean {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const v = pending.pop()
    if (typeof v === 'string') {
      if (hasNul(v)) return true
    } else if (Array.isArray(v)) {
      for (const inner of v) pending.push(inner)
    } else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (hasNul(k)) return true
        pending.push(inner)
      }
    }
  }
  return false
}

const literalsChecked = new WeakMap<DocumentNode, boolean>()

/** Whether a string literal in the document holds a NUL; `text` is the document's source. */
export function documentHasNul (document: DocumentNode, text: string): boolean {
  // Only an escape sequence can write a NUL, and every escape that could starts with `\u`.
  if (!text.includes('\\u')) return false
  let found = literalsChecked.get(document)
  if (found === undefined) {
    found = false
    visit(document, {
      [Kind.STRING] (node) {
        if (!hasNul(node.value)) return undefined
        found = true
        return BREAK
      }
    })
    literalsChecked.set(document, found)
  }
  return found
}
