import type { AgentService } from '../agents/agents.ts';
import type { Database } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../errors.ts';

export interface PromptVersion {
  version: number;
  content: string;
  source: 'manual' | 'optimized' | 'rollback';
  model: string | null;
  basedOnVersion: number | null;
  exampleIds: string[];
  note: string;
  createdBy: string;
  createdAt: Date;
  /** Labels pointing at this version, e.g. ["production"]. */
  labels: string[];
}

const VERSION_COLUMNS = `v.version, v.content, v.source, v.model, v.based_on_version AS "basedOnVersion",
  v.example_ids::text[] AS "exampleIds", v.note, v.created_by AS "createdBy", v.created_at AS "createdAt",
  coalesce((SELECT array_agg(l.label ORDER BY l.label) FROM prompt_labels l WHERE l.agent_id = v.agent_id AND l.version = v.version), '{}') AS labels`;

/**
 * An agent's system prompts: immutable, numbered versions, and labels (production, candidate)
 * that point at one of them. Reading only, for now; writing versions comes with prompt optimization.
 */
export class PromptService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
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
}
