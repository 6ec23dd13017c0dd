import { AsyncLocalStorage } from 'node:async_hooks';
import type { Actor } from '../audit/audit.ts';
import type { Queryable } from '../db/database.ts';

/**
 * Where an example came from (training_examples.source): a file import, a door (the web UI, MCP,
 * REST, the CLI), the demo, the TypeScript library API, or `database`: written outside Exemplar.
 */
export const EXAMPLE_SOURCES = ['import', 'ui', 'mcp', 'rest', 'cli', 'demo', 'library', 'database'] as const;
export type ExampleSource = (typeof EXAMPLE_SOURCES)[number];

const current = new AsyncLocalStorage<ExampleSource>();

/**
 * Runs `fn` with `source` as the origin of the examples it adds. The doors set it for each
 * operation (invoke), and the import and demo operations narrow it; code outside any is `library`.
 */
export function withSource<T>(source: ExampleSource, fn: () => T): T {
  return current.run(source, fn);
}

export function currentSource(): ExampleSource {
  return current.getStore() ?? 'library';
}

/**
 * Names the writer of a transaction for the database's triggers: the actor of the reward history,
 * the source of new examples, and whether this write is a rating (a history row even when the values
 * stay the same: a person confirmed them). Transaction settings: they end with `tx`.
 */
export async function tagWrite(tx: Queryable, actor: Actor, opts: { rating?: boolean } = {}): Promise<void> {
  await tx.query(
    `SELECT set_config('exemplar.actor', $1, true), set_config('exemplar.source', $2, true), set_config('exemplar.rating', $3, true)`,
    [actor || 'unknown', currentSource(), opts.rating ? 'on' : 'off'],
  );
}
