/** Generic type (seed 003); see generic.ts. */
import { generic } from './generic.ts'

export const webhook = generic('webhook', 'Webhook', 'Send events to a URL, signed with a shared secret.', 'webhook')
