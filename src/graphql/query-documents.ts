/**
 * Parsed GraphQL documents by query text, shared by the team-limits hook (before Mercurius runs)
 * and the request log's operation describer (after the response), so each text is parsed once
 * for both. A text that does not parse is `null`: Mercurius reports the error itself.
 * Bounded: the memo starts over at MEMO_SIZE texts, and texts longer than MEMO_MAX_QUERY_LENGTH
 * are parsed each time rather than kept (a thousand of them could pin a lot of memory). What is
 * derived from a document is kept in WeakMaps keyed by it, so it goes when the document goes.
 */
import { parse, type DocumentNode } from 'graphql'

const MEMO_SIZE = 1000
const MEMO_MAX_QUERY_LENGTH = 16 * 1024

export class QueryDocuments {
  readonly #maxTokens: number
  #memo = new Map<string, DocumentNode | null>()

  constructor (opts: { maxTokens: number }) { this.#maxTokens = opts.maxTokens }

  get (query: string): DocumentNode | null {
    let document = this.#memo.get(query)
    if (document === undefined) {
      try {
        document = parse(query, { noLocation: true, maxTokens: this.#maxTokens })
      } catch {
        document = null
      }
      if (query.length > MEMO_MAX_QUERY_LENGTH) return document
      if (this.#memo.size >= MEMO_SIZE) this.#memo = new Map()
      this.#memo.set(query, document)
    }
    return document
  }
}
