/**
 * `@auth(requires: "scope")` — the one place scopes are checked. Every field that carries the
 * directive (or whose object type carries it: then both must pass) gets its resolver wrapped in
 * a synchronous check of the caller's scopes before it runs; a caller without the scope gets
 * FORBIDDEN for that field and the resolver never runs, so nothing is written.
 *
 * What mercurius-auth's directive mode did for us before, minus its async wrapper: that turned
 * every guarded field into a promise, which cost the compiled (graphql-jit) query its
 * synchronous path on every request.
 */
import { defaultFieldResolver, isObjectType, Kind, type ConstDirectiveNode, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql'
import { hasScope } from '../domain/auth/scopes.ts'
import { AppError } from '../errors.ts'
import { principalOf, type MercuriusContext } from './context.ts'

export const AUTH_DIRECTIVE = 'auth'

/** The scope an `@auth` directive on this node requires, undefined when it has none. */
export function requiredScope (node: { readonly directives?: readonly ConstDirectiveNode[] | undefined, readonly name?: { value: string } } | null | undefined): string | undefined {
  const directive = node?.directives?.find((d) => d.name.value === AUTH_DIRECTIVE)
  if (directive === undefined) return undefined
  const arg = directive.arguments?.find((a) => a.name.value === 'requires')?.value
  // A guard that names no scope is a schema bug: refuse to start rather than guess.
  if (arg?.kind !== Kind.STRING || arg.value === '') throw new Error(`@${AUTH_DIRECTIVE} on ${node?.name?.value ?? 'a type or field'} must name a scope: @${AUTH_DIRECTIVE}(requires: "resource:action")`)
  return arg.value
}

function guarded (scopes: readonly string[], resolve: GraphQLFieldResolver<unknown, MercuriusContext>): GraphQLFieldResolver<unknown, MercuriusContext> {
  return function authorized (parent, args, context, info) {
    const granted = principalOf(context)?.scopes ?? []
    for (const scope of scopes) {
      if (!hasScope(granted, scope)) throw new AppError('FORBIDDEN', `Missing scope: ${scope}`, { details: { requiredScope: scope } })
    }
    return resolve(parent, args, context, info)
  }
}

/** Wraps, in place, the resolver of every field `@auth` guards. Returns the schema. */
export function enforceAuthDirective (schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue
    const typeScope = requiredScope(type.astNode)
    for (const field of Object.values(type.getFields())) {
      const scopes = [typeScope, requiredScope(field.astNode)].filter((s): s is string => s !== undefined)
      if (scopes.length === 0) continue
      field.resolve = guarded(scopes, (field.resolve ?? defaultFieldResolver) as GraphQLFieldResolver<unknown, MercuriusContext>)
    }
  }
  return schema
}
