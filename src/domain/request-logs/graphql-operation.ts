/**
 * What a GraphQL request asked for, for its log row and metrics: operation type, name and root
 * fields, from the request body's query text through the parse the limits hook shares (the
 * executing document is not reachable from Fastify hooks); what is derived is kept per document,
 * so the common case costs a few Map lookups.
 */
import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql'

export interface OperationInfo {
  type: 'query' | 'mutation' | 'subscription' | null
  name: string | null
  rootFields: string[]
  /** The name, else the root fields joined by commas, else null. */
  operation: string | null
  /** `<type> <operation>` (`graphql (unknown)` when neither is known): the metrics label. */
  endpoint: string
}

/** Computed once per described document and operation name (kept per document), not once per request. */
function operationInfo (type: OperationInfo['type'], name: string | null, rootFields: string[]): OperationInfo {
  const operation = name ?? (rootFields.length > 0 ? rootFields.join(',') : null)
  return { type, name, rootFields, operation, endpoint: `${type ?? 'graphql'} ${operation ?? '(unknown)'}` }
}

const MAX_NAME = 200

/** Parsed documents by query text (src/graphql/query-documents.ts); null when a text does not parse. */
export interface DocumentSource { get(query: string): DocumentNode | null }

export class OperationDescriber {
  readonly #documents: DocumentSource
  /** Per document, by operation name ('' for an anonymous one): gone when the document is. */
  readonly #infos = new WeakMap<DocumentNode, Map<string, OperationInfo>>()

  constructor (opts: { documents: DocumentSource }) { this.#documents = opts.documents }

  describe (query: unknown, operationName: unknown): OperationInfo {
    const name = typeof operationName === 'string' && operationName !== '' ? operationName.slice(0, MAX_NAME) : null
    if (typeof query !== 'string') return operationInfo(null, name, [])
    const document = this.#documents.get(query)
    if (document === null) return operationInfo(null, name, [])
    let byName = this.#infos.get(document)
    if (byName === undefined) {
      byName = new Map()
      this.#infos.set(document, byName)
    }
    let info = byName.get(name ?? '')
    if (info === undefined) {
      info = this.#analyze(document, name)
      // Kept only for an operation the document has: client-chosen names cannot grow the map.
      if (info.type !== null) byName.set(name ?? '', info)
    }
    return info
  }

  #analyze (document: DocumentNode, name: string | null): OperationInfo {
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
