/**
 * One pass over the operation that will execute, measuring what the limits check:
 * - depth: nesting below the root fields, counted like graphql-depth-limit (a root field is
 *   depth 0, so `{ viewer { team { id } } }` has depth 2); introspection fields excluded;
 * - cost: every field costs 1; a field that takes `first` multiplies the cost of what it
 *   selects by its page size (the argument, a variable, or the default page size), so
 *   `apiKeys(first: 100) { nodes { id name } }` costs 1 + 100 × (1 + 2) = 301;
 * - aliases and directives, counted over the whole document;
 * - whether it asks for introspection (`__schema`, `__type`);
 * - the root fields it runs: each root selection (an alias too) is one operation for the rate
 *   limit, so 15 aliased mutations cost 15 requests, not one.
 *
 * Fragments are measured as if written out at every spread (a fragment of 8 aliases spread twice
 * counts 16), but each fragment is walked once: its measure does not depend on where it is spread,
 * so it is kept and added at every spread. A document of 20 fragments, each spreading the next
 * twice, is 2^19 copies expanded and 20 walks here (walking every copy blocked the event loop for
 * seconds). Every spread costs at least 1, and a page size below 1 multiplies by 1, so what the
 * cost admits bounds what any later walk of the expanded document (validation, execution) visits.
 * A spread of a fragment already being walked (a cycle, which validation then reports) or of an
 * unknown one costs 1 and is not followed. Past `maxVisits` selections the walk stops and the
 * cost is infinite (over any limit): a guard should the memo ever be bypassed.
 */
import {
  getNamedType, isObjectType, isInterfaceType, Kind,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLNamedType, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode, type ValueNode
} from 'graphql'

export interface OperationShape {
  depth: number
  cost: number
  aliases: number
  directives: number
  introspection: boolean
  /** Names of the root fields selected, once each, sorted. */
  rootFields: string[]
  /** Root selections including aliases: what the rate limit charges. */
  operations: number
}

type Variables = Record<string, unknown> | undefined | null

export function findOperation (document: DocumentNode, operationName: string | undefined | null): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
  if (operationName == null) return ops.length === 1 ? ops[0] : undefined
  return ops.find((o) => o.name?.value === operationName)
}

/**
 * A document holds fewer selections than tokens, and each is walked at most twice (a fragment on
 * the root level and below it), so no document within GRAPHQL_MAX_TOKENS (at most 100,000) gets here.
 */
export const MAX_VISITS = 200_000

/** What a selection set measures; a fragment's is kept and added at each of its spreads. */
interface Measure {
  cost: number
  depth: number
  aliases: number
  directives: number
  introspection: boolean
  /** Root selections (only counted on the operation's own level). */
  operations: number
  rootNames: Set<string> | undefined
}

const emptyMeasure = (): Measure => ({ cost: 0, depth: 0, aliases: 0, directives: 0, introspection: false, operations: 0, rootNames: undefined })

/** Adds what `from` counts to `into`; cost and depth are the caller's to combine. */
function addCounts (into: Measure, from: Measure): void {
  into.aliases += from.aliases
  into.directives += from.directives
  into.introspection ||= from.introspection
  into.operations += from.operations
  if (from.rootNames !== undefined) for (const n of from.rootNames) (into.rootNames ??= new Set()).add(n)
}

export function analyzeOperation (
  schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
  variables: Variables, defaultPageSize: number, maxVisits = MAX_VISITS
): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d)
  // Keyed by root level and name: a fragment spread on the operation's own level also counts
  // root fields, so it may be measured twice, once each way.
  const measured = new Map<string, Measure>()
  const walking = new Set<string>()
  let visits = 0

  const pageSize = (value: ValueNode | undefined): number => {
    if (value === undefined) return defaultPageSize
    if (value.kind === Kind.INT) return Number(value.value)
    if (value.kind === Kind.VARIABLE) {
      const v = variables?.[value.name.value]
      return typeof v === 'number' && Number.isFinite(v) ? v : defaultPageSize
    }
    return defaultPageSize
  }

  const fragment = (name: string, atRoot: boolean): Measure | undefined => {
    const key = `${atRoot ? 'root' : 'nested'}:${name}`
    const known = measured.get(key)
    if (known !== undefined) return known
    const frag = fragments.get(name)
    if (frag === undefined || walking.has(key)) return undefined
    walking.add(key)
    const m = walk(frag.selectionSet, schema.getType(frag.typeCondition.name.value) ?? undefined, atRoot)
    walking.delete(key)
    m.directives += frag.directives?.length ?? 0
    measured.set(key, m)
    return m
  }

  /** Measures a selection set under `parent`; `atRoot` while on the operation's own level. */
  const walk = (set: SelectionSetNode, parent: GraphQLNamedType | undefined, atRoot: boolean): Measure => {
    const m = emptyMeasure()
    for (const sel of set.selections) {
      if (++visits > maxVisits) break
      m.directives += sel.directives?.length ?? 0
      if (sel.kind === Kind.FIELD) {
        if (sel.alias !== undefined) m.aliases++
        const name = sel.name.value
        if (atRoot && name !== '__typename') {
          m.operations++
          ;(m.rootNames ??= new Set()).add(name)
        }
        if (name.startsWith('__')) {
          if (name !== '__typename') m.introspection = true
          continue
        }
        const def = parent !== undefined && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined
        const child = sel.selectionSet === undefined ? undefined : walk(sel.selectionSet, def === undefined ? undefined : getNamedType(def.type), false)
        const paged = def?.args.some((a) => a.name === 'first') === true
        const multiplier = paged ? Math.max(1, pageSize(sel.arguments?.find((a) => a.name.value === 'first')?.value)) : 1
        m.cost += 1 + multiplier * (child?.cost ?? 0)
        m.depth = Math.max(m.depth, 1 + (child?.depth ?? 0))
        if (child !== undefined) addCounts(m, child)
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const type = sel.typeCondition === undefined ? parent : schema.getType(sel.typeCondition.name.value) ?? undefined
        const inner = walk(sel.selectionSet, type, atRoot)
        m.cost += inner.cost
        m.depth = Math.max(m.depth, inner.depth)
        addCounts(m, inner)
      } else {
        const inner = fragment(sel.name.value, atRoot)
        m.cost += Math.max(1, inner?.cost ?? 0)
        if (inner !== undefined) {
          m.depth = Math.max(m.depth, inner.depth)
          addCounts(m, inner)
        }
      }
    }
    return m
  }

  const root = operation.operation === 'mutation' ? schema.getMutationType() : operation.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType()
  const m = walk(operation.selectionSet, root ?? undefined, true)
  return {
    depth: Math.max(0, m.depth - 1),
    cost: visits > maxVisits ? Number.POSITIVE_INFINITY : m.cost,
    aliases: m.aliases,
    directives: m.directives + (operation.directives?.length ?? 0),
    introspection: m.introspection,
    rootFields: m.rootNames === undefined ? [] : [...m.rootNames].sort(),
    operations: m.operations
  }
}
