import { createTwoFilesPatch, diffWordsWithSpace } from 'diff';
import type { AgentService } from '../agents/agents.ts';
import { actorNameSql, recordAudit, type Actor } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { DEFAULT_MAX_PROMPT_BYTES } from '../config/config.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';

export interface PromptVersion {
  version: number;
  content: string;
  source: 'manual' | 'optimized' | 'rollback';
  model: string | null;
  basedOnVersion: number | null;
  exampleIds: string[];
  note: string;
  createdBy: string;
  /** Who, for people: the API key's name for key:<id>, otherwise createdBy. */
  createdByName: string;
  createdAt: Date;
  /** Labels pointing at this version, e.g. ["production"]. */
  labels: string[];
}

const VERSION_COLUMNS = `v.version, v.content, v.source, v.model, v.based_on_version AS "basedOnVersion",
  v.example_ids::text[] AS "exampleIds", v.note, v.created_by AS "createdBy",
  ${actorNameSql('v.created_by')} AS "createdByName", v.created_at AS "createdAt",
  coalesce((SELECT array_agg(l.label ORDER BY l.label) FROM prompt_labels l WHERE l.agent_id = v.agent_id AND l.version = v.version), '{}') AS labels`;

export interface NewPromptVersion {
  content: string;
  source: 'manual' | 'optimized' | 'rollback';
  model?: string | null;
  basedOnVersion?: number | null;
  exampleIds?: string[];
  note?: string;
  /** Point this label at the new version (e.g. candidate, production). */
  label?: string;
  /** Optimistic concurrency: fail if the newest version is not this one (null: there must be none). */
  expectedLatest?: number | null;
  /** Said in the audit row as well, e.g. how a label was chosen (`promotion: 'promote'`). */
  auditDetails?: Record<string, unknown>;
}

export const LABEL_RE = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * An agent's system prompts: immutable, numbered versions, and labels (production, candidate)
 * that point at one of them. Writers lock the agent's row, so concurrent writers get strictly
 * sequential version numbers and none is lost; a writer that states what it expects (the newest
 * version, or a label's version) fails with a conflict instead of overwriting a change it never saw.
 */
export class PromptService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    /** Largest version content, in UTF-8 bytes (EXEMPLAR_MAX_PROMPT_BYTES). */
    private readonly maxPromptBytes = DEFAULT_MAX_PROMPT_BYTES,
  ) {}

  /** A version by number, or the one a label points at (default: production). */
  async get(agentRef: string, which: { version?: number; label?: string } = {}): Promise<PromptVersion> {
    const agent = await this.agents.resolve(agentRef);
    if (which.version !== undefined && which.label !== undefined) throw new ValidationError('version', 'give a version or a label, not both');
    const label = which.version === undefined ? (which.label ?? 'production') : undefined;
    const { rows } = await this.db.query<PromptVersion>(
      label
        ? `SELECT ${VERSION_COLUMNS} FROM prompt_labels l JOIN prompt_versions v ON v.agent_id = l.agent_id AND v.version = l.version
            WHERE l.agent_id = $1 AND l.label = $2`
        : `SELECT ${VERSION_COLUMNS} FROM prompt_versions v WHERE v.agent_id = $1 AND v.version = $2`,
      [agent.id, label ?? which.version],
    );
    if (rows.length === 0) {
      throw new NotFoundError('prompt', label ? `agent "${agent.name}" has no prompt labelled ${label}` : `version ${which.version} of agent "${agent.name}"`);
    }
    return rows[0];
  }

  /** Every version of an agent's prompt, newest first. */
  async history(agentRef: string): Promise<PromptVersion[]> {
    const agent = await this.agents.resolve(agentRef);
    const { rows } = await this.db.query<PromptVersion>(
      `SELECT ${VERSION_COLUMNS} FROM prompt_versions v WHERE v.agent_id = $1 ORDER BY v.version DESC`,
      [agent.id],
    );
    return rows;
  }

  /** Adds a version (and optionally moves a label to it), in one transaction. */
  async create(agentRef: string, v: NewPromptVersion, actor: Actor, tx?: Queryable): Promise<PromptVersion> {
    if (v.content.trim() === '') throw new ValidationError('content', 'must not be empty');
    const bytes = Buffer.byteLength(v.content);
    if (bytes > this.maxPromptBytes) {
      throw new ValidationError('content', `is ${bytes} bytes, over the limit of ${this.maxPromptBytes} bytes (EXEMPLAR_MAX_PROMPT_BYTES)`, undefined, {
        bytes,
        limit: this.maxPromptBytes,
        variable: 'EXEMPLAR_MAX_PROMPT_BYTES',
      });
    }
    if (v.label !== undefined && !LABEL_RE.test(v.label)) throw new ValidationError('label', 'must be lower-case letters, digits, - or _, e.g. candidate');
    const write = async (q: Queryable) => {
      const agent = await this.lockAgent(q, agentRef);
      const { rows } = await q.query<{ latest: number | null }>('SELECT max(version) AS latest FROM prompt_versions WHERE agent_id = $1', [agent.id]);
      const latest = rows[0].latest;
      if (v.expectedLatest !== undefined && v.expectedLatest !== latest) {
        throw new ConflictError(
          `agent "${agent.name}"'s prompt changed: you expected ${v.expectedLatest === null ? 'no versions' : `version ${v.expectedLatest}`} to be the newest, but it is ${latest === null ? 'none' : `version ${latest}`}. Reload and try again.`,
          { field: 'expectedVersion', latest },
        );
      }
      const version = (latest ?? 0) + 1;
      await q.query(
        `INSERT INTO prompt_versions (agent_id, version, content, source, model, based_on_version, example_ids, note, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7::uuid[], $8, $9)`,
        [agent.id, version, v.content, v.source, v.model ?? null, v.basedOnVersion ?? null, v.exampleIds ?? [], v.note ?? '', actor],
      );
      if (v.label) await this.pointLabel(q, agent.id, v.label, version);
      await recordAudit(q, {
        actor, action: 'prompt.create', entityType: 'prompt_version', entityId: String(version), agentId: agent.id,
        details: { source: v.source, label: v.label ?? null, basedOnVersion: v.basedOnVersion ?? null, examples: v.exampleIds?.length ?? 0, ...v.auditDetails },
      });
      return this.byVersion(q, agent.id, agent.name, version);
    };
    return tx ? write(tx) : this.db.transaction(write);
  }

  /**
   * Points `label` at a version (a number, or the version another label points at). With
   * `expected`, fails if the label moved since the caller read it. `consume` is a label taken off
   * the version in the same transaction (promote's candidate).
   */
  async setLabel(
    agentRef: string,
    label: string,
    version: number | { label: string },
    actor: Actor,
    expected?: number | null,
    consume?: string,
    /** Said in the audit row as well (promote-if-better records its evidence). */
    auditDetails?: Record<string, unknown>,
  ): Promise<PromptVersion> {
    if (!LABEL_RE.test(label)) throw new ValidationError('label', 'must be lower-case letters, digits, - or _, e.g. production');
    return this.db.transaction(async (q) => {
      const agent = await this.lockAgent(q, agentRef);
      const { rows } = await q.query<{ version: number }>('SELECT version FROM prompt_labels WHERE agent_id = $1 AND label = $2', [agent.id, label]);
      const current = rows[0]?.version ?? null;
      if (expected !== undefined && expected !== current) {
        throw new ConflictError(
          `label ${label} of agent "${agent.name}" moved: you expected ${expected === null ? 'it unset' : `version ${expected}`}, it is ${current === null ? 'unset' : `version ${current}`}. Reload and try again.`,
          { field: 'expectedVersion', current },
        );
      }
      let number: number;
      if (typeof version === 'number') number = version;
      else {
        const { rows: from } = await q.query<{ version: number }>('SELECT version FROM prompt_labels WHERE agent_id = $1 AND label = $2', [agent.id, version.label]);
        if (!from[0]) throw new NotFoundError('prompt', `agent "${agent.name}" has no prompt labelled ${version.label}`);
        number = from[0].version;
      }
      const target = await this.byVersion(q, agent.id, agent.name, number);
      await this.pointLabel(q, agent.id, label, number);
      if (consume) await q.query('DELETE FROM prompt_labels WHERE agent_id = $1 AND label = $2 AND version = $3', [agent.id, consume, number]);
      await recordAudit(q, {
        actor, action: 'prompt.label', entityType: 'prompt_version', entityId: String(number), agentId: agent.id,
        details: { label, from: current, ...(consume ? { cleared: consume } : {}), ...auditDetails },
      });
      return { ...target, labels: [...new Set([...target.labels, label])].filter((l) => l !== consume).sort() };
    });
  }

  /**
   * Moves `to` (production) to the version `from` (candidate) points at, and takes `from` off it:
   * a promoted candidate is no longer a candidate, so promoting again cannot re-promote it later.
   */
  async promote(agentRef: string, actor: Actor, opts: { from?: string; to?: string; expected?: number | null } = {}): Promise<PromptVersion> {
    const fromLabel = opts.from ?? 'candidate';
    const toLabel = opts.to ?? 'production';
    return this.setLabel(agentRef, toLabel, { label: fromLabel }, actor, opts.expected, fromLabel === toLabel ? undefined : fromLabel);
  }

  /**
   * Rolls production back: a new version (source rollback) with the content of an earlier one
   * (default: the version before the current production one), labelled production. History is
   * never rewritten.
   */
  async rollback(agentRef: string, actor: Actor, opts: { to?: number } = {}): Promise<PromptVersion> {
    const production = await this.get(agentRef, { label: 'production' });
    const to = opts.to ?? production.version - 1;
    if (to < 1) throw new ValidationError('to', `version ${production.version} is the first; there is nothing to roll back to`);
    if (to === production.version) throw new ValidationError('to', `version ${to} is already production`);
    const target = await this.get(agentRef, { version: to });
    return this.db.transaction(async (q) => {
      const rolled = await this.create(agentRef, {
        content: target.content,
        source: 'rollback',
        basedOnVersion: target.version,
        note: `rollback of production from version ${production.version} to the content of version ${target.version}`,
        label: 'production',
      }, actor, q);
      // The version rolled back from is not a candidate any more: a promote must not bring it back.
      const agent = await this.agents.resolve(agentRef, q);
      await q.query(`DELETE FROM prompt_labels WHERE agent_id = $1 AND label = 'candidate' AND version = $2`, [agent.id, production.version]);
      return rolled;
    });
  }

  /** A unified diff of two versions, and the word-level changes (for side-by-side views). */
  async diff(agentRef: string, a: number, b: number): Promise<{ from: number; to: number; unified: string; words: { value: string; added?: boolean; removed?: boolean }[] }> {
    const [x, y] = await Promise.all([this.get(agentRef, { version: a }), this.get(agentRef, { version: b })]);
    const unified = createTwoFilesPatch(`version ${a}`, `version ${b}`, ensureNewline(x.content), ensureNewline(y.content), '', '', { context: 3 });
    const words = diffWordsWithSpace(x.content, y.content).map(({ value, added, removed }) => ({ value, ...(added ? { added } : {}), ...(removed ? { removed } : {}) }));
    return { from: a, to: b, unified, words };
  }

  /** Locks the agent's row for the transaction: writers of one agent's prompts take turns. */
  private async lockAgent(q: Queryable, agentRef: string): Promise<{ id: string; name: string }> {
    const agent = await this.agents.resolve(agentRef, q);
    await q.query('SELECT 1 FROM agents WHERE id = $1 FOR UPDATE', [agent.id]);
    return agent;
  }

  private async pointLabel(q: Queryable, agentId: string, label: string, version: number): Promise<void> {
    await q.query(
      `INSERT INTO prompt_labels (agent_id, label, version) VALUES ($1, $2, $3)
       ON CONFLICT (agent_id, label) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
      [agentId, label, version],
    );
  }

  private async byVersion(q: Queryable, agentId: string, agentName: string, version: number): Promise<PromptVersion> {
    const { rows } = await q.query<PromptVersion>(`SELECT ${VERSION_COLUMNS} FROM prompt_versions v WHERE v.agent_id = $1 AND v.version = $2`, [agentId, version]);
    if (rows.length === 0) throw new NotFoundError('prompt', `version ${version} of agent "${agentName}"`);
    return rows[0];
  }
}

function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}
