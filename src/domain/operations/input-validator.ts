/** Operation inputs checked against each operation's JSON schema (ajv, compiled once per schema). */
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { JsonSchema } from '../../connectors/connector.ts'
import { badInput, type AppError } from '../../errors.ts'

export class InputValidator {
  readonly #ajv = new Ajv({ allErrors: false, strict: false })
  readonly #compiled = new WeakMap<JsonSchema, ValidateFunction>()
  constructor () { (addFormats as unknown as (a: Ajv, f: string[]) => void)(this.#ajv, ['uri']) }

  /** null when valid; otherwise BAD_USER_INPUT naming the first problem. */
  check (schema: JsonSchema, input: unknown): AppError | null {
    let validate = this.#compiled.get(schema)
    if (validate === undefined) { validate = this.#ajv.compile(schema); this.#compiled.set(schema, validate) }
    if (validate(input)) return null
    const e = validate.errors?.[0]
    const where = e === undefined ? '' : e.instancePath === '' ? '' : e.instancePath.replace(/^\//, '').replace(/\//g, '.') + ' '
    return badInput(`input ${where}${e?.message ?? 'is invalid'}`.replace(/\s+/g, ' ').trim(), { field: 'input' })
  }
}
