import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AgentService } from '../agents/agents.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { isUuid } from '../validation.ts';
import { AuthenticationError, type Access } from './access.ts';

type Grant = 'admin' | { access: 'read' | 'write'; agentId: string };

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  /** Human form: "admin", "read:<agent name>", "write:<agent name>". */
  scopes: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export const scopeInput = z
  .string()
  .regex(/^(admin|(read|write):.+)$/, 'must be "admin", "read:<agent>" or "write:<agent>"')
  .describe('admin, read:<agent> or write:<agent>');

const KEY_PREFIX = 'exm_';

/** API keys: created with a scope, stored as a sha256 hash, checked on every HTTP request. */
export class ApiKeyService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
  ) {}

  /** Creates a key. The returned `key` is the only time the secret is shown. */
  async create(input: { name?: string; scopes: string[] }, actor: Actor): Promise<ApiKeyInfo & { key: string }> {
    if (input.scopes.length === 0) throw new ValidationError('scope', 'give at least one scope: admin, read:<agent> or write:<agent>');
    const grants: Grant[] = [];
    for (const scope of input.scopes) {
      const parsed = scopeInput.safeParse(scope);
      if (!parsed.success) throw new ValidationError('scope', `"${scope}" ${parsed.error.issues[0].message}`);
      if (scope === 'admin') grants.push('admin');
      else {
        const [access, ...rest] = scope.split(':');
        const agent = await this.agents.resolve(rest.join(':'));
        grants.push({ access: access as 'read' | 'write', agentId: agent.id });
      }
    }
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const { rows } = await this.db.transaction(async (tx) => {
      const inserted = await tx.query<{ id: string }>(
        'INSERT INTO api_keys (name, prefix, key_hash, scopes, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [input.name ?? '', key.slice(0, KEY_PREFIX.length + 6), hashKey(key), JSON.stringify(grants), actor],
      );
      await recordAudit(tx, { actor, action: 'api_key.create', entityType: 'api_key', entityId: inserted.rows[0].id, details: { scopes: input.scopes } });
      return inserted;
    });
    return { ...(await this.get(rows[0].id)), key };
  }

  async list(): Promise<ApiKeyInfo[]> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at`);
    const names = await this.agentNames();
    return rows.map((r) => describeKey(r, names));
  }

  async revoke(id: string, actor: Actor): Promise<ApiKeyInfo> {
    if (!isUuid(id)) throw new ValidationError('id', `must be a UUID, got "${id}"`);
    const { rowCount } = await this.db.transaction(async (tx) => {
      const r = await tx.query('UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1', [id]);
      if (r.rowCount > 0) await recordAudit(tx, { actor, action: 'api_key.revoke', entityType: 'api_key', entityId: id });
      return r;
    });
    if (rowCount === 0) throw new NotFoundError('api key', id);
    return this.get(id);
  }

  /** The access a bearer key grants. Unknown and revoked keys get the same answer. */
  async authenticate(key: string | undefined): Promise<Access> {
    if (!key) throw new AuthenticationError('an API key is required: send "Authorization: Bearer <key>" (create one with "exemplar keys create")');
    const { rows } = await this.db.query<{ id: string; scopes: Grant[]; stale: boolean }>(
      `SELECT id, scopes, last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale
         FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
      [hashKey(key)],
    );
    if (rows.length === 0) throw new AuthenticationError('the API key is not valid (unknown or revoked)');
    // last_used_at to the minute: one write a minute per key, not one per request.
    if (rows[0].stale) void this.db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [rows[0].id]).catch(() => {});
    const read = new Set<string>();
    const write = new Set<string>();
    let admin = false;
    for (const g of rows[0].scopes) {
      if (g === 'admin') admin = true;
      else (g.access === 'write' ? write : read).add(g.agentId);
    }
    return { keyId: rows[0].id, admin, read, write };
  }

  private async get(id: string): Promise<ApiKeyInfo> {
    const { rows } = await this.db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, [id]);
    if (rows.length === 0) throw new NotFoundError('api key', id);
    return describeKey(rows[0], await this.agentNames());
  }

  /** Agent names by id, to show scopes the way they were given (read:<name>). */
  private async agentNames(): Promise<Map<string, string>> {
    return new Map((await this.agents.names()).map((a) => [a.id, a.name]));
  }
}

type KeyRow = Omit<ApiKeyInfo, 'scopes'> & { scopes: Grant[] };
const KEY_COLUMNS = `id, name, prefix, scopes, created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;

function describeKey(r: KeyRow, names: Map<string, string>): ApiKeyInfo {
  return { ...r, scopes: r.scopes.map((g) => (g === 'admin' ? 'admin' : `${g.access}:${names.get(g.agentId) ?? g.agentId}`)) };
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
