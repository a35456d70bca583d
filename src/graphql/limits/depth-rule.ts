/**
 * The server-wide depth limit (GRAPHQL_MAX_DEPTH) as a validation rule: every operation in the
 * document, measured by the same walk as the team limits (analyze-operation.ts), so "depth" means
 * one thing and each fragment is walked once. It replaces graphql-depth-limit, which walked a
 * fragment again at every spread (exponential in a document of fragments that spread the next one
 * twice), recursed until the stack overflowed on a fragment cycle, and threw a TypeError on a
 * spread of an unknown fragment: each a 500 instead of a 400. Cycles and unknown fragments are
 * left to graphql-js's own rules (NoFragmentCycles, KnownFragmentNames), which report them in the
 * same validation pass.
 */
import { GraphQLError, type ValidationRule } from 'graphql'
import { analyzeOperation } from './analyze-operation.ts'

export function maxDepthRule (maxDepth: number): ValidationRule {
  return (context) => ({
    OperationDefinition (operation) {
      // Page sizes do not change depth: the default page size and no variables will do.
      const { depth } = analyzeOperation(context.getSchema(), context.getDocument(), operation, undefined, 1)
      if (depth > maxDepth) {
        context.reportError(new GraphQLError(`'${operation.name?.value ?? ''}' exceeds maximum operation depth of ${maxDepth}`, { nodes: [operation] }))
      }
      return false // the walk above has seen everything below
    }
  })
}
