/** Generic type (seed 003); see generic.ts. */
import { generic } from './generic.ts'

export const restApi = generic('rest_api', 'REST API', 'Any HTTP JSON API with an API key, bearer token or basic auth.', 'api_key')
