import type { Queryable } from '../db/database.ts';

/** Who is acting: `cli:alice`, `key:<key id>`, `system`. Never a secret. */
export type Actor = string;

export interface AuditEntry {
  actor: Actor;
  action: string;
  entityType: 'agent' | 'example' | 'prompt_version' | 'fine_tuning_run' | 'sql' | 'index' | 'api_key' | 'tool' | 'relevance_judgment';
  entityId?: string | null;
  agentId?: string | null;
  details?: Record<string, unknown>;
}

/** Writes one audit_log row. Call it inside the transaction that makes the change. */
export async function recordAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (actor, action, entity_type, entity_id, agent_id, details)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [entry.actor, entry.action, entry.entityType, entry.entityId ?? null, entry.agentId ?? null, entry.details ?? {}],
  );
}

export interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  action: string;
  entityType: string;
  entityId: string | null;
  agentId: string | null;
  details: Record<string, unknown>;
}

export async function listAudit(db: Queryable, opts: { agentId?: string; limit?: number } = {}): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT id, at, actor, action, entity_type AS "entityType", entity_id AS "entityId",
            agent_id AS "agentId", details
       FROM audit_log
      WHERE ($1::uuid IS NULL OR agent_id = $1)
      ORDER BY id DESC LIMIT $2`,
    [opts.agentId ?? null, opts.limit ?? 50],
  );
  return rows;
}
