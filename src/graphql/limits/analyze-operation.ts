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

export function analyzeOperation (
  schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
  variables: Variables, defaultPageSize: number
): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d)
  const shape: OperationShape = { depth: 0, cost: 0, aliases: 0, directives: operation.directives?.length ?? 0, introspection: false, rootFields: [], operations: 0 }
  const rootNames = new Set<string>()

  const pageSize = (value: ValueNode | undefined): number => {
    if (value === undefined) return defaultPageSize
    if (value.kind === Kind.INT) return Number(value.value)
    if (value.kind === Kind.VARIABLE) {
      const v = variables?.[value.name.value]
      return typeof v === 'number' && Number.isFinite(v) ? v : defaultPageSize
    }
    return defaultPageSize
  }

  /** Returns [cost, depth] of a selection set under `parent`; `atRoot` while on the operation's own level. */
  const walk = (set: SelectionSetNode, parent: GraphQLNamedType | undefined, seen: Set<string>, atRoot = false): [number, number] => {
    let cost = 0
    let depth = 0
    for (const sel of set.selections) {
      shape.directives += sel.directives?.length ?? 0
      if (sel.kind === Kind.FIELD) {
        if (sel.alias !== undefined) shape.aliases++
        const name = sel.name.value
        if (atRoot && name !== '__typename') {
          shape.operations++
          rootNames.add(name)
        }
        if (name.startsWith('__')) {
          if (name !== '__typename') shape.introspection = true
          continue
        }
        const def = parent !== undefined && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined
        let childCost = 0
        let childDepth = 0
        if (sel.selectionSet !== undefined) {
          [childCost, childDepth] = walk(sel.selectionSet, def === undefined ? undefined : getNamedType(def.type), seen)
        }
        const paged = def?.args.some((a) => a.name === 'first') === true
        const multiplier = paged ? Math.max(0, pageSize(sel.arguments?.find((a) => a.name.value === 'first')?.value)) : 1
        cost += 1 + multiplier * childCost
        depth = Math.max(depth, 1 + childDepth)
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const type = sel.typeCondition === undefined ? parent : schema.getType(sel.typeCondition.name.value) ?? undefined
        const [c, d] = walk(sel.selectionSet, type, seen, atRoot)
        cost += c
        depth = Math.max(depth, d)
      } else {
        const frag = fragments.get(sel.name.value)
        if (frag === undefined || seen.has(frag.name.value)) continue
        shape.directives += frag.directives?.length ?? 0
        const [c, d] = walk(frag.selectionSet, schema.getType(frag.typeCondition.name.value) ?? undefined, new Set([...seen, frag.name.value]), atRoot)
        cost += c
        depth = Math.max(depth, d)
      }
    }
    return [cost, depth]
  }

  const root = operation.operation === 'mutation' ? schema.getMutationType() : operation.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType()
  const [cost, depth] = walk(operation.selectionSet, root ?? undefined, new Set(), true)
  shape.rootFields = [...rootNames].sort()
  shape.cost = cost
  shape.depth = Math.max(0, depth - 1)
  return shape
}
