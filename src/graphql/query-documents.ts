/**
 * Parsed GraphQL documents by query text, shared by the team-limits hook (before Mercurius runs)
 * and the request log's operation describer (after the response), so each text is parsed once
 * for both. A text that does not parse keeps its syntax error: the limits hook answers it, so
 * Mercurius never sees it (it would try the text as a JSON syntax tree, which skips the token limit).
 * Bounded: the memo starts over at MEMO_SIZE texts, and texts longer than MEMO_MAX_QUERY_LENGTH
 * are parsed each time rather than kept (a thousand of them could pin a lot of memory). What is
 * derived from a document is kept in WeakMaps keyed by it, so it goes when the document goes.
 */
import { GraphQLError, parse, type DocumentNode } from 'graphql'

const MEMO_SIZE = 1000
const MEMO_MAX_QUERY_LENGTH = 16 * 1024

export class QueryDocuments {
  readonly #maxTokens: number
  #memo = new Map<string, DocumentNode | GraphQLError>()

  constructor (opts: { maxTokens: number }) { this.#maxTokens = opts.maxTokens }

  /** The document, or null when the text does not parse. */
  get (query: string): DocumentNode | null {
    const parsed = this.parse(query)
    return parsed instanceof GraphQLError ? null : parsed
  }

  /** The document, or the syntax error (token limit included) that stopped the parse. */
  parse (query: string): DocumentNode | GraphQLError {
    let parsed = this.#memo.get(query)
    if (parsed === undefined) {
      try {
        parsed = parse(query, { noLocation: true, maxTokens: this.#maxTokens })
      } catch (err) {
        // graphql-js raises GraphQLErrors; anything else (a nesting deep enough to exhaust the
        // stack) is still a text that cannot be run.
        parsed = err instanceof GraphQLError ? err : new GraphQLError('Syntax Error: the document cannot be parsed.')
      }
      if (query.length > MEMO_MAX_QUERY_LENGTH) return parsed
      if (this.#memo.size >= MEMO_SIZE) this.#memo = new Map()
      this.#memo.set(query, parsed)
    }
    return parsed
  }
}
