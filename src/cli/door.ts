import fs from 'node:fs';
import os from 'node:os';
import readline from 'node:readline/promises';
import v8 from 'node:v8';
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { decodeUtf8 } from '../import-export/formats.ts';
import { ExemplarError, ValidationError, errorBody } from '../errors.ts';
import type { Exemplar } from '../exemplar.ts';
import { FULL_ACCESS } from '../access/access.ts';
import { DEFAULT_TIMEOUT_MS } from '../sql/gateway.ts';
import { invoke } from '../operations/invoke.ts';
import type { Operation } from '../operations/operation.ts';
import { fieldType, fromText, inputFields } from '../operations/text-input.ts';
import { dataDirOf } from '../config/env.ts';
import { findLocalChannel, sendThroughChannel, type LocalChannel } from '../http/local-channel.ts';
import { parseInput } from '../validation.ts';
import { renderRecord, renderTable } from './table.ts';

/** The flags every command takes; they pick the database and the output format. */
export interface GlobalOptions {
  json?: boolean;
  databaseUrl?: string;
  dataDir?: string;
}


/** The options every command takes (`hidden` on each command, shown once in the program's help). */
export function addGlobalOptions(command: Command, hidden: boolean): Command {
  const options = [
    new Option('--json', 'print results as JSON, for scripts'),
    new Option('--database-url <url>', 'use this PostgreSQL instead of the embedded database (default: $DATABASE_URL)'),
    new Option('--data-dir <dir>', 'where the embedded database and indexes live (default: $EXEMPLAR_DATA_DIR or ./.exemplar)'),
  ];
  for (const option of options) command.addOption(hidden ? option.hideHelp() : option);
  return command;
}

/**
 * Once every command is added: global options work before or after the command
 * (`exemplar --json agents list` and `exemplar agents list --json`), and a command with
 * subcommands of its own (`search`, with `search eval`) leaves its required flags to zod, because
 * commander checks a parent's required flags before it runs a subcommand.
 */
export function finishCommands(program: Command): void {
  const visit = (command: Command) => {
    for (const c of command.commands) {
      addGlobalOptions(c, true);
      if (c.commands.length > 0) for (const o of c.options) o.mandatory = false;
      visit(c);
    }
  };
  visit(program);
}

/**
 * Opens the core when a command runs, not when the CLI starts: `--help` and a mistyped command line
 * load none of it (the database, the embedders, the LLM SDKs).
 */
export async function openApp(global: GlobalOptions, use: 'one-off' | 'long-running' = 'one-off'): Promise<Exemplar> {
  const [{ Exemplar }, { loadConfig }] = await Promise.all([import('../exemplar.ts'), import('../config/config.ts')]);
  const config = loadConfig(process.env, { databaseUrl: global.databaseUrl, dataDir: global.dataDir });
  if (use === 'one-off') {
    // A command that exits in seconds gains nothing from V8 recompiling PGlite's WASM with its
    // optimising compiler in the background, and that compiler's work was a third of the
    // process's memory: the baseline compiler alone halves CPU time and takes 230 MB down to 150.
    // Set here, before PGlite's module is compiled; servers keep the optimised code.
    v8.setFlagsFromString('--liftoff-only');
    // Few buffers, too: PGlite touches every one at start (128MB by default).
    config.pgliteSharedBuffers ??= '16MB';
    // No one else waits on this process's database: a gateway query may use its whole timeout
    // instead of the slice a server gives each query so other requests keep flowing.
    config.sqlEmbeddedMaxMs ??= DEFAULT_TIMEOUT_MS;
  }
  return Exemplar.open(config);
}

/** The CLI door: turns each operation's CLI adapter into a commander command. */
export function addOperationCommand(program: Command, op: Operation): void {
  if (!op.cli) return;
  const cli = op.cli;
  const command = commandAt(program, cli.command.split(' '));
  const { fields: props, required } = inputFields(op);
  const args = cli.args ?? [];
  const flagOf = (field: string) => cli.flags?.[field] ?? kebab(field);

  command.description(op.description);
  for (const field of args) {
    const prop = props[field] ?? {};
    const name = cli.files?.includes(field) ? 'file' : kebab(field);
    const variadic = prop.type === 'array' ? '...' : '';
    const label = cli.files?.includes(field) ? 'path of the file to read, or - for stdin' : (prop.description ?? '');
    command.argument(required.has(field) ? `<${name}${variadic}>` : `[${name}${variadic}]`, label);
  }
  for (const [field, prop] of Object.entries(props)) {
    if (args.includes(field) || field === 'fileName') continue;
    const type = fieldType(prop);
    const flag = flagOf(field);
    // Defaults are shown, not set: zod applies them, so every door gets the same ones.
    const help = `${prop.description ?? ''}${prop.default !== undefined && type !== 'boolean' ? ` (default: ${JSON.stringify(prop.default)})` : ''}`;
    const option =
      type === 'boolean'
        ? new Option(`--${flag}`, help)
        : new Option(`--${flag} <${type === 'array' ? 'values...' : type === 'object' ? 'json' : 'value'}>`, help);
    const choices = prop.enum ?? prop.anyOf?.find((p) => p.enum)?.enum;
    if (choices) option.choices(choices.map(String));
    if (required.has(field) && prop.default === undefined) option.makeOptionMandatory();
    command.addOption(option);
    // A switch that is on by default needs a way off; with both defined, commander sets no default.
    if (type === 'boolean' && prop.default === true) command.addOption(new Option(`--no-${flag}`, `turn --${flag} off`));
  }
  if (cli.outputFile) command.option('-o, --out <file>', 'write the result to this file instead of stdout');
  for (const [field, flag] of Object.entries(cli.outputFiles ?? {})) command.option(`--${flag} <file>`, `write the ${field} output to this file`);
  if (cli.confirm) command.option('-y, --yes', 'do not ask for confirmation');
  if (cli.watch) command.option('--watch', cli.watch.description);
  if (cli.examples?.length) command.addHelpText('after', `\nExamples:\n${cli.examples.map((e) => `  $ ${e}`).join('\n')}\n`);

  command.action(async (...params: unknown[]) => {
    const cmd = params[params.length - 1] as Command;
    const opts = cmd.opts();
    const global = cmd.optsWithGlobals() as GlobalOptions;
    try {
      if (opts.watch && cli.watch) await runWatch(cli.watch, global);
      else {
        const outs = Object.fromEntries(Object.entries(cli.outputFiles ?? {}).map(([field, flag]) => [field, opts[camel(flag)] as string | undefined]));
        await runOperation(op, commandInput(params, opts), global, { out: opts.out as string | undefined, outs, yes: Boolean(opts.yes), flagOf });
      }
    } catch (err) {
      reportError(err, global, flagOf);
    }
  });

  /** Gathers the operation's input from positional arguments, flags and files. */
  function commandInput(params: unknown[], opts: Record<string, unknown>): Record<string, unknown> {
    const input: Record<string, unknown> = {};
    args.forEach((field, i) => {
      if (params[i] !== undefined) input[field] = params[i];
    });
    for (const [field, prop] of Object.entries(props)) {
      if (args.includes(field) || field === 'fileName') continue;
      const raw = opts[camel(flagOf(field))];
      if (raw !== undefined) input[field] = fromText(raw, prop, flagOf(field));
    }
    for (const field of cli.files ?? []) {
      const file = input[field] as string | undefined;
      if (file === undefined) continue; // an optional file not given
      input[field] = readInputFile(file);
      if ('fileName' in props) input.fileName = file === '-' ? 'stdin' : file;
    }
    return input;
  }
}

async function runOperation(
  op: Operation,
  rawInput: Record<string, unknown>,
  global: GlobalOptions,
  extra: { out?: string; outs?: Record<string, string | undefined>; yes: boolean; flagOf: (field: string) => string },
): Promise<void> {
  const cli = op.cli!;
  let app: Exemplar | undefined;
  let bar: SingleBar | undefined;
  try {
    const input = parseInput(op.input, rawInput);
    if (cli.confirm && !extra.yes) await confirm(`${op.title}: ${describeTarget(input)}. This cannot be undone.`);
    const actor = `cli:${os.userInfo().username}`;
    // While `exemplar serve` owns the embedded database, the command runs in that server.
    const server = global.databaseUrl || process.env.DATABASE_URL ? undefined : findLocalChannel(dataDirOf(process.env, global.dataDir));
    let output = server ? await invokeThroughServer(server, op.name, input, actor) : undefined;
    if (output === undefined) {
      app = await openApp(global);
      output = await invoke(op, input, {
        app,
        actor,
        door: 'cli',
        access: FULL_ACCESS, // the shell already owns the database
        progress: (done, total) => {
          if (!process.stderr.isTTY || total < 1000) return;
          if (!bar) {
            bar = new SingleBar({ format: '  {bar} {percentage}% | {value}/{total} | eta {eta_formatted}', stream: process.stderr, hideCursor: true });
            bar.start(total, 0);
          }
          bar.update(done);
        },
      });
    }
    bar?.stop();
    printOutput(op, output as Record<string, unknown>, global, extra.out, extra.outs);
    const key = server ? cli.signInKey?.(output) : undefined;
    if (key && !global.json) process.stderr.write(`Sign in to the web UI of the running server: ${server!.url}/#key=${key}\n`);
    if (cli.failed?.(output)) exitCode = 1;
  } catch (err) {
    bar?.stop();
    reportError(err, global, extra.flagOf);
  } finally {
    await app?.close();
  }
}

/**
 * Runs an operation in the server that owns the embedded database, through its local channel.
 * Undefined when the server cannot be reached (it just stopped): the command then opens the
 * database itself. The server's errors come back as errors with their own code and message.
 */
async function invokeThroughServer(server: LocalChannel, operation: string, input: unknown, actor: string): Promise<unknown> {
  const response = await sendThroughChannel(server, { operation, input, actor });
  if (!response) return undefined;
  const body = response.body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
  if (response.status >= 200 && response.status < 300) return body;
  throw new ServerError(body.error?.code ?? 'server_error', response.status, body.error?.message ?? `the server answered ${response.status}`, body.error?.details);
}

/** An error the running server reported for a command it ran. */
class ServerError extends ExemplarError {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}

/** Runs a --watch mode until Ctrl-C or SIGTERM, then lets it finish its work and close cleanly. */
async function runWatch(watch: NonNullable<Operation['cli']>['watch'] & object, global: GlobalOptions): Promise<void> {
  const app = await openApp(global, 'long-running');
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await watch.run({ app, actor: `cli:${os.userInfo().username}`, access: FULL_ACCESS, door: 'cli' }, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await app.close();
  }
}

function printOutput(op: Operation, output: Record<string, unknown>, global: GlobalOptions, out?: string, outs: Record<string, string | undefined> = {}): void {
  const cli = op.cli!;
  // Further output files (e.g. --validation-out): written when their flag is given, never printed.
  for (const [field, file] of Object.entries(outs)) if (file) fs.writeFileSync(file, String(output[field] ?? ''));
  if (cli.outputFile) {
    const content = String(output[cli.outputFile]);
    if (out) fs.writeFileSync(out, content);
    else process.stdout.write(content);
    const rest = Object.fromEntries(Object.entries(output).filter(([k]) => k !== cli.outputFile && !(k in (cli.outputFiles ?? {}))));
    if (global.json) process.stderr.write(`${JSON.stringify(rest)}\n`);
    else if (cli.summary) process.stderr.write(`${cli.summary(output)}${out ? ` Written to ${out}.` : ''}\n`);
    return;
  }
  if (global.json) {
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  if (cli.summary) lines.push(cli.summary(output));
  // The table shows the output's list: the output itself, or its first array field.
  const items = Array.isArray(output) ? output : Object.values(output).find(Array.isArray);
  if (items && cli.columns) {
    lines.push(renderTable(items as Record<string, unknown>[], cli.columns));
    if (typeof output.nextCursor === 'string') lines.push(`\nMore: --cursor ${output.nextCursor}`);
  } else if (!cli.summary) {
    lines.push(renderRecord(output));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

let exitCode = 0;

/** The error codes of invalid input (exit 2), whether this process or the server found it. */
const BAD_INPUT = new Set(['invalid_input', 'invalid_file', 'invalid_encoding', 'text_too_large', 'log_limit_exceeded', 'body_too_large']);

/** Commander found the command line itself wrong (an unknown option, a bad choice): invalid input. */
export function usageError(): void {
  exitCode = 2;
}

/** The exit code of the command that ran. (PGlite's WASM runtime overwrites process.exitCode on close.) */
export function cliExitCode(): number {
  return exitCode;
}

/** Prints an error for people (or as JSON with --json) and sets the exit code: 2 for bad input, 1 otherwise. */
export function reportError(err: unknown, global: GlobalOptions, flagOf: (field: string) => string = kebab): void {
  const badInput = err instanceof ExemplarError && BAD_INPUT.has(err.code);
  exitCode = badInput ? 2 : 1;
  if (global.json) {
    process.stderr.write(`${JSON.stringify({ error: errorBody(err) })}\n`);
    return;
  }
  let message = err instanceof Error ? err.message : String(err);
  if (err instanceof ValidationError && err.line === undefined && err.field && !err.field.includes('.')) {
    message = `--${flagOf(err.field)}: ${err.reason}`;
  }
  process.stderr.write(`error: ${message}\n`);
  if (!(err instanceof ExemplarError) && process.env.EXEMPLAR_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
}

async function confirm(question: string): Promise<void> {
  if (!process.stdin.isTTY) throw new ValidationError('', `${question} Pass --yes to confirm.`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} Continue? [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new ValidationError('', 'cancelled');
}

function describeTarget(input: Record<string, unknown>): string {
  return Object.entries(input)
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : String(v)}`)
    .join(', ');
}

/** Reads a file (or stdin for "-") as text; a file that is not UTF-8 fails with the line of the first bad byte. */
function readInputFile(file: string): string {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[code] ?? (err as Error).message;
    throw new ValidationError('', `cannot read ${file}: ${why}`);
  }
  return decodeUtf8(bytes);
}

function commandAt(program: Command, path: string[]): Command {
  let parent = program;
  for (const [i, name] of path.entries()) {
    const existing = parent.commands.find((c) => c.name() === name);
    if (existing) {
      parent = existing;
      continue;
    }
    // A command with subcommands of its own (`search` and `search eval`): options after a
    // subcommand's name belong to the subcommand, not to the command.
    parent.enablePositionalOptions();
    const child = parent.command(name);
    if (i < path.length - 1) child.description(GROUPS[name] ?? '');
    parent = child;
  }
  return parent;
}

const GROUPS: Record<string, string> = {
  index: "Inspect the agents' vector indexes",
  keys: 'Create, list and revoke API keys for the HTTP and MCP doors',
  prompt: "An agent's system prompt versions: show, history, diff, set, promote, rollback",
  agents: 'Create, list, show, update and delete agents',
  examples: "Add, list, import, export and delete an agent's training examples",
  dataset: 'Build and validate fine-tuning datasets (OpenAI, TRL, Axolotl)',
  finetune: 'Fine-tuning runs (openai, local, external): create, list, show, cancel, logs, update',
};

export function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function camel(s: string): string {
  return s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
