/** Generic type (seed 003); see generic.ts. */
import { generic } from './generic.ts'

export const graphqlApi = generic('graphql_api', 'GraphQL API', 'Any GraphQL endpoint with an API key, bearer token or basic auth.', 'api_key')
