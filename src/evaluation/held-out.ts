import { nearDuplicateMatcher, type NearDupMatch } from '../datasets/near-dup.ts';
import { DEFAULT_NEAR_DUPLICATE_THRESHOLD } from '../datasets/spec.ts';
import type { Queryable } from '../db/database.ts';
import { isUuid } from '../validation.ts';
import { normalizePrompt } from './eval-sets.ts';

/** Why an example may not be used to teach its agent. */
export type HeldOutReason =
  | { kind: 'member' }
  | { kind: 'samePrompt'; of: string }
  | { kind: 'nearDuplicate'; of: string; similarity: number };

export interface ExampleTextRow {
  id: string;
  prompt: string;
  completion: string;
}

/**
 * An agent's held-out examples (issue 15): what its candidate prompts are scored on, so nothing
 * that teaches the agent (optimizer grounding, few-shot examples, fine-tuning datasets) may see them.
 *
 * - Members: the items and contrasts of EVERY version of the agent's eval sets, not only the
 *   latest. Stored results name older versions, and a later comparison on such a version is only
 *   fair if its examples stayed unseen, so once held out, always held out.
 * - Near duplicates of members: examples whose prompt + completion has a hashing-384 cosine of at
 *   least the dataset builder's default near-duplicate threshold with a member's, whatever their
 *   type (a leak is about text, not label). Found with the members' 64-bit SimHash signatures
 *   (near-dup.ts: two popcounts per member and row, an exact cosine only for signature-near ones),
 *   so a few thousand members cost little per row, and a pair at the threshold is not missed.
 *
 * - Examples that answer a member's prompt (the same prompt, ignoring case and runs of whitespace):
 *   another answer to an eval question teaches that question's answer just as well, whatever its
 *   text, and an example added after pinning is no exception.
 *
 * Members are compared by their text as it is now. A member edited since pinning is held out
 * under its id and its new text. The old text of an edited or deleted member is not stored, so a
 * near copy of that old text elsewhere can no longer be recognised (its id stays held out).
 */
export class HeldOut {
  private match?: (items: readonly string[]) => NearDupMatch;
  private readonly memberIds: string[];
  /** Normalised prompt → a member asked it. */
  private readonly prompts = new Map<string, string>();

  constructor(
    /** Every member's id, deleted ones included (an id never comes back, so they cost nothing). */
    readonly ids: ReadonlySet<string>,
    /** Members that still exist, with their current text: the references for near duplicates. */
    private readonly members: readonly ExampleTextRow[],
    readonly threshold = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
  ) {
    this.memberIds = members.map((m) => m.id);
    for (const m of members) this.prompts.set(normalizePrompt(m.prompt), m.id);
  }

  /** Number of distinct examples in any version of the agent's eval sets. */
  get size(): number {
    return this.ids.size;
  }

  /** For each row, why it is held out, or undefined when it may be used. */
  check(rows: readonly ExampleTextRow[]): (HeldOutReason | undefined)[] {
    const out: (HeldOutReason | undefined)[] = rows.map((r) => (this.ids.has(r.id) ? { kind: 'member' } : undefined));
    const others = rows.flatMap((r, i) => (out[i] ? [] : [i]));
    if (others.length === 0 || this.members.length === 0) return out;
    // Built on first use: a search whose candidates are all members never needs it.
    this.match ??= nearDuplicateMatcher(this.members.map(text), this.threshold);
    const found = this.match(others.map((i) => text(rows[i])));
    others.forEach((i, k) => {
      const j = found.referenceOf[k];
      if (j >= 0) out[i] = { kind: 'nearDuplicate', of: this.memberIds[j], similarity: found.similarity[k] };
      else {
        const of = this.prompts.get(normalizePrompt(rows[i].prompt));
        if (of !== undefined) out[i] = { kind: 'samePrompt', of };
      }
    });
    return out;
  }

  /** The rows that may be used, in order. */
  filter<T extends ExampleTextRow>(rows: readonly T[]): T[] {
    const reasons = this.check(rows);
    return rows.filter((_, i) => !reasons[i]);
  }
}

/** The text compared, as the dataset builder's near-duplicate check compares it. */
function text(r: ExampleTextRow): string {
  return `${r.prompt}\n${r.completion}`;
}

/**
 * Held-out sets by fingerprint (their members' ids and content hashes): the near-duplicate index
 * over a few thousand members costs far more than a search, so searches (optimizer, few-shot)
 * reuse it until a member set changes. Member ids are UUIDs, so a fingerprint names one agent's set.
 */
const cache = new Map<string, HeldOut>();
const CACHE_SIZE = 4;

/**
 * The held-out examples of an agent (by name or id), or undefined when it has no eval set. The
 * first query only fingerprints the members (no texts, and every training_examples read an index
 * lookup per member), so an agent without an eval set costs one query that finds no rows; the
 * members' texts are read only when the fingerprint is not cached.
 */
export async function loadHeldOut(db: Queryable, agentRef: string): Promise<HeldOut | undefined> {
  const agent = isUuid(agentRef) ? 'id = $1::uuid' : 'name = $1';
  const { rows: [print] } = await db.query<{ members: number; fingerprint: string | null }>(
    `WITH agent AS (SELECT id FROM agents WHERE ${agent})
     SELECT count(*)::int AS members, md5(string_agg(x.id || ':' || coalesce(x.hash, '-'), ',' ORDER BY x.id)) AS fingerprint
       FROM (SELECT DISTINCT m.example_id::text AS id,
                    (SELECT e.content_hash FROM training_examples e WHERE e.id = m.example_id) AS hash
               FROM eval_sets s JOIN eval_set_examples m ON m.eval_set_id = s.id
              WHERE s.agent_id = (SELECT id FROM agent)
                -- A one-time filter: with no eval set the joins below never run (the planner,
                -- guessing at small tables, may otherwise scan eval_set_examples whole).
                AND EXISTS (SELECT 1 FROM eval_sets WHERE agent_id = (SELECT id FROM agent))) x`,
    [agentRef],
  );
  if (!print || print.members === 0 || print.fingerprint === null) return undefined;
  const hit = cache.get(print.fingerprint);
  if (hit) {
    cache.delete(print.fingerprint); // most recently used last
    cache.set(print.fingerprint, hit);
    return hit;
  }
  const { rows } = await db.query<{ id: string; prompt: string | null; completion: string | null }>(
    `SELECT DISTINCT m.example_id::text AS id, e.prompt, e.completion
       FROM eval_sets s
       JOIN eval_set_examples m ON m.eval_set_id = s.id
       LEFT JOIN training_examples e ON e.id = m.example_id
      WHERE s.agent_id = (SELECT id FROM agents WHERE ${agent})`,
    [agentRef],
  );
  if (rows.length === 0) return undefined; // the sets were deleted in between
  const existing = rows.filter((r): r is ExampleTextRow => r.prompt !== null && r.completion !== null);
  const held = new HeldOut(new Set(rows.map((r) => r.id)), existing);
  // Cached under the fingerprint read first: if a member changed in between, the next call sees a
  // new fingerprint and reads again (only an edit undone exactly, within these milliseconds, would
  // find this entry with the newer text as its near-duplicate reference; its id is held out anyway).
  cache.set(print.fingerprint, held);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return held;
}
