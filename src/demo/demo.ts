import fs from 'node:fs';
import type { Actor } from '../audit/audit.ts';
import { NotFoundError } from '../errors.ts';
import type { Exemplar } from '../exemplar.ts';
import { importExamples, type ImportResult } from '../import-export/import-export.ts';
import { packageFile } from '../package-files.ts';

export const DEMO_AGENT = 'demo-coding-assistant';
export const DEMO_FILE = packageFile('data/demo/coding-assistant.jsonl');

/**
 * Creates the demo agent from the coding-assistant examples shipped in data/demo. Running it again
 * changes nothing: the agent exists and every example is a duplicate.
 */
export async function loadDemo(
  app: Exemplar,
  actor: Actor,
  onProgress?: (done: number, total: number) => void,
): Promise<{ agent: string; created: boolean; import: ImportResult }> {
  let created = false;
  try {
    await app.agents.get(DEMO_AGENT);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    await app.agents.create(
      {
        name: DEMO_AGENT,
        description: 'A coding assistant that answers programming questions (Python, TypeScript, SQL, Git, shell, Docker) with correct, safe, runnable code.',
      },
      actor,
    );
    created = true;
  }
  const result = await importExamples(app.examples, DEMO_AGENT, fs.readFileSync(DEMO_FILE), actor, {
    format: 'jsonl',
    source: 'demo',
    onProgress,
  }, app.config.maxTextBytes);
  return { agent: DEMO_AGENT, created, import: result };
}
