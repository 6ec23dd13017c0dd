import type { z } from 'zod';
import type { Access } from '../access/access.ts';
import type { Actor } from '../audit/audit.ts';
import type { RateClass } from '../access/rate-limit.ts';
import type { Exemplar } from '../exemplar.ts';

export interface OperationContext {
  app: Exemplar;
  actor: Actor;
  /** The door the call came through; new examples record it as their source (the web UI is REST with `x-exemplar-client: ui`). */
  door?: 'cli' | 'mcp' | 'rest' | 'ui';
  /** What the caller may touch; checked before `run` (see AccessRule), and used by self-filtering operations. */
  access: Access;
  /** Long operations report progress here; each door shows it its own way. */
  progress?: (done: number, total: number, message?: string) => void;
  /** Told how long each operation took (the server's metrics). */
  observe?: (operation: string, seconds: number, outcome: 'ok' | 'error') => void;
}

/** How the CLI door presents an operation. Presentation only: no logic lives here. */
export interface CliAdapter<O> {
  /** Command path, e.g. "agents create". */
  command: string;
  /** Input fields taken as positional arguments, in order. An array field takes the rest. */
  args?: string[];
  /** Input fields read from a file path argument (as bytes); "-" reads stdin. */
  files?: string[];
  /** Short flag names for input fields, e.g. { exampleType: 'type' } gives --type. */
  flags?: Record<string, string>;
  /** Output field written to --out FILE (or stdout) instead of being printed as JSON. */
  outputFile?: string;
  /** Further output fields written to files, by output field: the flag that names the file, e.g. { validation: 'validation-out' }. */
  outputFiles?: Record<string, string>;
  /** Destructive commands ask for --yes. */
  confirm?: boolean;
  /** Columns for the table view of `items` (or of an array output). */
  columns?: string[];
  /** An API key in the result, for a sign-in link to a running server's web UI (`keys create`). */
  signInKey?: (output: O) => string | undefined;
  /** When this says the result is a failure (an invalid file), the command exits 1 after printing it. */
  failed?: (output: O) => boolean;
  /** A one-line human summary of the result. */
  summary?: (output: O) => string;
  /** Example invocations, shown in --help. */
  examples?: string[];
  /** A long-running mode behind --watch (CLI only), e.g. the sync worker. Runs until `signal` aborts. */
  watch?: { description: string; run(ctx: OperationContext, signal: AbortSignal): Promise<void> };
}

/**
 * Who may run an operation, checked by every door before `run`:
 * - `{ agent }`: the agent it touches (by name or id); read or write access to it, by default write
 *   unless the operation is read-only. Undefined means "no agent named": `run` filters by access.
 * - `{ examples }`: the examples it touches, by id; access to each one's agent.
 * - `'admin'`: admin keys only (the default: safe when an operation forgets to say).
 * - `'filtered'`: anyone; `run` itself shows only what `ctx.access` allows.
 */
export type AccessRule<I> =
  | { agent: (input: I) => string | undefined; level?: 'read' | 'write' }
  | { examples: (input: I) => string[]; level?: 'read' | 'write' }
  | 'admin'
  | 'filtered';

/**
 * One capability of Exemplar, written once. The MCP, HTTP and CLI doors each turn it into a tool,
 * a route and a command.
 */
export interface Operation<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  /** snake_case verb_noun; the MCP tool name. */
  name: string;
  title: string;
  /** Teaches a reader (human or model) when and how to use it. */
  description: string;
  input: I;
  /** The JSON shape of the result. */
  output: O;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean };
  /** The per-key budget it spends (see access/rate-limit.ts); unlimited when omitted. The CLI is never limited. */
  rateLimit?: RateClass;
  /** Doors that may offer it (all when omitted). Operations that touch the server's files are CLI-only. */
  doors?: ('cli' | 'mcp' | 'http')[];
  access?: AccessRule<z.output<I>>;
  /** Its REST route. `{field}` segments fill input fields; GET takes the rest from the query string, others from a JSON body. */
  http?: { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; path: string };
  cli?: CliAdapter<z.output<O>>;
  run(input: z.output<I>, ctx: OperationContext): Promise<z.output<O>>;
}

/**
 * tools/list is read by a model on every connection, so a field another part of the listing already
 * explains can be shown briefly there: 'fields' lists an object by its description alone (which
 * must name its fields), 'description' leaves a field's description out (the tool's description
 * says where it is explained). invoke() still validates in full, and /openapi.json shows everything.
 */
export const BRIEF_IN_TOOL_LIST = 'x-brief-in-tool-list';
export type BriefPart = 'fields' | 'description';
export function briefInToolList<T extends z.ZodType>(schema: T, part: BriefPart): T {
  return schema.meta({ [BRIEF_IN_TOOL_LIST]: part }) as T;
}

export function defineOperation<I extends z.ZodObject, O extends z.ZodType>(op: Operation<I, O>): Operation<I, O> {
  return op;
}

/** "1 example", "2 examples": counts in the CLI's summaries. */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** T as it looks after JSON.stringify: dates become ISO strings. */
export type Json<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

/** Serialises a result the way every door sends it: plain JSON, dates as ISO strings. */
export function toJson<T>(value: T): Json<T> {
  return JSON.parse(JSON.stringify(value)) as Json<T>;
}
