import type { Queryable } from '../db/database.ts';

/** Who is acting: `cli:alice`, `key:<key id>`, `system`. Never a secret. */
export type Actor = string;

export interface AuditEntry {
  actor: Actor;
  action: string;
  entityType: 'agent' | 'example' | 'prompt_version' | 'fine_tuning_run' | 'sql' | 'index' | 'api_key' | 'tool' | 'relevance_judgment' | 'eval_set' | 'eval_run';
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
  /** Who, for people: the API key's name for key:<id>, otherwise the actor. */
  actorName: string;
  action: string;
  entityType: string;
  entityId: string | null;
  agentId: string | null;
  details: Record<string, unknown>;
}

export async function listAudit(
  db: Queryable,
  opts: { agentId?: string; limit?: number; entityId?: string; before?: number } = {},
): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT id, at, actor, ${actorNameSql('actor')} AS "actorName", action, entity_type AS "entityType", entity_id AS "entityId",
            agent_id AS "agentId", details
       FROM audit_log
      WHERE ($1::uuid IS NULL OR agent_id = $1) AND ($3::text IS NULL OR entity_id = $3) AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $2`,
    [opts.agentId ?? null, opts.limit ?? 50, opts.entityId ?? null, opts.before ?? null],
  );
  return rows;
}

const KEY_ACTOR = /^key:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * How to show actors to people: `key:<id>` becomes the key's name (its prefix, e.g. `exm_Ab12cd…`,
 * when it has none); `cli:<user>`, `database` and the rest stay as stored. Stored actors never
 * change, so renaming a key renames it everywhere it appears.
 */
export async function actorNames(db: Queryable, actors: Iterable<string>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const keyIds = new Set<string>();
  for (const actor of actors) {
    names.set(actor, actor);
    const m = KEY_ACTOR.exec(actor);
    if (m) keyIds.add(m[1].toLowerCase());
  }
  if (keyIds.size > 0) {
    const { rows } = await db.query<{ id: string; name: string; prefix: string }>(
      'SELECT id::text, name, prefix FROM api_keys WHERE id = ANY($1::uuid[])',
      [[...keyIds]],
    );
    const byId = new Map(rows.map((r) => [r.id, r.name.trim() || `${r.prefix}…`]));
    for (const actor of names.keys()) {
      const m = KEY_ACTOR.exec(actor);
      const name = m ? byId.get(m[1].toLowerCase()) : undefined;
      if (name) names.set(actor, name);
    }
  }
  return names;
}

/** Adds `<field>Name` (see actorNames) beside an actor field of each row. */
export async function withActorNames<T extends object, F extends keyof T & string>(
  db: Queryable,
  rows: T[],
  field: F,
): Promise<(T & Record<`${F}Name`, string>)[]> {
  const names = await actorNames(db, rows.map((r) => String(r[field])));
  return rows.map((r) => ({ ...r, [`${field}Name`]: names.get(String(r[field])) ?? String(r[field]) }) as T & Record<`${F}Name`, string>);
}

/**
 * The SQL expression of actorNames for an actor column: the key's name (or prefix) for key:<id>,
 * the actor itself otherwise. For the SELECT lists of rows that show who did something.
 */
export function actorNameSql(column: string): string {
  return `coalesce((SELECT coalesce(nullif(btrim(k.name), ''), k.prefix || '…') FROM api_keys k
    WHERE ${column} LIKE 'key:%' AND k.id::text = lower(substr(${column}, 5))), ${column})`;
}
