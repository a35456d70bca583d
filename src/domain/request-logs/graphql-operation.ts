/**
 * What a GraphQL request asked for, for its log row and metrics: operation type, name and root
 * fields. Parsed from the request body (the executing document is not reachable from Fastify
 * hooks); repeated queries hit a small memo, so the common case costs a Map lookup.
 */
import { Kind, parse, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql'

export interface OperationInfo {
  type: 'query' | 'mutation' | 'subscription' | null
  name: string | null
  rootFields: string[]
  /** The name, else the root fields joined by commas, else null. */
  operation: string | null
  /** `<type> <operation>` (`graphql (unknown)` when neither is known): the metrics label. */
  endpoint: string
}

/** Computed once per described document (the memo keeps the result), not once per request. */
function operationInfo (type: OperationInfo['type'], name: string | null, rootFields: string[]): OperationInfo {
  const operation = name ?? (rootFields.length > 0 ? rootFields.join(',') : null)
  return { type, name, rootFields, operation, endpoint: `${type ?? 'graphql'} ${operation ?? '(unknown)'}` }
}

const MEMO_SIZE = 1000
const MEMO_MAX_QUERY_LENGTH = 16 * 1024
const MAX_NAME = 200

export class OperationDescriber {
  readonly #maxTokens: number
  #memo = new Map<string, OperationInfo>()

  constructor (opts: { maxTokens: number }) { this.#maxTokens = opts.maxTokens }

  describe (query: unknown, operationName: unknown): OperationInfo {
    const name = typeof operationName === 'string' && operationName !== '' ? operationName.slice(0, MAX_NAME) : null
    if (typeof query !== 'string') return operationInfo(null, name, [])
    const key = name === null ? query : `${name}\u0000${query}`
    let info = this.#memo.get(key)
    if (info === undefined) {
      info = this.#analyze(query, name)
      if (query.length > MEMO_MAX_QUERY_LENGTH) return info // not kept: 1000 of them could pin a lot of memory
      if (this.#memo.size >= MEMO_SIZE) this.#memo.clear()
      this.#memo.set(key, info)
    }
    return info
  }

  #analyze (query: string, name: string | null): OperationInfo {
    let document: DocumentNode
    try {
      document = parse(query, { noLocation: true, maxTokens: this.#maxTokens })
    } catch {
      return operationInfo(null, name, [])
    }
    const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
    const op = name === null ? (ops.length === 1 ? ops[0] : undefined) : ops.find((o) => o.name?.value === name)
    if (op === undefined) return operationInfo(null, name, [])
    const fragments = new Map<string, SelectionSetNode>()
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d.selectionSet)
    const fields = new Set<string>()
    const collect = (set: SelectionSetNode, seen: Set<string>): void => {
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) fields.add(sel.name.value)
        else if (sel.kind === Kind.INLINE_FRAGMENT) collect(sel.selectionSet, seen)
        else if (!seen.has(sel.name.value)) {
          seen.add(sel.name.value)
          const f = fragments.get(sel.name.value)
          if (f !== undefined) collect(f, seen)
        }
      }
    }
    collect(op.selectionSet, new Set())
    return operationInfo(op.operation, op.name?.value ?? name, [...fields].sort())
  }
}
