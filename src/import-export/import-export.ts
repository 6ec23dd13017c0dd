import type { Actor } from '../audit/audit.ts';
import { ImportError, type LineProblem } from '../errors.ts';
import type { ExampleFilter, ExampleService } from '../examples/examples.ts';
import { exportLine, parseExamplesFile, type FileFormat, type FileLimits, type LineDefaults } from './formats.ts';

export interface ImportOptions {
  format: FileFormat;
  /** Import the valid lines and report the rest, instead of importing nothing. */
  skipInvalid?: boolean;
  defaults?: LineDefaults;
  /** Shown in the audit log, e.g. the file name. */
  source?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface ImportResult {
  /** Lines read, blank lines included. */
  lines: number;
  added: number;
  /** Valid lines whose prompt and completion the agent already had. */
  duplicates: number;
  invalid: number;
  /** The invalid lines (first 100), each with its line number and field. */
  problems: LineProblem[];
}

/** Imports a JSONL or CSV file: validated first, then written in one transaction. */
export async function importExamples(
  examples: ExampleService,
  agentRef: string,
  data: Uint8Array | string,
  actor: Actor,
  opts: ImportOptions,
  /** A text limit, or every limit (the Config has them); the rest come from the example service. */
  limits: number | Partial<FileLimits>,
): Promise<ImportResult> {
  const parsed = parseExamplesFile(data, opts.format, opts.defaults ?? {}, {
    ...examples.limits,
    ...(typeof limits === 'number' ? { maxTextBytes: limits } : limits),
  });
  if (parsed.problems.length > 0 && !opts.skipInvalid) throw new ImportError(parsed.problems);
  const { added, duplicates } = await examples.addMany(
    agentRef,
    parsed.examples.map((e) => e.example),
    actor,
    { onProgress: opts.onProgress, auditDetails: { import: opts.source ?? opts.format, invalid: parsed.problems.length } },
  );
  return { lines: parsed.lines, added, duplicates, invalid: parsed.problems.length, problems: parsed.problems.slice(0, 100) };
}

/** Yields an agent's examples as JSONL lines (with a trailing newline each). */
export async function* exportExamples(examples: ExampleService, agentRef: string, filter: ExampleFilter = {}): AsyncGenerator<string> {
  for await (const e of examples.iterate(agentRef, filter)) yield `${exportLine(e)}\n`;
}
