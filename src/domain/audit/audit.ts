/**
 * Audit events are written through the caller's transaction, so an event exists exactly when
 * the change it describes was committed.
 */
import { auditEvents } from '../../db/schema.ts'
import type { Queryable } from '../../db/client.ts'
import { newId } from '../ids.ts'

export interface AuditEvent {
  teamId: string
  actor: { type: 'user' | 'api_key' | 'system', id: string }
  action: string
  target: { type: string, id: string }
  metadata?: Record<string, unknown>
  requestId?: string | undefined
}

export async function recordAudit (q: Queryable, e: AuditEvent): Promise<void> {
  await q.insert(auditEvents).values({
    id: newId(),
    teamId: e.teamId,
    actorType: e.actor.type,
    actorId: e.actor.id,
    action: e.action,
    targetType: e.target.type,
    targetId: e.target.id,
    metadata: e.metadata ?? {},
    requestId: e.requestId ?? null
  })
}
